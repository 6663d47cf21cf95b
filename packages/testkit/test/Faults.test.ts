import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as Inbox from "@witkey/core/Inbox"
import * as Protocol from "@witkey/core/Protocol"
import { Effect, Either, Fiber, Option, Schedule, TestClock } from "effect"
import * as Fault from "../src/Fault.js"
import * as Sandbox from "../src/Sandbox.js"
import * as TestKeys from "../src/TestKeys.js"
import type { Receiver } from "./Harness.js"
import { layer, NOTIFY_URL, PAYEE_A, PAYEE_B, receiver, registerTask, text } from "./Harness.js"

const setup = Effect.zipRight(
  registerTask("t-f", [
    ["f1", PAYEE_A, "10.00"],
    ["f2", PAYEE_B, "20.00"]
  ]),
  Sandbox.Sandbox
)

const confirm = (transfers: ReadonlyArray<string> = ["f1"]) =>
  Effect.flatMap(Client.Client, (client) =>
    Effect.either(client.confirmByPlatform({ outerTaskId: "t-f", transfers, notifyUrl: NOTIFY_URL }))
  )

const paidSerials = (sandbox: Sandbox.Sandbox) =>
  Effect.map(sandbox.ledger, (entries) => entries.flatMap((e) => (e._tag === "Transfer" ? [e.serial] : [])))

const noRetry = layer({ deliver: () => Effect.never }, { retry: Schedule.stop })
const withRetry = layer({ deliver: () => Effect.never })

describe("answer faults", () => {
  it.effect("drop after the payout: unknown outcome, and the re-send is AlreadyConfirmed", () =>
    Effect.gen(function* () {
      const sandbox = yield* setup
      yield* sandbox.queueAnswerFaults(Fault.drop())
      const first = yield* confirm()
      assert.isTrue(Either.isLeft(first))
      const e = Either.getLeft(first).pipe(Option.getOrThrow)
      assert.strictEqual(e._tag, "UnknownOutcome")
      assert.isTrue(e._tag === "UnknownOutcome" && e.reason === "transport" && e.mayHaveReached)
      assert.deepStrictEqual(yield* paidSerials(sandbox), ["f1"])
      const [call] = yield* sandbox.calls
      assert.isUndefined(call!.response)
      assert.deepStrictEqual(call!.result, { _tag: "Success", paid: ["f1"] })
    }).pipe(Effect.provide(noRetry))
  )

  it.effect("with re-sends the client ends AlreadyConfirmed after a lost answer", () =>
    Effect.gen(function* () {
      const sandbox = yield* setup
      yield* sandbox.queueAnswerFaults(Fault.drop({ mode: "reset" }), Fault.serverError(503))
      const outcome = yield* confirm()
      assert.isTrue(Either.isRight(outcome))
      const o = Either.getOrThrow(outcome)
      assert.strictEqual(o._tag, "AlreadyConfirmed")
      assert.isTrue(
        o._tag === "AlreadyConfirmed" &&
          o.afterResend &&
          o.attempts === 3 &&
          o.code === Protocol.ALREADY_PAID_CODE
      )
      assert.deepStrictEqual(yield* paidSerials(sandbox), ["f1"])
      assert.strictEqual((yield* sandbox.calls).length, 3)
    }).pipe(Effect.provide(withRetry))
  )

  it.effect("an unapplied drop: the re-send is the one that pays, and is Confirmed", () =>
    Effect.gen(function* () {
      const sandbox = yield* setup
      yield* sandbox.queueAnswerFaults(
        Fault.drop({ applied: false }),
        Fault.serverError(502, { applied: false })
      )
      const o = Either.getOrThrow(yield* confirm())
      assert.strictEqual(o._tag, "Confirmed")
      assert.strictEqual(o.attempts, 3)
      const calls = yield* sandbox.calls
      assert.deepStrictEqual(
        calls.map((c) => c.result._tag),
        ["NotProcessed", "NotProcessed", "Success"]
      )
    }).pipe(Effect.provide(withRetry))
  )

  it.effect(
    "in-process drops are TransportErrors that may have reached: hang is a timeout, reset a network error",
    () =>
      Effect.gen(function* () {
        const sandbox = yield* setup
        yield* sandbox.queueAnswerFaults(
          Fault.drop({ mode: "hang" }),
          Fault.drop({ mode: "reset", applied: false })
        )
        const hang = yield* Effect.flip(sandbox.handle("https://x.invalid/gateway.do?service=x"))
        const reset = yield* Effect.flip(sandbox.handle("https://x.invalid/gateway.do?service=x"))
        assert.deepStrictEqual([hang.reason, hang.mayHaveReached], ["timeout", true])
        assert.deepStrictEqual([reset.reason, reset.mayHaveReached], ["network", true])
      }).pipe(Effect.provide(noRetry))
  )

  const unknownCases: ReadonlyArray<readonly [string, Fault.AnswerFault, string]> = [
    ["5xx", Fault.serverError(503), "http_status"],
    ["truncated XML", Fault.truncated, "malformed"],
    ["an unsigned T", Fault.unsigned, "signature"],
    ["a wrong signature", Fault.wrongSignature, "signature"],
    [
      "a raw answer",
      Fault.raw({ status: 200, body: new TextEncoder().encode("OK"), contentType: "text/plain" }),
      "malformed"
    ]
  ]
  for (const [name, fault, reason] of unknownCases) {
    it.effect(`${name} is an unknown outcome (${reason})`, () =>
      Effect.gen(function* () {
        const sandbox = yield* setup
        yield* sandbox.queueAnswerFaults(fault)
        const e = Either.getLeft(yield* confirm()).pipe(Option.getOrThrow)
        assert.strictEqual(e._tag, "UnknownOutcome")
        assert.strictEqual((e as Client.UnknownOutcome).reason, reason)
        // Processing faults paid; the raw answer replaced processing.
        assert.deepStrictEqual(yield* paidSerials(sandbox), fault._tag === "Raw" ? [] : ["f1"])
      }).pipe(Effect.provide(noRetry))
    )
  }

  it.effect("the wrong signature is a real signature by another key over the right content", () =>
    Effect.gen(function* () {
      const sandbox = yield* setup
      yield* sandbox.queueAnswerFaults(Fault.wrongSignature, Fault.unsigned)
      yield* confirm()
      yield* confirm(["f2"])
      const [wrong, unsigned] = yield* sandbox.calls
      const byOther = yield* GatewayResponse.decode(wrong!.response!, "utf-8").pipe(
        Effect.provide(TestKeys.otherVerifier)
      )
      assert.strictEqual(byOther.outerTaskId, "t-f")
      assert.include(text(unsigned!.response!.body), "<is_success>T</is_success>")
      assert.notInclude(text(unsigned!.response!.body), "<sign>")
    }).pipe(Effect.provide(noRetry))
  )

  it.effect("a truncated answer is the first half of the real one", () =>
    Effect.gen(function* () {
      const sandbox = yield* setup
      yield* sandbox.queueAnswerFaults(Fault.truncated)
      yield* confirm()
      yield* confirm()
      const [cut, full] = yield* sandbox.calls
      // The second answer is ALREADY_PAID; compare the cut one with a rebuilt prefix instead.
      assert.include(text(cut!.response!.body), "<is_success>T</is_success>")
      assert.isFalse(text(cut!.response!.body).endsWith("</alipay>"))
      assert.strictEqual(text(full!.response!.body).endsWith("</alipay>"), true)
    }).pipe(Effect.provide(noRetry))
  )

  it.effect("reject answers F with the code and pays nothing; the client does not re-send a rejection", () =>
    Effect.gen(function* () {
      const sandbox = yield* setup
      yield* sandbox.queueAnswerFaults(Fault.reject("SYSTEM_ERROR"))
      const e = Either.getLeft(yield* confirm()).pipe(Option.getOrThrow)
      assert.strictEqual(e._tag, "GatewayRejected")
      assert.strictEqual((e as GatewayResponse.GatewayRejected).code, "SYSTEM_ERROR")
      assert.strictEqual((e as GatewayResponse.GatewayRejected).category, "system")
      assert.deepStrictEqual(yield* paidSerials(sandbox), [])
      assert.strictEqual((yield* sandbox.calls).length, 1)
    }).pipe(Effect.provide(withRetry))
  )

  it.effect("delay holds the answer on the Clock; the payout is already done", () =>
    Effect.gen(function* () {
      const sandbox = yield* setup
      yield* sandbox.queueAnswerFaults(Fault.delay("5 seconds"))
      const fiber = yield* Effect.fork(confirm())
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      assert.deepStrictEqual(yield* paidSerials(sandbox), ["f1"])
      yield* TestClock.adjust("1 millis")
      const outcome = yield* Fiber.join(fiber)
      assert.strictEqual(Either.getOrThrow(outcome)._tag, "Confirmed")
    }).pipe(Effect.provide(noRetry))
  )

  it.effect("seeded random faults are deterministic", () =>
    Effect.gen(function* () {
      const run = (seed: number) =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox.Sandbox
          for (let i = 0; i < 30; i++)
            yield* Effect.either(sandbox.handle("https://x.invalid/gateway.do?service=x"))
          return (yield* sandbox.calls).map((c) => (c.fault === undefined ? "-" : JSON.stringify(c.fault)))
        }).pipe(Effect.provide(Sandbox.layer({ faults: { seed, answerRate: 0.5 } })))
      const a = yield* run(7)
      const b = yield* run(7)
      const c = yield* run(8)
      assert.deepStrictEqual(a, b)
      assert.notDeepEqual(a, c)
      const faulted = a.filter((f) => f !== "-").length
      assert.isTrue(faulted > 5 && faulted < 25, `${faulted} of 30 faulted`)
    })
  )
})

describe("notification faults", () => {
  const withReceiver = <A, E, R>(f: (sandbox: Sandbox.Sandbox, r: Receiver) => Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const sandbox = yield* setup
      const r = yield* receiver()
      yield* sandbox.setDeliver(r.deliver)
      return yield* f(sandbox, r)
    })

  it.effect("duplicate: the first delivery arrives twice at once; the handler runs once", () =>
    withReceiver((sandbox, r) =>
      Effect.gen(function* () {
        yield* sandbox.queueNotifyFaults(Fault.duplicate)
        yield* confirm()
        yield* sandbox.awaitDeliveries
        const [n] = yield* sandbox.notifications
        assert.deepStrictEqual(
          n!.attempts.map((a) => [a.attempt, a.copy, a.at]).sort((x, y) => x[1]! - y[1]!),
          [
            [1, 1, 0],
            [1, 2, 0]
          ]
        )
        assert.strictEqual(r.processed.length, 1)
        // Both copies were answered `success`; the handler ran for one of them.
        assert.deepStrictEqual(
          r.results.map((x) => x._tag),
          ["Acknowledged", "Acknowledged"]
        )
        assert.isTrue(n!.attempts.every((a) => a.acknowledged))
      })
    ).pipe(Effect.provide(withRetry))
  )

  it.effect("late: nothing arrives before the delay", () =>
    withReceiver((sandbox, r) =>
      Effect.gen(function* () {
        yield* sandbox.queueNotifyFaults(Fault.late("2 hours"))
        yield* confirm()
        yield* TestClock.adjust("119 minutes")
        assert.strictEqual(r.processed.length, 0)
        assert.strictEqual(yield* sandbox.pendingDeliveries, 1)
        yield* TestClock.adjust("1 minute")
        yield* sandbox.awaitDeliveries
        const [n] = yield* sandbox.notifications
        assert.deepStrictEqual(
          n!.attempts.map((a) => a.at),
          [2 * 3600_000]
        )
        assert.strictEqual(r.processed.length, 1)
      })
    ).pipe(Effect.provide(withRetry))
  )

  it.effect("reorder: the batch arrives last-first (the profit before the bounties)", () =>
    withReceiver((sandbox, r) =>
      Effect.gen(function* () {
        yield* sandbox.queueNotifyFaults(Fault.reorder)
        yield* confirm(["f1", "f2"])
        yield* TestClock.adjust("10 seconds")
        yield* sandbox.awaitDeliveries
        assert.deepStrictEqual(
          r.processed.map((n) => (n.payload._tag === "Assign" ? n.payload.outerTransferNo : n.payload._tag)),
          ["PlatformProfit", "f2", "f1"]
        )
      })
    ).pipe(Effect.provide(withRetry))
  )

  it.effect("malformed Content-Type: sent as Alipay does, still accepted by core's receiver", () =>
    withReceiver((sandbox, r) =>
      Effect.gen(function* () {
        yield* sandbox.queueNotifyFaults(Fault.malformedContentType)
        yield* confirm()
        yield* sandbox.awaitDeliveries
        const [n] = yield* sandbox.notifications
        assert.strictEqual(n!.contentType, "application/x-www-form-urlencoded; text/html; charset=utf-8")
        assert.strictEqual(n!.state, "acknowledged")
        assert.strictEqual(r.processed.length, 1)
      })
    ).pipe(Effect.provide(withRetry))
  )

  it.effect("reissue: the same event under a new notify_id; the inbox sees a business-key duplicate", () =>
    withReceiver((sandbox, r) =>
      Effect.gen(function* () {
        yield* sandbox.queueNotifyFaults(Fault.reissue("30 minutes"))
        yield* confirm()
        yield* TestClock.adjust("30 minutes")
        yield* sandbox.awaitDeliveries
        const [original, again] = yield* sandbox.notifications
        assert.strictEqual(again!.reissueOf, original!.notifyId)
        assert.notStrictEqual(again!.notifyId, original!.notifyId)
        assert.deepStrictEqual(again!.fields, original!.fields)
        assert.deepStrictEqual(
          again!.attempts.map((a) => a.at),
          [30 * 60_000]
        )
        assert.strictEqual(r.processed.length, 1)
        const entry = Option.getOrThrow(yield* (yield* Inbox.Inbox).get(again!.notifyId))
        assert.strictEqual(entry.duplicateOf, original!.notifyId)
      })
    ).pipe(Effect.provide(withRetry))
  )
})
