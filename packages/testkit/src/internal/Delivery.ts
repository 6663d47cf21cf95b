// The sandbox's notifications: issuing them (notify_id, signed body), scheduling a paid call's batch (with its
// notification fault), the delivery loop on PROTOCOL.md §6's schedule, and one attempt. Each loop is a fiber in
// the sandbox's scope sleeping on Effect's Clock, so a TestClock drives a day of retries.
import type * as Charset from "@witkey/core/Charset"
import * as Protocol from "@witkey/core/Protocol"
import * as Signer from "@witkey/core/Signer"
import { Cause, Clock, Duration, Effect, FiberMap, Option } from "effect"
import type * as Scope from "effect/Scope"
import type * as Fault from "../Fault.js"
import * as NotificationSigner from "../NotificationSigner.js"
import type {
  AttemptResult,
  Deliver,
  DeliveryAnswer,
  DeliveryAttempt,
  NotificationRecord
} from "../Sandbox.js"
import * as Wire from "./Wire.js"

/** One notification of a batch, before it has an id. */
export interface Pending {
  readonly leaves: NotificationSigner.Leaves
  readonly subType: string
  readonly outerTransferNo: string | undefined
}

/** When each attempt is due: the first at `firstDueAt`, then the §6 delays, measured from the first. */
export const dueTimes = (firstDueAt: number): ReadonlyArray<number> => {
  const times = [firstDueAt]
  for (const delay of Protocol.NOTIFY_RETRY_DELAYS_MINUTES)
    times.push(times[times.length - 1]! + delay * 60_000)
  return times
}

/** HTTP 200 with the exact body `success`, nothing else. */
export const isAcknowledged = (answer: DeliveryAnswer): boolean =>
  answer.status === 200 &&
  answer.body.length === Protocol.Notify.ack.length &&
  new TextDecoder().decode(answer.body) === Protocol.Notify.ack

export interface Options {
  /** notify_ids are this prefix plus a counter. */
  readonly prefix: string
  readonly utcOffsetMinutes: number
  readonly deliveryTimeout: Duration.Duration
  readonly signer: Signer.Signer
  /** The current way to deliver (it may be swapped while the sandbox runs). */
  readonly deliver: Effect.Effect<Deliver>
}

export interface Batch {
  readonly partner: string
  readonly outerTaskId: string
  readonly url: string | undefined
  readonly charset: Charset.Charset
  readonly now: number
  readonly fault: Fault.NotifyFault | undefined
}

export interface ResendRefused {
  readonly reason: "unknown_notification" | "no_url"
  readonly message: string
}

export interface Deliveries {
  /** Issues a paid call's notifications and starts their deliveries; their notify_ids, in order. */
  readonly schedule: (batch: Batch, pending: ReadonlyArray<Pending>) => Effect.Effect<ReadonlyArray<string>>
  /** To whom and when this sandbox issued `notifyId`. */
  readonly issued: (notifyId: string) => { readonly partner: string; readonly at: number } | undefined
  readonly notifications: () => ReadonlyArray<NotificationRecord>
  readonly notification: (notifyId: string) => NotificationRecord | undefined
  /** One attempt now, outside the schedule; an acknowledgement ends the scheduled deliveries. */
  readonly resend: (notifyId: string) => Effect.Effect<DeliveryAttempt, ResendRefused>
  /** Until every scheduled delivery is over (acknowledged or exhausted). */
  readonly awaitDeliveries: Effect.Effect<void>
}

export const make = (options: Options): Effect.Effect<Deliveries, never, Scope.Scope> =>
  Effect.gen(function* () {
    const notifications = new Map<string, NotificationRecord>()
    const issued = new Map<string, { readonly partner: string; readonly at: number }>()
    const fibers = yield* FiberMap.make<string, void, never>()
    let counter = 0

    const update = (notifyId: string, f: (r: NotificationRecord) => NotificationRecord) =>
      Effect.sync(() => {
        const record = notifications.get(notifyId)
        if (record !== undefined) notifications.set(notifyId, f(record))
      })

    const attemptOnce = (record: NotificationRecord, attempt: number, copy: number, manual: boolean) =>
      Effect.gen(function* () {
        const send = yield* options.deliver
        const at = yield* Clock.currentTimeMillis
        const timeout = options.deliveryTimeout
        const result: AttemptResult = yield* Effect.suspend(() =>
          send({
            url: record.url!,
            body: record.body,
            contentType: record.contentType,
            notifyId: record.notifyId,
            attempt
          })
        ).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => ({ message: `no answer within ${Duration.format(timeout)}` })
          }),
          Effect.map((a): AttemptResult => ({ _tag: "Answered", status: a.status, body: a.body })),
          Effect.catchAllCause((cause) =>
            Effect.succeed<AttemptResult>({
              _tag: "Failed",
              message: Option.match(Cause.failureOption(cause), {
                onNone: () => `the delivery died: ${Cause.pretty(cause).split("\n")[0]}`,
                onSome: (e) => e.message
              })
            })
          )
        )
        const acknowledged = result._tag === "Answered" && isAcknowledged(result)
        const answeredAt = yield* Clock.currentTimeMillis
        yield* Effect.logDebug("witkey sandbox delivered a notification").pipe(
          Effect.annotateLogs({
            notify_id: record.notifyId,
            attempt,
            acknowledged,
            result: result._tag === "Answered" ? `HTTP ${result.status}` : result.message
          })
        )
        const made: DeliveryAttempt = { attempt, copy, at, answeredAt, result, acknowledged, manual }
        yield* update(record.notifyId, (r) => ({ ...r, attempts: [...r.attempts, made] }))
        return made
      })

    const deliveryLoop = (notifyId: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        const record = notifications.get(notifyId)!
        const due = dueTimes(record.firstDueAt)
        for (const [index, at] of due.entries()) {
          yield* update(notifyId, (r) => ({ ...r, nextAttemptAt: at, attemptsLeft: due.length - index }))
          const now = yield* Clock.currentTimeMillis
          if (at > now) yield* Effect.sleep(Duration.millis(at - now))
          const attempt = index + 1
          const copies = attempt === 1 && record.fault?._tag === "Duplicate" ? 2 : 1
          const made = yield* Effect.all(
            Array.from({ length: copies }, (_, i) =>
              attemptOnce(notifications.get(notifyId)!, attempt, i + 1, false)
            ),
            { concurrency: "unbounded" }
          )
          if (made.some((a) => a.acknowledged))
            return yield* update(notifyId, (r) => ({
              ...r,
              state: "acknowledged",
              nextAttemptAt: undefined,
              attemptsLeft: 0
            }))
        }
        yield* update(notifyId, (r) => ({
          ...r,
          state: "exhausted",
          nextAttemptAt: undefined,
          attemptsLeft: 0
        }))
      })

    const issue = (batch: Batch, pending: Pending, firstDueAt: number, reissueOf: string | undefined) =>
      Effect.gen(function* () {
        const notifyId = `${options.prefix}${(++counter).toString().padStart(8, "0")}`
        const signed = yield* NotificationSigner.sign({
          notifyId,
          notifyTime: Wire.notifyTime(batch.now, options.utcOffsetMinutes),
          payload: pending.leaves,
          charset: batch.charset,
          contentType: batch.fault?._tag === "MalformedContentType" ? "malformed" : "standard",
          signer: options.signer
        }).pipe(Effect.provideService(Signer.Signer, options.signer), Effect.orDie)
        const record: NotificationRecord = {
          notifyId,
          partner: batch.partner,
          subType: pending.subType,
          outerTaskId: batch.outerTaskId,
          outerTransferNo: pending.outerTransferNo,
          fields: Object.fromEntries(pending.leaves),
          url: batch.url,
          charset: batch.charset,
          body: signed.body,
          contentType: signed.contentType!,
          createdAt: batch.now,
          firstDueAt,
          reissueOf,
          fault: batch.fault,
          attempts: [],
          state: batch.url === undefined ? "no_url" : "scheduled",
          nextAttemptAt: batch.url === undefined ? undefined : firstDueAt,
          attemptsLeft: batch.url === undefined ? 0 : Protocol.NOTIFY_RETRY_DELAYS_MINUTES.length + 1
        }
        notifications.set(notifyId, record)
        issued.set(notifyId, { partner: batch.partner, at: batch.now })
        // Interruptible again: forked from the uninterruptible answer, and stopped when the sandbox closes.
        if (batch.url !== undefined)
          yield* FiberMap.run(fibers, notifyId, Effect.interruptible(deliveryLoop(notifyId)))
        return notifyId
      })

    const schedule: Deliveries["schedule"] = (batch, pending) =>
      Effect.gen(function* () {
        const fault = batch.fault
        const ids: Array<string> = []
        for (const [index, one] of pending.entries()) {
          const extra =
            fault?._tag === "Late"
              ? Duration.toMillis(fault.by)
              : fault?._tag === "Reorder"
                ? (pending.length - 1 - index) * 1000
                : 0
          const notifyId = yield* issue(batch, one, batch.now + extra, undefined)
          ids.push(notifyId)
          if (fault?._tag === "Reissue")
            ids.push(yield* issue(batch, one, batch.now + Duration.toMillis(fault.after), notifyId))
        }
        return ids
      })

    const resend: Deliveries["resend"] = (notifyId) =>
      Effect.gen(function* () {
        const record = notifications.get(notifyId)
        if (record === undefined)
          return yield* Effect.fail<ResendRefused>({
            reason: "unknown_notification",
            message: `no notification ${notifyId} was issued by this sandbox`
          })
        if (record.url === undefined)
          return yield* Effect.fail<ResendRefused>({
            reason: "no_url",
            message: `notification ${notifyId} has no notify_url to deliver to`
          })
        const made = yield* attemptOnce(record, record.attempts.length + 1, 1, true)
        if (made.acknowledged) {
          // The scheduled deliveries are over: stop the loop (a no-op when it already ended).
          yield* FiberMap.remove(fibers, notifyId)
          yield* update(notifyId, (r) => ({
            ...r,
            state: "acknowledged",
            nextAttemptAt: undefined,
            attemptsLeft: 0
          }))
        }
        return made
      })

    return {
      schedule,
      issued: (notifyId) => issued.get(notifyId),
      notifications: () => [...notifications.values()],
      notification: (notifyId) => notifications.get(notifyId),
      resend,
      awaitDeliveries: FiberMap.awaitEmpty(fibers)
    }
  })
