/**
 * An in-memory `Inbox` for tests, with the semantics of `@witkey/inbox-sql`: every delivery recorded (first
 * body, Clock times, count), de-dup by notify_id and by business key (`duplicateOf`), one handler run at a time
 * per event (a semaphore per event key, then per notify_id, always in that order), a failed handler leaves the
 * notification unprocessed with its last error. Nothing survives the process: use it in tests only.
 *
 * @since 0.1.0
 */
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import { Cause, Clock, Effect, Layer, Option } from "effect"

const copy = (entry: Inbox.Entry): Inbox.Entry => ({ ...entry, body: Uint8Array.from(entry.body) })

export const make: Effect.Effect<Inbox.Inbox> = Effect.sync(() => {
  // Insertion order is arrival order, which `byTask` relies on for ties.
  const entries = new Map<string, Inbox.Entry>()
  /** event key -> the notify_id it was processed under */
  const processed = new Map<string, string>()
  const eventLocks = new Map<string, Effect.Semaphore>()
  const notifyLocks = new Map<string, Effect.Semaphore>()

  const lock = (locks: Map<string, Effect.Semaphore>, key: string) =>
    Effect.sync(() => {
      let semaphore = locks.get(key)
      if (semaphore === undefined) {
        semaphore = Effect.unsafeMakeSemaphore(1)
        locks.set(key, semaphore)
      }
      return semaphore.withPermits(1)
    })

  const update = (notifyId: string, f: (entry: Inbox.Entry) => Inbox.Entry) =>
    Effect.sync(() => {
      const entry = entries.get(notifyId)
      if (entry !== undefined) entries.set(notifyId, f(entry))
    })

  const receive: Inbox.Inbox["receive"] = <E, R>(
    received: Inbox.Received,
    handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
  ) =>
    Effect.gen(function* () {
      const n = received.notification
      const notifyId = n.notifyId
      const businessKey = Notification.businessKey(n)
      const eventKey = Notification.eventKey(n)
      const arrived = yield* Clock.currentTimeMillis
      const previous = entries.get(notifyId)
      entries.set(
        notifyId,
        previous === undefined
          ? {
              notifyId,
              businessKey,
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
              duplicateOf: undefined
            }
          : { ...previous, lastReceivedAt: arrived, deliveries: previous.deliveries + 1 }
      )

      const settle = Effect.gen(function* () {
        const entry = entries.get(notifyId)!
        const processedBy = processed.get(eventKey)
        if (entry.state === "processed" || processedBy === notifyId)
          return {
            _tag: "Duplicate",
            by: "notify_id",
            processedNotifyId: entry.duplicateOf ?? notifyId
          } satisfies Inbox.Outcome
        if (processedBy !== undefined) {
          const now = yield* Clock.currentTimeMillis
          yield* update(notifyId, (e) => ({
            ...e,
            state: "processed",
            processedAt: now,
            duplicateOf: processedBy,
            lastError: undefined
          }))
          return {
            _tag: "Duplicate",
            by: "business_key",
            processedNotifyId: processedBy
          } satisfies Inbox.Outcome
        }
        yield* handler(n).pipe(
          Effect.tapErrorCause((cause) =>
            Cause.isInterruptedOnly(cause)
              ? Effect.void
              : update(notifyId, (e) => ({ ...e, state: "failed", lastError: Inbox.describeFailure(cause) }))
          )
        )
        const now = yield* Clock.currentTimeMillis
        yield* Effect.sync(() => processed.set(eventKey, notifyId))
        yield* update(notifyId, (e) => ({
          ...e,
          state: "processed",
          processedAt: now,
          lastError: undefined,
          duplicateOf: undefined
        }))
        return { _tag: "Processed" } satisfies Inbox.Outcome
      })

      const byEvent = yield* lock(eventLocks, eventKey)
      const byNotifyId = yield* lock(notifyLocks, notifyId)
      return yield* byEvent(byNotifyId(settle))
    })

  return Inbox.Inbox.of({
    receive,
    get: (notifyId) => Effect.sync(() => Option.map(Option.fromNullable(entries.get(notifyId)), copy)),
    byTask: (outerTaskId) =>
      Effect.sync(() =>
        [...entries.values()]
          .filter((e) => e.outerTaskId === outerTaskId)
          // Array.prototype.sort is stable: ties keep arrival order.
          .sort((a, b) => a.firstReceivedAt - b.firstReceivedAt)
          .map(copy)
      )
  })
})

export const layer: Layer.Layer<Inbox.Inbox> = Layer.effect(Inbox.Inbox, make)
