/**
 * What every inbox conformance test starts from, written once for `InboxSuite` and `InboxOperationsSuite`: real
 * notifications (signed with the gateway's test key, decoded by core), ids of the test's own (the storage may be
 * shared with other runs), a handler that records its runs, one that fails, and reading an entry back.
 *
 * @internal
 */
import type * as Charset from "@witkey/core/Charset"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import { Effect, Option, Ref, Schema } from "effect"
import * as NotificationSigner from "../NotificationSigner.js"
import * as TestKeys from "../TestKeys.js"

export interface Spec {
  readonly notifyId: string
  readonly payload: NotificationSigner.Leaves
  readonly notifyTime?: string
  readonly charset?: Charset.Charset
  readonly contentType?: NotificationSigner.ContentTypeStyle
  readonly extraFields?: ReadonlyArray<readonly [string, string]>
}

/** Signs a notification as the gateway does and decodes it with core, as a receiver would. */
export const received = (spec: Spec): Effect.Effect<Inbox.Received> =>
  Effect.gen(function* () {
    const signed = yield* NotificationSigner.sign({
      notifyId: spec.notifyId,
      notifyTime: spec.notifyTime ?? "2026-11-25 10:30:00",
      payload: spec.payload,
      ...(spec.charset ? { charset: spec.charset } : {}),
      ...(spec.contentType ? { contentType: spec.contentType } : {}),
      ...(spec.extraFields ? { extraFields: spec.extraFields } : {})
    }).pipe(Effect.provide(TestKeys.gatewaySigner))
    const notification = yield* Notification.decode(
      { body: signed.body, contentType: signed.contentType },
      { charset: spec.charset ?? "utf-8" }
    ).pipe(Effect.provide(TestKeys.gatewayVerifier))
    return { notification, body: signed.body, contentType: signed.contentType }
  }).pipe(Effect.orDie)

const PAYEE = "2088102122524333"
const GMT = "20261125103000"

export const assign = (outerTaskId: string, outerTransferNo: string, amount = "120.00") =>
  NotificationSigner.assign({
    outerTaskId,
    outerTransferNo,
    transferAmount: amount,
    payeeUserId: PAYEE,
    gmtTransfer: GMT
  })

export const platformProfit = (outerTaskId: string) =>
  NotificationSigner.platformProfit({
    outerTaskId,
    transferAmount: "12.00",
    serviceCharge: "0.60",
    payeeUserId: TestKeys.platformUserId,
    gmtTransfer: GMT
  })

export const unknownSubType = (outerTaskId: string, memo: string): NotificationSigner.Leaves => [
  ["notify_sub_type", "REFUND_FOR_ANNOUNCE_PAYMENT"],
  ["outer_task_id", outerTaskId],
  ["memo", memo]
]

/** What `receive` answers for a duplicate of the event processed under `processedNotifyId`. */
export const duplicate = (by: "notify_id" | "business_key", processedNotifyId: string): Inbox.Outcome => ({
  _tag: "Duplicate",
  by,
  processedNotifyId
})

/** What `replay` and `resolve` answer for an entry whose event was processed under `processedNotifyId`. */
export const alreadyProcessed = (processedNotifyId: string) =>
  ({ _tag: "AlreadyProcessed", processedNotifyId }) as const

/** The handlers' business failure (a ledger that could not write the payout row). */
export class BusinessFailure extends Schema.TaggedError<BusinessFailure>()("BusinessFailure", {
  message: Schema.String
}) {}

export interface Ids {
  readonly task: string
  readonly notify: (i: number) => string
}

export interface Scenario {
  readonly inbox: Inbox.Inbox
  readonly id: Ids
  /** The notify_ids the handler ran for, in order. */
  readonly runs: Ref.Ref<ReadonlyArray<string>>
  /** Records its run, after yielding a few times so that concurrent receivers interleave. */
  readonly handler: (n: Notification.Notification) => Effect.Effect<void>
  readonly failing: (n: Notification.Notification) => Effect.Effect<never, BusinessFailure>
  /** The task's ASSIGN notification for `serial` (default `s-1`) under notify_id `i`. */
  readonly notice: (i: number, serial?: string, amount?: string) => Effect.Effect<Inbox.Received>
  /**
   * Event `event` (serial `s-<event>`) under its alias `alias` (notify_id `event * 10 + alias`), signed once and
   * handed out again: what property tests deliver in any order.
   */
  readonly event: (event: number, alias: number) => Effect.Effect<Inbox.Received>
  /** The event a notify_id of `event` names (the inverse of `event`'s numbering). */
  readonly eventOf: (notifyId: string) => number
  /** Delivers `r` to a failing handler; the handler's error. */
  readonly fail: (
    r: Inbox.Received
  ) => Effect.Effect<BusinessFailure | Inbox.InboxError | Inbox.HandlerTimeout, Inbox.Outcome>
  readonly entry: (notifyId: string) => Effect.Effect<Inbox.Entry, Inbox.InboxError>
}

/**
 * A scenario maker for one suite run: each call gets a task and notify_ids no other test (or run sharing the
 * storage) uses, prefixed with `prefix`.
 */
export const scenarios = (prefix: string) => {
  const run = Math.random().toString(36).slice(2, 8)
  let counter = 0
  return (label: string): Effect.Effect<Scenario, never, Inbox.Inbox> =>
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const n = ++counter
      const id: Ids = {
        task: `${prefix}-${run}-${n}-${label}`,
        notify: (i) => `${prefix}n-${run}-${n}-${label}-${i}`
      }
      const runs = yield* Ref.make<ReadonlyArray<string>>([])
      const handler = (notification: Notification.Notification) =>
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
          yield* Ref.update(runs, (r) => [...r, notification.notifyId])
        })
      const failing = (notification: Notification.Notification) =>
        Effect.fail(
          new BusinessFailure({ message: `ledger down: payout row for ${notification.notifyId} not written` })
        )
      const notice = (i: number, serial = "s-1", amount?: string) =>
        received({ notifyId: id.notify(i), payload: assign(id.task, serial, amount) })
      const cache = new Map<string, Inbox.Received>()
      const event = (e: number, alias: number) =>
        Effect.suspend(() => {
          const notifyId = id.notify(e * 10 + alias)
          const cached = cache.get(notifyId)
          if (cached) return Effect.succeed(cached)
          return Effect.tap(received({ notifyId, payload: assign(id.task, `s-${e}`) }), (r) =>
            Effect.sync(() => void cache.set(notifyId, r))
          )
        })
      return {
        inbox,
        id,
        runs,
        handler,
        failing,
        notice,
        event,
        eventOf: (notifyId) => Math.floor(Number(notifyId.split("-").pop()) / 10),
        fail: (r) => Effect.flip(inbox.receive(r, failing)),
        entry: (notifyId) =>
          Effect.flatMap(inbox.get(notifyId), (e) =>
            Option.isSome(e) ? Effect.succeed(e.value) : Effect.dieMessage(`no entry for ${notifyId}`)
          )
      }
    })
}
