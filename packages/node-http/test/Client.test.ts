// Core's Client over real HTTP: HttpTransport against a loopback gateway (PROTOCOL.md §7 outcomes).
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import type * as ErrorCode from "@witkey/core/ErrorCode"
import * as Protocol from "@witkey/core/Protocol"
import type { Scope } from "effect"
import type * as HttpServer from "@effect/platform/HttpServer"
import { Deferred, Effect, Either, Fiber, Layer, Schedule, TestClock } from "effect"
import * as HttpTransport from "../src/HttpTransport.js"
import * as FakeGateway from "./support/FakeGateway.js"
import * as Harness from "./support/Harness.js"
import * as Keys from "./support/Keys.js"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpServer.HttpServer>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest))

const input = (outerTaskId = "task-1", transfers: ReadonlyArray<string> = ["serial-1", "serial-2"]) => ({
  outerTaskId,
  transfers
})

/** Confirms through the harness's client; the answer as an Either so both sides can be asserted. */
const confirm = (h: Harness.Harness, i = input()) =>
  Effect.flatMap(Client.Client, (c) => Effect.either(c.confirmByPlatform(i))).pipe(Effect.provide(h.context))

const unknownOf = (result: Either.Either<Client.Outcome, Client.ConfirmError>): Client.UnknownOutcome => {
  assert.isTrue(Either.isLeft(result), "expected a failure")
  const error = (result as Either.Left<Client.ConfirmError, Client.Outcome>).left
  assert.strictEqual(
    error._tag,
    "UnknownOutcome",
    `expected UnknownOutcome, got ${error._tag}: ${error.message}`
  )
  return error as Client.UnknownOutcome
}

const noRetry = Schedule.stop as Schedule.Schedule<unknown, Client.UnknownOutcome>
const resendOnce = Schedule.recurs(1) as Schedule.Schedule<unknown, Client.UnknownOutcome>

describe("Client over HttpTransport", () => {
  it.effect("confirmed: a signed T after the gateway verified our signature", () =>
    run(
      Effect.gen(function* () {
        const h = yield* Harness.make({ retry: noRetry })
        const result = yield* confirm(h)
        assert.isTrue(Either.isRight(result))
        const outcome = Either.getOrThrow(result)
        assert.strictEqual(outcome._tag, "Confirmed")
        assert.strictEqual(outcome.attempts, 1)
        assert.deepStrictEqual([...h.gateway.paid].sort(), ["serial-1", "serial-2"])
        assert.strictEqual(FakeGateway.confirmRequests(h.gateway).length, 1)
      })
    )
  )

  it.effect("already confirmed: a repeat is ALREADY_PAID, a success that keeps the code", () =>
    run(
      Effect.gen(function* () {
        const h = yield* Harness.make({ retry: noRetry })
        assert.strictEqual(Either.getOrThrow(yield* confirm(h))._tag, "Confirmed")
        const again = Either.getOrThrow(yield* confirm(h))
        assert.strictEqual(again._tag, "AlreadyConfirmed")
        if (again._tag !== "AlreadyConfirmed") return
        assert.strictEqual(again.code, Protocol.ALREADY_PAID_CODE)
        assert.isFalse(again.afterResend)
        assert.strictEqual(again.attempts, 1)
      })
    )
  )

  const categories: ReadonlyArray<readonly [ErrorCode.Category, string]> = [
    ["signature", "ILLEGAL_SIGN_TYPE"],
    ["configuration", "ILLEGAL_PARTNER"],
    ["argument", "ILLEGAL_ARGUMENT"],
    ["business", "WITKEY_TASK_NOT_EXIST"],
    ["system", "SYSTEM_ERROR"],
    ["unknown", "SOMETHING_NEW_FROM_ALIPAY"]
  ]
  for (const [category, code] of categories) {
    it.effect(`rejected (${category}): ${code} is a typed rejection, not re-sent`, () =>
      run(
        Effect.gen(function* () {
          const h = yield* Harness.make({ retry: Schedule.recurs(3) })
          h.gateway.script.push({ _tag: "Reject", code })
          const result = yield* confirm(h)
          assert.isTrue(Either.isLeft(result))
          const error = (result as Either.Left<Client.ConfirmError, Client.Outcome>).left
          assert.strictEqual(error._tag, "GatewayRejected")
          if (error._tag !== "GatewayRejected") return
          assert.strictEqual(error.code, code)
          assert.strictEqual(error.category, category)
          assert.strictEqual(FakeGateway.confirmRequests(h.gateway).length, 1)
          assert.strictEqual(h.gateway.paid.size, 0)
        })
      )
    )
  }

  it.effect("rejected: a request signed with a key the gateway does not know gets ILLEGAL_SIGN", () =>
    run(
      Effect.gen(function* () {
        const h = yield* Harness.make({ retry: noRetry })
        const foreign = Client.layer({ partner: Keys.PARTNER, gateway: h.gatewayUrl, retry: noRetry }).pipe(
          Layer.provide(
            Layer.mergeAll(
              Harness.signerLayer("other_private"),
              Harness.verifierLayer,
              HttpTransport.layerNode()
            )
          )
        )
        const result = yield* Effect.flatMap(Client.Client, (c) =>
          Effect.either(c.confirmByPlatform(input()))
        ).pipe(Effect.provide(foreign))
        const error = Either.getLeft(result)
        assert.isTrue(error._tag === "Some" && error.value._tag === "GatewayRejected")
        if (error._tag === "Some" && error.value._tag === "GatewayRejected") {
          assert.strictEqual(error.value.code, "ILLEGAL_SIGN")
          assert.strictEqual(error.value.category, "signature")
        }
      })
    )
  )

  it.effect("timeout: no answer is an unknown outcome that may have reached the gateway", () =>
    run(
      Effect.gen(function* () {
        const h = yield* Harness.make({ retry: noRetry, transport: { timeout: "5 seconds" } })
        h.gateway.script.push({ _tag: "Hang" })
        const arrived = yield* FakeGateway.expectArrival(h.gateway)
        const fiber = yield* Effect.fork(confirm(h))
        yield* Deferred.await(arrived)
        yield* TestClock.adjust("5 seconds")
        const error = unknownOf(yield* Fiber.join(fiber))
        assert.strictEqual(error.reason, "transport")
        assert.isTrue(error.mayHaveReached)
        assert.include(error.message, "timeout")
      })
    )
  )

  it.effect("5xx: an unknown outcome", () =>
    run(
      Effect.gen(function* () {
        const h = yield* Harness.make({ retry: noRetry })
        h.gateway.script.push({ _tag: "Status", status: 502 })
        const error = unknownOf(yield* confirm(h))
        assert.strictEqual(error.reason, "http_status")
        assert.isTrue(error.mayHaveReached)
        assert.strictEqual(h.gateway.paid.size, 0)
      })
    )
  )

  it.effect("5xx: the identical re-send is confirmed", () =>
    run(
      Effect.gen(function* () {
        const h2 = yield* Harness.make({ retry: resendOnce })
        h2.gateway.script.push({ _tag: "Status", status: 503, body: "<html>busy</html>" })
        const outcome = Either.getOrThrow(yield* confirm(h2))
        assert.strictEqual(outcome._tag, "Confirmed")
        assert.strictEqual(outcome.attempts, 2)
        const [first, second] = FakeGateway.confirmRequests(h2.gateway)
        assert.strictEqual(first!.target, second!.target)
      })
    )
  )

  const unverifiable: ReadonlyArray<
    readonly [string, FakeGateway.Behavior, Client.UnknownOutcome["reason"]]
  > = [
    [
      "truncated XML",
      { _tag: "Raw", body: "<alipay><is_success>T</is_success><response><task_info><outer_" },
      "malformed"
    ],
    [
      "an unsigned T",
      {
        _tag: "Raw",
        body: "<alipay><is_success>T</is_success><response><task_info><outer_task_id>task-1</outer_task_id></task_info></response></alipay>"
      },
      "signature"
    ],
    [
      "a T with sign_type RSA",
      { _tag: "Raw", body: FakeGateway.signedSuccess("task-1", { signType: "RSA" }) },
      "signature"
    ],
    [
      "a T with sign_type dsa",
      { _tag: "Raw", body: FakeGateway.signedSuccess("task-1", { signType: "dsa" }) },
      "signature"
    ],
    [
      "a T signed with another key",
      { _tag: "Raw", body: FakeGateway.signedSuccess("task-1", { key: "other_private" }) },
      "signature"
    ],
    ["a T for another task", { _tag: "Raw", body: FakeGateway.signedSuccess("task-2") }, "mismatched_task"],
    [
      "a body that is not XML",
      { _tag: "Raw", body: "<html>gateway maintenance</html>", contentType: "text/html" },
      "malformed"
    ]
  ]
  for (const [name, behavior, reason] of unverifiable) {
    it.effect(`${name} is not a success: unknown outcome (${reason})`, () =>
      run(
        Effect.gen(function* () {
          const h = yield* Harness.make({ retry: noRetry })
          h.gateway.script.push(behavior)
          const error = unknownOf(yield* confirm(h))
          assert.strictEqual(error.reason, reason)
          assert.isTrue(error.mayHaveReached)
          assert.strictEqual(error.attempts, 1)
        })
      )
    )
  }

  it.effect("a refused connection: unknown outcome that provably never reached the gateway", () =>
    run(
      Effect.gen(function* () {
        const closed = Client.layer({
          partner: Keys.PARTNER,
          gateway: "http://127.0.0.1:1/gateway.do",
          retry: noRetry
        }).pipe(Layer.provide(Layer.merge(Harness.cryptoLayer, HttpTransport.layerNode())))
        const result = yield* Effect.flatMap(Client.Client, (c) =>
          Effect.either(c.confirmByPlatform(input()))
        ).pipe(Effect.provide(closed))
        const error = unknownOf(result)
        assert.strictEqual(error.reason, "transport")
        assert.isFalse(error.mayHaveReached)
      })
    )
  )

  it.effect("a lost answer is resolved by the re-send: already confirmed after re-send, byte-identical", () =>
    run(
      Effect.gen(function* () {
        const h = yield* Harness.make({ retry: resendOnce })
        h.gateway.script.push({ _tag: "PayThenDrop" })
        const outcome = Either.getOrThrow(yield* confirm(h))
        assert.strictEqual(outcome._tag, "AlreadyConfirmed")
        if (outcome._tag !== "AlreadyConfirmed") return
        assert.isTrue(outcome.afterResend)
        assert.strictEqual(outcome.attempts, 2)
        assert.strictEqual(outcome.code, Protocol.ALREADY_PAID_CODE)
        const requests = FakeGateway.confirmRequests(h.gateway)
        assert.strictEqual(requests.length, 2)
        assert.strictEqual(requests[0]!.target, requests[1]!.target)
        assert.strictEqual(`${h.base}${requests[0]!.target}`, outcome.request.url)
      })
    )
  )

  it.effect("a truncated answer after payment is resolved the same way", () =>
    run(
      Effect.gen(function* () {
        const h = yield* Harness.make({ retry: resendOnce })
        h.gateway.script.push({ _tag: "PayThenTruncate" })
        const outcome = Either.getOrThrow(yield* confirm(h))
        assert.strictEqual(outcome._tag, "AlreadyConfirmed")
        assert.isTrue(outcome._tag === "AlreadyConfirmed" && outcome.afterResend)
      })
    )
  )

  it.effect(
    "the default schedule re-sends 3 times, 1 s, 2 s and 4 s apart, then reports the unknown outcome",
    () =>
      run(
        Effect.gen(function* () {
          const h = yield* Harness.make()
          for (let i = 0; i < 4; i++) h.gateway.script.push({ _tag: "Status", status: 500 })
          const count = () => FakeGateway.confirmRequests(h.gateway).length
          /** Waits (bounded) for the n-th request to arrive. */
          const until = (n: number) =>
            Effect.gen(function* () {
              for (let i = 0; i < 10_000 && count() < n; i++)
                yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
              assert.strictEqual(count(), n)
            })
          /** Gives an early (wrong) re-send real time to show up. */
          const settle = Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
          const fiber = yield* Effect.fork(confirm(h))
          yield* until(1)
          yield* TestClock.adjust("999 millis")
          yield* settle
          assert.strictEqual(count(), 1)
          yield* TestClock.adjust("1 millis")
          yield* until(2)
          yield* TestClock.adjust("1999 millis")
          yield* settle
          assert.strictEqual(count(), 2)
          yield* TestClock.adjust("1 millis")
          yield* until(3)
          yield* TestClock.adjust("4 seconds")
          yield* until(4)
          const error = unknownOf(yield* Fiber.join(fiber))
          assert.strictEqual(error.reason, "http_status")
          assert.strictEqual(error.attempts, 4)
          const targets = new Set(FakeGateway.confirmRequests(h.gateway).map((r) => r.target))
          assert.strictEqual(targets.size, 1)
        })
      )
  )
})
