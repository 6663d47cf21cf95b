import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as Notification from "@witkey/core/Notification"
import * as Protocol from "@witkey/core/Protocol"
import { Duration, Effect, TestClock } from "effect"
import * as Sandbox from "../src/Sandbox.js"
import * as TestKeys from "../src/TestKeys.js"
import { layer, NOTIFY_URL, PAYEE_A, receiver, registerTask, text } from "./Harness.js"

const MINUTE = 60_000
/** 0, 2, 12, 22, 82, 202, 562, 1462 minutes: the first delivery and the §6 retries. */
const SCHEDULE = Protocol.NOTIFY_RETRY_DELAYS_MINUTES.reduce<Array<number>>(
  (acc, d) => [...acc, acc[acc.length - 1]! + d * MINUTE],
  [0]
)

const payOne = Effect.gen(function* () {
  yield* registerTask("t-n", [["n1", PAYEE_A, "12.34"]], "0")
  yield* (yield* Client.Client).confirmByPlatform({
    outerTaskId: "t-n",
    transfers: ["n1"],
    notifyUrl: NOTIFY_URL
  })
  return yield* Sandbox.Sandbox
})

const answering =
  (status: number, body: string): Sandbox.Deliver =>
  () =>
    Effect.succeed({ status, body: new TextEncoder().encode(body) })

describe("delivery schedule (TestClock)", () => {
  it("the schedule is 8 deliveries over 24h22m", () => {
    assert.deepStrictEqual(
      SCHEDULE,
      [0, 2, 12, 22, 82, 202, 562, 1462].map((m) => m * MINUTE)
    )
  })

  it.effect(
    "a receiver that keeps failing gets the notification 8 times, on schedule, then never again",
    () =>
      Effect.gen(function* () {
        const sandbox = yield* payOne
        yield* sandbox.setDeliver(answering(500, "fail"))
        // Nothing moves without the clock; each retry comes exactly at its time.
        for (const [index, at] of SCHEDULE.entries()) {
          if (index > 0) {
            yield* TestClock.adjust(at - SCHEDULE[index - 1]! - 1)
            assert.strictEqual((yield* sandbox.notifications)[0]!.attempts.length, index)
            yield* TestClock.adjust(1)
          } else yield* TestClock.adjust(0) // lets the delivery fiber, forked by the call, run
          assert.strictEqual((yield* sandbox.notifications)[0]!.attempts.length, index + 1)
        }
        yield* sandbox.awaitDeliveries
        const [n] = yield* sandbox.notifications
        assert.deepStrictEqual(
          n!.attempts.map((a) => a.at),
          SCHEDULE
        )
        assert.deepStrictEqual(
          n!.attempts.map((a) => a.attempt),
          [1, 2, 3, 4, 5, 6, 7, 8]
        )
        assert.strictEqual(n!.state, "exhausted")
        assert.strictEqual(yield* sandbox.pendingDeliveries, 0)
        yield* TestClock.adjust("7 days")
        assert.strictEqual((yield* sandbox.notifications)[0]!.attempts.length, 8)
      }).pipe(Effect.provide(layer()))
  )

  it.effect("one adjust of a day drives all retries", () =>
    Effect.gen(function* () {
      const sandbox = yield* payOne
      yield* sandbox.setDeliver(answering(200, "fail"))
      yield* TestClock.adjust(Duration.minutes(24 * 60 + 22))
      yield* sandbox.awaitDeliveries
      const [n] = yield* sandbox.notifications
      assert.deepStrictEqual(
        n!.attempts.map((a) => a.at),
        SCHEDULE
      )
    }).pipe(Effect.provide(layer()))
  )

  it.effect("a receiver that answers success gets no more", () =>
    Effect.gen(function* () {
      const sandbox = yield* payOne
      const r = yield* receiver()
      yield* sandbox.setDeliver(r.deliver)
      yield* sandbox.awaitDeliveries
      yield* TestClock.adjust("2 days")
      const [n] = yield* sandbox.notifications
      assert.strictEqual(n!.state, "acknowledged")
      assert.deepStrictEqual(
        n!.attempts.map((a) => [a.at, a.acknowledged]),
        [[0, true]]
      )
      assert.strictEqual(r.processed.length, 1)
    }).pipe(Effect.provide(layer()))
  )

  it.effect("a receiver that recovers is retried until it answers success", () =>
    Effect.gen(function* () {
      const sandbox = yield* payOne
      const r = yield* receiver((attempt) => (attempt <= 3 ? "fail" : "receive"))
      yield* sandbox.setDeliver(r.deliver)
      yield* TestClock.adjust("1 day")
      yield* sandbox.awaitDeliveries
      const [n] = yield* sandbox.notifications
      assert.deepStrictEqual(
        n!.attempts.map((a) => [a.at, a.acknowledged]),
        [
          [SCHEDULE[0], false],
          [SCHEDULE[1], false],
          [SCHEDULE[2], false],
          [SCHEDULE[3], true]
        ]
      )
      assert.strictEqual(r.processed.length, 1)
      assert.strictEqual(r.processed[0]!.fields["transfer_amount"], "12.34")
    }).pipe(Effect.provide(layer()))
  )

  it.effect("only HTTP 200 with the exact 7 bytes `success` acknowledges", () =>
    Effect.gen(function* () {
      const answers: ReadonlyArray<readonly [number, string]> = [
        [200, "success\n"],
        [200, " success"],
        [200, "SUCCESS"],
        [200, "\uFEFFsuccess"],
        [500, "success"],
        [200, ""],
        [200, "success"]
      ]
      const sandbox = yield* payOne
      yield* sandbox.setDeliver((d) => answering(...answers[d.attempt - 1]!)(d))
      yield* TestClock.adjust("1 day")
      yield* sandbox.awaitDeliveries
      const [n] = yield* sandbox.notifications
      assert.deepStrictEqual(
        n!.attempts.map((a) => a.acknowledged),
        [false, false, false, false, false, false, true]
      )
      assert.deepStrictEqual(
        n!.attempts.map((a) => (a.result._tag === "Answered" ? text(a.result.body) : a.result.message)),
        answers.map(([, body]) => body)
      )
    }).pipe(Effect.provide(layer()))
  )

  it.effect("a receiver that fails, dies or never answers is a failed attempt, and retried", () =>
    Effect.gen(function* () {
      const sandbox = yield* payOne
      yield* sandbox.setDeliver((d) =>
        d.attempt === 1
          ? Effect.fail(new Sandbox.DeliveryError({ message: "connection refused" }))
          : d.attempt === 2
            ? Effect.die("boom")
            : d.attempt === 3
              ? Effect.never
              : answering(200, "success")(d)
      )
      yield* TestClock.adjust("1 day")
      yield* sandbox.awaitDeliveries
      const [n] = yield* sandbox.notifications
      const results = n!.attempts.map((a) => a.result)
      assert.deepStrictEqual(results[0], { _tag: "Failed", message: "connection refused" })
      assert.isTrue(results[1]!._tag === "Failed" && results[1]!.message.includes("died"))
      assert.deepStrictEqual(results[2], { _tag: "Failed", message: "no answer within 15s" })
      // The third attempt timed out 15 s after it was sent; the schedule did not move.
      assert.deepStrictEqual(
        n!.attempts.map((a) => [a.at, a.answeredAt]),
        [
          [SCHEDULE[0], SCHEDULE[0]],
          [SCHEDULE[1], SCHEDULE[1]],
          [SCHEDULE[2], SCHEDULE[2]! + 15_000],
          [SCHEDULE[3], SCHEDULE[3]]
        ]
      )
      assert.strictEqual(n!.state, "acknowledged")
    }).pipe(Effect.provide(layer()))
  )
})

describe("notification content", () => {
  it.effect("each body verifies with the gateway key and decodes to the ledger's values", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.setDeliver(answering(200, "success"))
      yield* registerTask("任务-9", [["转账-9", PAYEE_A, "0.01"]], "100.00")
      yield* (yield* Client.Client).confirmByPlatform({
        outerTaskId: "任务-9",
        transfers: ["转账-9"],
        charset: "gbk",
        notifyUrl: NOTIFY_URL
      })
      const [assign, profit] = yield* sandbox.notifications
      const a = yield* Notification.decode(
        { body: assign!.body, contentType: assign!.contentType },
        { charset: "gbk" }
      )
      assert.strictEqual(a.charset, "gbk")
      assert.deepStrictEqual(a.fields, assign!.fields)
      assert.deepStrictEqual(Object.keys(a.form).sort(), ["notify_id", "notify_time", "xml"])
      assert.strictEqual(a.fields["transfer_amount"], "0.01")
      assert.strictEqual(a.fields["outer_transfer_no"], "转账-9")
      const p = yield* Notification.decode(
        { body: profit!.body, contentType: profit!.contentType },
        { charset: "gbk" }
      )
      assert.strictEqual(p.fields["service_charge"], "5.00")
      assert.strictEqual(p.fields["transfer_amount"], "100.00")
      // Not with another key.
      const forged = yield* Effect.flip(
        Notification.decode(
          { body: assign!.body, contentType: assign!.contentType },
          { charset: "gbk" }
        ).pipe(Effect.provide(TestKeys.otherVerifier))
      )
      assert.strictEqual(forged._tag, "SignatureError")
    }).pipe(Effect.provide(TestKeys.gatewayVerifier), Effect.provide(layer()))
  )

  it.effect("a generated gateway key signs everything; the client verifies with it", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      assert.notStrictEqual(sandbox.gatewayPublicKey, TestKeys.gatewayPublicKeyPem)
      yield* registerTask("t-gen", [["g1", PAYEE_A, "1.00"]])
      const outcome = yield* (yield* Client.Client).confirmByPlatform({
        outerTaskId: "t-gen",
        transfers: ["g1"]
      })
      assert.strictEqual(outcome._tag, "Confirmed")
      const [n] = yield* sandbox.notifications
      const wrong = yield* Effect.flip(
        Notification.decode({ body: n!.body, contentType: n!.contentType }).pipe(
          Effect.provide(TestKeys.gatewayVerifier)
        )
      )
      assert.strictEqual(wrong._tag, "SignatureError")
      const right = yield* (yield* Client.Client).decodeNotification({
        body: n!.body,
        contentType: n!.contentType
      })
      assert.strictEqual(right.fields["outer_transfer_no"], "g1")
    }).pipe(Effect.provide(layer({ gatewayKey: "generate", deliver: () => Effect.never })))
  )
})
