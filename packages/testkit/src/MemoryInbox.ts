/**
 * An in-memory `Inbox` (and its `Operations`) for tests, with the semantics of `@witkey/inbox-sql`: every
 * delivery recorded (first body, Clock times, count), de-dup by notify_id and by business key (`duplicateOf`),
 * one handler run at a time per event (a semaphore per event key, then per notify_id, always in that order), a
 * failed handler leaves the notification unprocessed with its last error, a permanent failure parks it, every
 * attempt is kept. Nothing survives the process, and nothing the handler does is rolled back: use it in tests
 * only.
 *
 * @since 0.1.0
 */
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Option } from "effect"

/** The stored part of an entry: all but the status, which depends on the Clock. */
type Stored = Omit<Inbox.Entry, "status"> & { exhaustedNoticed: boolean }

type Source = "alipay" | "replay"

export const make = (policy: Inbox.Policy = {}): Effect.Effect<Inbox.Inbox & Inbox.Operations> =>
  Effect.sync(() => {
    // Insertion order is arrival order, which `byTask` relies on for ties.
    const entries = new Map<string, Stored>()
    const attempts: Array<Inbox.Attempt> = []
    /** event key -> the notify_id it was processed under */
    const processed = new Map<string, string>()
    const eventLocks = new Map<string, Effect.Semaphore>()
    const notifyLocks = new Map<string, Effect.Semaphore>()
    const exhaustedAfter = policy.exhaustedAfter ?? Inbox.DEFAULT_EXHAUSTED_AFTER
    const failingAfter = Math.max(1, policy.onFailing?.after ?? 1)

    const lock = (locks: Map<string, Effect.Semaphore>, key: string) =>
      Effect.sync(() => {
        let semaphore = locks.get(key)
        if (semaphore === undefined) {
          semaphore = Effect.unsafeMakeSemaphore(1)
          locks.set(key, semaphore)
        }
        return semaphore.withPermits(1)
      })

    const view = (stored: Stored, now: number): Inbox.Entry => {
      const { exhaustedNoticed: _, ...entry } = stored
      return {
        ...entry,
        body: Uint8Array.from(entry.body),
        status: Inbox.statusOf(entry, now, exhaustedAfter)
      }
    }
    const viewNow = (stored: Stored) => Effect.map(Clock.currentTimeMillis, (now) => view(stored, now))

    const update = (notifyId: string, f: (entry: Stored) => Stored) =>
      Effect.sync(() => {
        const entry = entries.get(notifyId)
        if (entry !== undefined) entries.set(notifyId, f(entry))
      })

    const hook = (run: Effect.Effect<void>, name: string) =>
      Effect.catchAllCause(run, (cause) =>
        Effect.logWarning(`witkey inbox: the ${name} hook failed`).pipe(
          Effect.annotateLogs({ detail: Cause.pretty(cause).split("\n")[0] ?? "" })
        )
      )

    /** The unit of one delivery or replay; `source` says which, `received` is what runs. */
    const unit = <E, R>(
      source: Source,
      received: Inbox.Received,
      handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
    ): Effect.Effect<Inbox.Outcome, Inbox.HandlerTimeout | E, R> => {
      const n = received.notification
      const notifyId = n.notifyId
      const eventKey = Notification.eventKey(n)
      const timed =
        policy.handlerTimeout === undefined
          ? handler(n)
          : Effect.timeoutFail(handler(n), {
              duration: policy.handlerTimeout,
              onTimeout: () =>
                new Inbox.HandlerTimeout({
                  message: `the handler ran longer than ${Duration.format(Duration.decode(policy.handlerTimeout!))}`
                })
            })
      const settle = Effect.gen(function* () {
        const entry = entries.get(notifyId)!
        const processedBy = processed.get(eventKey)
        if (entry.state === "processed" || processedBy === notifyId)
          return {
            _tag: "Duplicate",
            by: "notify_id",
            processedNotifyId: entry.duplicateOf ?? notifyId
          } satisfies Inbox.Outcome
        // Alipay was answered success for a parked entry: only a replay runs it again.
        if (entry.parkedAt !== undefined && source === "alipay")
          return { _tag: "Parked", error: entry.lastError ?? "" } satisfies Inbox.Outcome
        const now = yield* Clock.currentTimeMillis
        if (processedBy !== undefined) {
          yield* update(notifyId, (e) => ({
            ...e,
            state: "processed",
            processedAt: now,
            duplicateOf: processedBy,
            lastError: undefined,
            parkedAt: undefined
          }))
          return {
            _tag: "Duplicate",
            by: "business_key",
            processedNotifyId: processedBy
          } satisfies Inbox.Outcome
        }
        const exit = yield* Effect.exit(timed)
        if (Exit.isFailure(exit)) {
          if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.failCause(exit.cause)
          const failure = Cause.failureOption(exit.cause)
          const permanent = Option.isSome(failure) && Inbox.isPermanent(policy, failure.value)
          const error = Inbox.describeFailure(exit.cause)
          const at = yield* Clock.currentTimeMillis
          yield* update(notifyId, (e) => ({
            ...e,
            state: "failed",
            lastError: error,
            failures: e.failures + 1,
            parkedAt: permanent ? at : e.parkedAt
          }))
          if (permanent) return { _tag: "Parked", error } satisfies Inbox.Outcome
          const after = entries.get(notifyId)!
          if (policy.onFailing !== undefined && after.failures === failingAfter)
            yield* hook(Effect.flatMap(viewNow(after), policy.onFailing.run), "onFailing")
          return yield* Effect.failCause(exit.cause)
        }
        const done = yield* Clock.currentTimeMillis
        processed.set(eventKey, notifyId)
        yield* update(notifyId, (e) => ({
          ...e,
          state: "processed",
          processedAt: done,
          lastError: undefined,
          duplicateOf: undefined,
          parkedAt: undefined
        }))
        return { _tag: "Processed" } satisfies Inbox.Outcome
      })
      return Effect.gen(function* () {
        const started = yield* Clock.currentTimeMillis
        const byEvent = yield* lock(eventLocks, eventKey)
        const byNotifyId = yield* lock(notifyLocks, notifyId)
        const exit = yield* Effect.exit(byEvent(byNotifyId(settle)))
        const ended = yield* Clock.currentTimeMillis
        attempts.push({
          notifyId,
          at: started,
          source,
          verification: source === "alipay" ? "signature" : "stored",
          verifiedBy: Inbox.verifiedByOf(n),
          notifyVerify:
            source === "alipay" ? (received.gatewayConfirmed === true ? "true" : "not_asked") : undefined,
          outcome: Exit.isSuccess(exit)
            ? outcomeOf(exit.value)
            : Cause.isInterruptedOnly(exit.cause)
              ? "interrupted"
              : "failed",
          error: Exit.isSuccess(exit)
            ? exit.value._tag === "Parked"
              ? exit.value.error
              : undefined
            : Cause.isInterruptedOnly(exit.cause)
              ? undefined
              : Inbox.describeFailure(exit.cause),
          durationMillis: ended - started
        })
        return yield* exit
      })
    }

    const receive: Inbox.Inbox["receive"] = (received, handler) =>
      Effect.gen(function* () {
        const n = received.notification
        const notifyId = n.notifyId
        const arrived = yield* Clock.currentTimeMillis
        const previous = entries.get(notifyId)
        entries.set(
          notifyId,
          previous === undefined
            ? {
                notifyId,
                businessKey: Notification.businessKey(n),
                subType: n.payload.subType,
                outerTaskId: n.payload.outerTaskId,
                outerTransferNo: n.payload._tag === "Assign" ? n.payload.outerTransferNo : undefined,
                body: Uint8Array.from(received.body),
                contentType: received.contentType,
                firstReceivedAt: arrived,
                lastReceivedAt: arrived,
                deliveries: 1,
                state: "pending",
                processedAt: undefined,
                lastError: undefined,
                duplicateOf: undefined,
                failures: 0,
                parkedAt: undefined,
                resolvedAt: undefined,
                resolution: undefined,
                bodyRemovedAt: undefined,
                exhaustedNoticed: false
              }
            : // The first body is kept (an erased one stays erased): a re-delivery is the same notification.
              { ...previous, lastReceivedAt: arrived, deliveries: previous.deliveries + 1 }
        )
        return yield* unit("alipay", received, handler)
      })

    const replay: Inbox.Operations["replay"] = (notifyId, handler, options = {}) =>
      Effect.gen(function* () {
        const entry = entries.get(notifyId)
        if (entry === undefined) return { _tag: "NotFound" } as const
        if (entry.state === "processed")
          return { _tag: "AlreadyProcessed", processedNotifyId: entry.duplicateOf ?? notifyId } as const
        if (entry.bodyRemovedAt !== undefined) return { _tag: "BodyRemoved" } as const
        const notification = yield* Inbox.decodeStored(entry, options.charset)
        // Decoded in another charset than the delivery's, the ids may differ: the unit would claim another
        // event (as the SQL inbox, which compares with the key it recorded, refuses it).
        const recorded = entry.businessKey ?? `notify_id:${notifyId}`
        if (Notification.eventKey(notification) !== recorded)
          return yield* new Inbox.InboxError({
            reason: "storage",
            message: `inbox: the stored body of notify_id ${notifyId}, decoded again, names another event (${JSON.stringify(Notification.eventKey(notification))}) than the one recorded (${JSON.stringify(recorded)}): replay it in the charset it arrived in`
          })
        const outcome = yield* unit(
          "replay",
          { notification, body: entry.body, contentType: entry.contentType },
          handler
        )
        return outcome._tag === "Duplicate" && outcome.by === "notify_id"
          ? ({ _tag: "AlreadyProcessed", processedNotifyId: outcome.processedNotifyId } as const)
          : outcome
      })

    const resolve: Inbox.Operations["resolve"] = (notifyId, note) =>
      Effect.gen(function* () {
        const entry = entries.get(notifyId)
        if (entry === undefined) return { _tag: "NotFound" } as const
        const eventKey = entry.businessKey ?? `notify_id:${notifyId}`
        const byEvent = yield* lock(eventLocks, eventKey)
        const byNotifyId = yield* lock(notifyLocks, notifyId)
        return yield* byEvent(
          byNotifyId(
            Effect.gen(function* () {
              const current = entries.get(notifyId)!
              if (current.state === "processed")
                return {
                  _tag: "AlreadyProcessed",
                  processedNotifyId: current.duplicateOf ?? notifyId
                } satisfies Inbox.ResolveOutcome
              const now = yield* Clock.currentTimeMillis
              const processedBy = processed.get(eventKey)
              if (processedBy === undefined) processed.set(eventKey, notifyId)
              yield* update(notifyId, (e) => ({
                ...e,
                state: "processed",
                processedAt: now,
                duplicateOf: processedBy,
                resolvedAt: now,
                resolution: note,
                parkedAt: undefined
              }))
              attempts.push({
                notifyId,
                at: now,
                source: "resolve",
                verification: "stored",
                verifiedBy: undefined,
                notifyVerify: undefined,
                outcome: "resolved",
                error: undefined,
                durationMillis: 0
              })
              return { _tag: "Resolved" } satisfies Inbox.ResolveOutcome
            })
          )
        )
      })

    const list: Inbox.Operations["list"] = (query = {}) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const sorted = [...entries.values()]
          .filter((e) => query.outerTaskId === undefined || e.outerTaskId === query.outerTaskId)
          .map((e) => view(e, now))
          .filter((e) => query.status === undefined || e.status === query.status)
          // Array.prototype.sort is stable: ties keep arrival order (reversed with the rest for newest first, as
          // the SQL inboxes order ties by row id).
          .sort((a, b) => a.firstReceivedAt - b.firstReceivedAt)
        // Clamped as the SQL inboxes clamp it: a negative or fractional limit is not a slice from the end.
        const limit = Math.max(0, Math.floor(query.limit ?? Inbox.DEFAULT_LIST_LIMIT))
        return (query.order === "newest" ? sorted.reverse() : sorted).slice(0, limit)
      })

    const sweep: Inbox.Operations["sweep"] = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // Entries whose event another notify_id processed are duplicates, whatever became of their deliveries.
      for (const [id, e] of entries) {
        const processedBy = processed.get(e.businessKey ?? `notify_id:${id}`)
        if (e.state !== "processed" && processedBy !== undefined && processedBy !== id)
          entries.set(id, {
            ...e,
            state: "processed",
            processedAt: now,
            lastError: undefined,
            parkedAt: undefined,
            duplicateOf: processedBy
          })
      }
      const found: Array<Inbox.Entry> = []
      for (const stored of entries.values()) {
        if (stored.exhaustedNoticed) continue
        const entry = view(stored, now)
        if (entry.status !== "exhausted") continue
        stored.exhaustedNoticed = true
        found.push(entry)
      }
      if (policy.onExhausted !== undefined)
        for (const entry of found) yield* hook(policy.onExhausted(entry), "onExhausted")
      return found
    })

    const prune: Inbox.Operations["prune"] = (options) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const cutoff = now - Duration.toMillis(Duration.decode(options.olderThan))
        let bodies = 0
        for (const [id, e] of entries)
          if (e.state === "processed" && e.bodyRemovedAt === undefined && e.lastReceivedAt < cutoff) {
            entries.set(id, { ...e, body: new Uint8Array(), bodyRemovedAt: now })
            bodies++
          }
        const before = attempts.length
        const kept = attempts.filter((a) => a.at >= cutoff)
        attempts.splice(0, attempts.length, ...kept)
        return { bodies, attempts: before - kept.length }
      })

    const erase: Inbox.Operations["erase"] = (outerTaskId) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        let erased = 0
        for (const [id, e] of entries)
          if (e.outerTaskId === outerTaskId) {
            entries.set(id, {
              ...e,
              body: new Uint8Array(),
              bodyRemovedAt: now,
              lastError: undefined,
              resolution: undefined
            })
            erased++
            for (let i = 0; i < attempts.length; i++)
              if (attempts[i]!.notifyId === id) attempts[i] = { ...attempts[i]!, error: undefined }
          }
        return erased
      })

    return {
      receive,
      get: (notifyId) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => Option.map(Option.fromNullable(entries.get(notifyId)), (e) => view(e, now)))
        ),
      byTask: (outerTaskId) => list({ outerTaskId, limit: Number.MAX_SAFE_INTEGER }),
      list,
      attempts: (notifyId) => Effect.sync(() => attempts.filter((a) => a.notifyId === notifyId)),
      replay,
      resolve,
      sweep,
      prune,
      erase
    }
  })

const outcomeOf = (outcome: Inbox.Outcome): Inbox.AttemptOutcome =>
  outcome._tag === "Processed" ? "processed" : outcome._tag === "Parked" ? "failed_permanent" : "duplicate"

/** Both tags over one in-memory store. */
export const layerWith = (policy: Inbox.Policy = {}): Layer.Layer<Inbox.Inbox | Inbox.Operations> =>
  Layer.effectContext(
    Effect.map(make(policy), (inbox) =>
      Context.make(Inbox.Inbox, inbox).pipe(Context.add(Inbox.Operations, inbox))
    )
  )

export const layer: Layer.Layer<Inbox.Inbox | Inbox.Operations> = layerWith()
