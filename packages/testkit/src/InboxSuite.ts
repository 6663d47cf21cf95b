/**
 * A conformance suite for an `Inbox` implementation: the exactly-once contract core's `NotificationReceiver`
 * relies on. Call it at the top level of a test file with a layer that gives a fresh (or at least shared by
 * nobody else) inbox; the suite builds it once and uses distinct ids in every test:
 *
 * ```ts
 * InboxSuite.suite("in memory", MemoryInbox.layer)
 * ```
 *
 * Notifications are real ones: signed with the gateway's test key (`TestKeys`, `NotificationSigner`) and
 * decoded by core, so the inbox sees exactly what a receiver hands it. Times come from the `TestClock`.
 *
 * @since 0.1.0
 */
import { assert, layer as withLayer } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import type { Layer } from "effect"
import { Cause, Deferred, Effect, Exit, FastCheck, Fiber, Option, Ref, TestClock } from "effect"
import {
  assign,
  BusinessFailure,
  duplicate,
  platformProfit,
  received,
  scenarios,
  unknownSubType
} from "./internal/InboxScenario.js"

export { assign, platformProfit, received, unknownSubType } from "./internal/InboxScenario.js"
export type { Spec } from "./internal/InboxScenario.js"

export interface Options {
  /** Runs of the property test; default 15 (each run is a few dozen inbox calls). */
  readonly numRuns?: number
}

const sameBytes = (actual: Uint8Array, expected: Uint8Array) =>
  assert.deepStrictEqual(Array.from(actual), Array.from(expected))

export const suite = (name: string, layer: Layer.Layer<Inbox.Inbox, unknown>, options: Options = {}): void =>
  withLayer(layer, { timeout: "60 seconds" })(`Inbox conformance: ${name}`, (it) => {
    // Distinct ids per suite run and per test: the storage may be shared with other runs.
    const scenario = scenarios("t")

    it.effect("the first delivery runs the handler with the notification and records it processed", () =>
      Effect.gen(function* () {
        const { entry, handler, id, inbox, notice, runs } = yield* scenario("first")
        const r = yield* notice(1)
        const seen = yield* Ref.make<Option.Option<Notification.Notification>>(Option.none())
        const outcome = yield* inbox.receive(r, (n) =>
          Effect.zipRight(Ref.set(seen, Option.some(n)), handler(n))
        )
        assert.deepStrictEqual(outcome, { _tag: "Processed" })
        assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
        const handed = Option.getOrThrow(yield* Ref.get(seen))
        assert.strictEqual(handed.notifyId, id.notify(1))
        assert.strictEqual(handed.payload._tag, "Assign")
        const e = yield* entry(id.notify(1))
        assert.strictEqual(e.state, "processed")
        assert.strictEqual(e.deliveries, 1)
        assert.strictEqual(e.businessKey, Notification.businessKey(r.notification))
        assert.strictEqual(e.subType, "ASSIGN_FOR_ANNOUNCE_PAYMENT")
        assert.strictEqual(e.outerTaskId, id.task)
        assert.strictEqual(e.outerTransferNo, "s-1")
        assert.strictEqual(e.contentType, r.contentType)
        assert.isDefined(e.processedAt)
        assert.isUndefined(e.lastError)
        assert.isUndefined(e.duplicateOf)
        sameBytes(e.body, r.body)
      })
    )

    it.effect("a repeat by notify_id does not run the handler", () =>
      Effect.gen(function* () {
        const { entry, handler, id, inbox, runs } = yield* scenario("repeat")
        const r = yield* received({ notifyId: id.notify(1), payload: platformProfit(id.task) })
        assert.deepStrictEqual(yield* inbox.receive(r, handler), { _tag: "Processed" })
        for (let i = 0; i < 3; i++)
          assert.deepStrictEqual(yield* inbox.receive(r, handler), duplicate("notify_id", id.notify(1)))
        assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
        const e = yield* entry(id.notify(1))
        assert.strictEqual(e.deliveries, 4)
        assert.strictEqual(e.state, "processed")
      })
    )

    it.effect("the same event under a new notify_id is a duplicate, recorded with duplicateOf", () =>
      Effect.gen(function* () {
        const { entry, handler, id, inbox, notice, runs } = yield* scenario("business-key")
        const first = yield* notice(1)
        const again = yield* received({
          notifyId: id.notify(2),
          notifyTime: "2026-11-25 10:42:00",
          payload: assign(id.task, "s-1")
        })
        const profit = yield* received({ notifyId: id.notify(3), payload: platformProfit(id.task) })
        const profitAgain = yield* received({ notifyId: id.notify(4), payload: platformProfit(id.task) })
        assert.deepStrictEqual(yield* inbox.receive(first, handler), { _tag: "Processed" })
        assert.deepStrictEqual(yield* inbox.receive(again, handler), duplicate("business_key", id.notify(1)))
        assert.deepStrictEqual(yield* inbox.receive(profit, handler), { _tag: "Processed" })
        assert.deepStrictEqual(
          yield* inbox.receive(profitAgain, handler),
          duplicate("business_key", id.notify(3))
        )
        // The duplicate's own repeat names the notify_id the event was processed under.
        assert.deepStrictEqual(yield* inbox.receive(again, handler), duplicate("notify_id", id.notify(1)))
        assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1), id.notify(3)])
        const second = yield* entry(id.notify(2))
        assert.strictEqual(second.duplicateOf, id.notify(1))
        assert.strictEqual(second.state, "processed")
        assert.strictEqual(second.deliveries, 2)
        assert.strictEqual((yield* entry(id.notify(4))).duplicateOf, id.notify(3))
        assert.isUndefined((yield* entry(id.notify(1))).duplicateOf)
      })
    )

    it.effect("different transfers of one task are different events", () =>
      Effect.gen(function* () {
        const { handler, inbox, notice, runs } = yield* scenario("transfers")
        for (const [i, serial] of ["s-1", "s-2", "s-3"].entries()) {
          const r = yield* notice(i, serial)
          assert.deepStrictEqual(yield* inbox.receive(r, handler), { _tag: "Processed" })
        }
        assert.strictEqual((yield* Ref.get(runs)).length, 3)
      })
    )

    // Ids may hold `|` and `\`: events whose task and serial only differ in where one ends and the other
    // begins are different payouts (issue 13 §1: a plain `|` join took the second for the first's duplicate).
    it.effect(
      "events that differ only in where the task id ends and the serial begins are all processed",
      () =>
        Effect.gen(function* () {
          const { entry, handler, id, inbox, notice, runs } = yield* scenario("split")
          const events: ReadonlyArray<readonly [string, string]> = [
            [`${id.task}|Y`, "Z"],
            [id.task, "Y|Z"],
            [`${id.task}\\`, "|Z"],
            [`${id.task}\\|`, "Z"],
            [`${id.task}|Y|Z`, "\\"]
          ]
          const deliveries = yield* Effect.forEach(events, ([task, serial], i) =>
            received({ notifyId: id.notify(i), payload: assign(task, serial, `${i + 1}00.00`) })
          )
          for (const r of deliveries)
            assert.deepStrictEqual(yield* inbox.receive(r, handler), { _tag: "Processed" })
          assert.deepStrictEqual(
            yield* Ref.get(runs),
            events.map((_, i) => id.notify(i))
          )
          const entries = yield* Effect.forEach(events, (_, i) => entry(id.notify(i)))
          assert.deepStrictEqual(
            entries.map((e) => [e.outerTaskId, e.outerTransferNo, e.state, e.duplicateOf]),
            events.map(([task, serial]) => [task, serial, "processed", undefined])
          )
          assert.strictEqual(new Set(entries.map((e) => e.businessKey)).size, events.length)
          // Each is still de-duplicated as itself: a re-issue of the second under a new notify_id.
          const again = yield* notice(9, "Y|Z", "200.00")
          assert.deepStrictEqual(
            yield* inbox.receive(again, handler),
            duplicate("business_key", id.notify(1))
          )
          assert.strictEqual((yield* Ref.get(runs)).length, events.length)
        })
    )

    it.effect("a failing handler leaves it unprocessed with its error; the next delivery runs it once", () =>
      Effect.gen(function* () {
        const { entry, fail, handler, id, inbox, notice, runs } = yield* scenario("failure")
        const r = yield* notice(1)
        const error = yield* fail(r)
        assert.instanceOf(error, BusinessFailure, "the handler's own error comes back, typed")
        const failed = yield* entry(id.notify(1))
        assert.strictEqual(failed.state, "failed")
        assert.isUndefined(failed.processedAt)
        assert.include(failed.lastError ?? "", "not written")
        assert.deepStrictEqual(yield* inbox.receive(r, handler), { _tag: "Processed" })
        assert.deepStrictEqual(yield* inbox.receive(r, handler), duplicate("notify_id", id.notify(1)))
        assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
        const e = yield* entry(id.notify(1))
        assert.strictEqual(e.state, "processed")
        assert.isUndefined(e.lastError, "the last error is cleared once processed")
        assert.strictEqual(e.deliveries, 3)
      })
    )

    it.effect("a handler that dies is recorded as failed and runs again on the next delivery", () =>
      Effect.gen(function* () {
        const { entry, handler, id, inbox, runs } = yield* scenario("defect")
        const r = yield* received({ notifyId: id.notify(1), payload: platformProfit(id.task) })
        const exit = yield* Effect.exit(inbox.receive(r, () => Effect.die(new Error("ledger offline"))))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
        const failed = yield* entry(id.notify(1))
        assert.strictEqual(failed.state, "failed")
        assert.include(failed.lastError ?? "", "ledger offline")
        assert.deepStrictEqual(yield* inbox.receive(r, handler), { _tag: "Processed" })
        assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
      })
    )

    it.effect(
      "an interrupted receive still records the delivery, and the next delivery runs the handler",
      () =>
        Effect.gen(function* () {
          const { entry, handler, id, inbox, notice, runs } = yield* scenario("interrupted")
          const r = yield* notice(1)
          const started = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(
            inbox.receive(r, () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
          )
          yield* Deferred.await(started)
          yield* Fiber.interrupt(fiber)
          const interrupted = yield* entry(id.notify(1))
          assert.strictEqual(interrupted.deliveries, 1, "the interrupted delivery is on record")
          assert.notStrictEqual(interrupted.state, "processed")
          assert.deepStrictEqual(yield* inbox.receive(r, handler), { _tag: "Processed" })
          assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
          assert.strictEqual((yield* entry(id.notify(1))).deliveries, 2)
        })
    )

    it.effect("a delivery notify_verify confirmed is counted once, and handled once", () =>
      Effect.gen(function* () {
        const { entry, fail, handler, id, inbox, notice, runs } = yield* scenario("confirmed")
        const r: Inbox.Received = {
          ...(yield* notice(1)),
          gatewayConfirmed: true
        }
        yield* fail(r)
        const failed = yield* entry(id.notify(1))
        assert.strictEqual(failed.deliveries, 1)
        assert.strictEqual(failed.state, "failed")
        assert.deepStrictEqual(yield* inbox.receive({ ...r, gatewayConfirmed: false }, handler), {
          _tag: "Processed"
        })
        assert.deepStrictEqual(yield* inbox.receive(r, handler), duplicate("notify_id", id.notify(1)))
        assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
        assert.strictEqual((yield* entry(id.notify(1))).deliveries, 3)
      })
    )

    it.effect(
      "an event that failed under one notify_id and succeeded under another is settled for both",
      () =>
        Effect.gen(function* () {
          const { entry, fail, handler, id, inbox, notice, runs } = yield* scenario("failover")
          const a = yield* notice(1, "s-9")
          const b = yield* notice(2, "s-9")
          yield* fail(a)
          assert.deepStrictEqual(yield* inbox.receive(b, handler), { _tag: "Processed" })
          assert.deepStrictEqual(yield* inbox.receive(a, handler), duplicate("business_key", id.notify(2)))
          assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(2)])
          const e = yield* entry(id.notify(1))
          assert.strictEqual(e.state, "processed")
          assert.strictEqual(e.duplicateOf, id.notify(2))
          assert.isUndefined(e.lastError)
        })
    )

    it.effect("deliveries are counted, with the first and last arrival from the Clock", () =>
      Effect.gen(function* () {
        const { entry, fail, handler, id, inbox, notice } = yield* scenario("times")
        const r = yield* notice(1)
        yield* TestClock.adjust("1 hour")
        const start = yield* TestClock.currentTimeMillis
        yield* fail(r)
        yield* TestClock.adjust("2 minutes")
        yield* inbox.receive(r, handler)
        yield* TestClock.adjust("10 minutes")
        yield* inbox.receive(r, handler)
        const e = yield* entry(id.notify(1))
        assert.strictEqual(e.deliveries, 3)
        assert.strictEqual(e.firstReceivedAt, start)
        assert.strictEqual(e.lastReceivedAt, start + 12 * 60_000)
        assert.strictEqual(e.processedAt, start + 2 * 60_000)
      })
    )

    it.effect("byTask returns the task's audit trail, oldest first, with the raw bytes identical", () =>
      Effect.gen(function* () {
        const { fail, handler, id, inbox, notice } = yield* scenario("audit")
        const other = yield* scenario("audit-other")
        const gbk = yield* received({
          notifyId: id.notify(1),
          payload: assign(id.task, "s-1"),
          charset: "gbk",
          contentType: "malformed",
          extraFields: [["memo", "赏金 第一名"]]
        })
        const profit = yield* received({ notifyId: id.notify(2), payload: platformProfit(id.task) })
        const unknown = yield* received({
          notifyId: id.notify(3),
          payload: unknownSubType(id.task, "退款"),
          contentType: "none"
        })
        const reissued = yield* notice(4)
        const elsewhere = yield* other.notice(1)
        yield* inbox.receive(gbk, handler)
        yield* TestClock.adjust("1 minute")
        yield* fail(profit)
        yield* inbox.receive(elsewhere, handler)
        // Same instant: arrival order breaks the tie.
        yield* inbox.receive(unknown, handler)
        yield* inbox.receive(reissued, handler)
        yield* TestClock.adjust("1 minute")
        yield* inbox.receive(gbk, handler)

        const trail = yield* inbox.byTask(id.task)
        assert.deepStrictEqual(
          trail.map((e) => [e.notifyId, e.state, e.deliveries, e.duplicateOf]),
          [
            [id.notify(1), "processed", 2, undefined],
            [id.notify(2), "failed", 1, undefined],
            [id.notify(3), "processed", 1, undefined],
            [id.notify(4), "processed", 1, id.notify(1)]
          ]
        )
        const [first, second, third] = trail
        sameBytes(first!.body, gbk.body)
        assert.strictEqual(first!.contentType, gbk.contentType)
        assert.include(first!.contentType ?? "", "text/html", "the header is kept as it came")
        sameBytes(second!.body, profit.body)
        assert.include(second!.lastError ?? "", "not written")
        sameBytes(third!.body, unknown.body)
        assert.isUndefined(third!.contentType)
        assert.strictEqual(third!.subType, "REFUND_FOR_ANNOUNCE_PAYMENT")
        assert.isUndefined(third!.businessKey)
        assert.isUndefined(third!.outerTransferNo)
        assert.isTrue(first!.firstReceivedAt < second!.firstReceivedAt)
        assert.isTrue(first!.lastReceivedAt > first!.firstReceivedAt)
        assert.deepStrictEqual(
          (yield* inbox.byTask(other.id.task)).map((e) => e.notifyId),
          [other.id.notify(1)]
        )
        assert.deepStrictEqual(yield* inbox.byTask(`${id.task}-none`), [])
        assert.isTrue(Option.isNone(yield* inbox.get(`${id.notify(9)}`)))
      })
    )

    it.effect("the body is stored byte for byte, whatever the bytes", () =>
      Effect.gen(function* () {
        const { entry, handler, id, inbox, notice } = yield* scenario("bytes")
        const r = yield* notice(1)
        const body = Uint8Array.from({ length: 512 }, (_, i) => (i * 7 + 3) % 256)
        yield* inbox.receive({ ...r, body }, handler)
        body.fill(0) // the inbox keeps its own copy
        sameBytes(
          (yield* entry(id.notify(1))).body,
          Uint8Array.from({ length: 512 }, (_, i) => (i * 7 + 3) % 256)
        )
      })
    )

    it.effect("concurrent receives of one event run the handler once", () =>
      Effect.gen(function* () {
        const { entry, handler, id, inbox, notice, runs } = yield* scenario("concurrent")
        const same = yield* notice(1)
        const reissued = yield* Effect.forEach([2, 3, 4], (i) => notice(i))
        const deliveries = [same, same, same, ...reissued, same, ...reissued]
        const outcomes = yield* Effect.forEach(deliveries, (r) => inbox.receive(r, handler), {
          concurrency: "unbounded"
        })
        assert.strictEqual(outcomes.filter((o) => o._tag === "Processed").length, 1)
        const runsNow = yield* Ref.get(runs)
        assert.strictEqual(runsNow.length, 1)
        const winner = runsNow[0]!
        for (const o of outcomes) if (o._tag === "Duplicate") assert.strictEqual(o.processedNotifyId, winner)
        const entries = yield* Effect.forEach([1, 2, 3, 4], (i) => entry(id.notify(i)))
        for (const e of entries) {
          assert.strictEqual(e.state, "processed")
          assert.strictEqual(e.duplicateOf, e.notifyId === winner ? undefined : winner)
        }
        assert.strictEqual(
          entries.reduce((sum, e) => sum + e.deliveries, 0),
          deliveries.length
        )
      })
    )

    it.effect("unknown sub types de-dup by notify_id only", () =>
      Effect.gen(function* () {
        const { entry, handler, id, inbox, runs } = yield* scenario("unknown")
        const a = yield* received({ notifyId: id.notify(1), payload: unknownSubType(id.task, "same") })
        const b = yield* received({ notifyId: id.notify(2), payload: unknownSubType(id.task, "same") })
        assert.strictEqual(a.notification.payload._tag, "UnknownSubType")
        assert.deepStrictEqual(yield* inbox.receive(a, handler), { _tag: "Processed" })
        assert.deepStrictEqual(yield* inbox.receive(b, handler), { _tag: "Processed" })
        assert.deepStrictEqual(yield* inbox.receive(a, handler), duplicate("notify_id", id.notify(1)))
        assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1), id.notify(2)])
        assert.isUndefined((yield* entry(id.notify(2))).duplicateOf)
      })
    )

    it.effect("get and byTask know nothing of what never arrived", () =>
      Effect.gen(function* () {
        const { id, inbox } = yield* scenario("nothing")
        assert.isTrue(Option.isNone(yield* inbox.get(id.notify(1))))
        assert.deepStrictEqual(yield* inbox.byTask(id.task), [])
      })
    )

    // Any interleaving of repeats, re-issues under new notify_ids and failing attempts: once every event got
    // one successful delivery, the handler has succeeded exactly once per event.
    const Plan = FastCheck.record({
      events: FastCheck.integer({ min: 1, max: 4 }),
      deliveries: FastCheck.array(
        FastCheck.record({
          event: FastCheck.nat(3),
          alias: FastCheck.nat(2),
          fails: FastCheck.boolean()
        }),
        { maxLength: 12 }
      )
    })
    it.effect.prop(
      "any interleaving of repeats, re-issues and failures processes each event once",
      [Plan],
      ([plan]) =>
        Effect.gen(function* () {
          const { event, eventOf, failing, handler, inbox, runs } = yield* scenario("prop")
          for (const d of plan.deliveries) {
            const r = yield* event(d.event % plan.events, d.alias)
            yield* Effect.either(inbox.receive(r, d.fails ? failing : handler))
          }
          // Alipay's last retries: every event once more, succeeding.
          for (let e = 0; e < plan.events; e++) yield* inbox.receive(yield* event(e, 0), handler)
          const events = (yield* Ref.get(runs)).map(eventOf)
          assert.deepStrictEqual(
            [...events].sort(),
            Array.from({ length: plan.events }, (_, i) => i)
          )
        }),
      { fastCheck: { numRuns: options.numRuns ?? 15 } }
    )
  })
