// End to end against @witkey/testkit's sandbox over loopback HTTP: the client's calls go through HttpTransport
// to SandboxServer, and the sandbox POSTs its notifications to the NotificationEndpoint, which asks the
// sandbox's notify_verify through HttpTransport again.
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import type * as Notification from "@witkey/core/Notification"
import * as Fault from "@witkey/testkit/Fault"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import * as NotificationSigner from "@witkey/testkit/NotificationSigner"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxServer from "@witkey/testkit/SandboxServer"
import * as TestKeys from "@witkey/testkit/TestKeys"
import type { Scope } from "effect"
import { Effect, Either, Layer, Schedule, TestClock } from "effect"
import * as HttpTransport from "../src/HttpTransport.js"
import * as NotificationEndpoint from "../src/NotificationEndpoint.js"
import * as Harness from "./support/Harness.js"
import * as RawHttp from "./support/RawHttp.js"

const PAYEE_A = "2088102122524333"
const PAYEE_B = "2088102122524334"

class HandlerFailed {
  readonly _tag = "HandlerFailed"
}

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpServer.HttpServer>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest))

/** The sandbox on its own loopback server, the endpoint on the test server, a client between them. */
const setup = (
  options: {
    readonly failures?: number
    readonly retry?: Schedule.Schedule<unknown, Client.UnknownOutcome>
  } = {}
) =>
  Effect.gen(function* () {
    const sandbox = yield* Sandbox.make()
    const server = yield* SandboxServer.make().pipe(Effect.provideService(Sandbox.Sandbox, sandbox))
    const notifyUrl = `http://127.0.0.1:${yield* Harness.port}${Harness.NOTIFY_PATH}`
    const clientLayer = Client.layer({
      partner: TestKeys.partnerId,
      gateway: server.gatewayUrl,
      notifyUrl,
      retry: options.retry ?? Schedule.recurs(2)
    }).pipe(Layer.provide(Layer.merge(TestKeys.clientKeys, HttpTransport.layerNode())))
    const context = yield* Layer.build(
      Layer.merge(
        NotificationReceiver.layerFromClient.pipe(Layer.provideMerge(clientLayer)),
        MemoryInbox.layer
      )
    )
    const handled: Array<Notification.Notification> = []
    let failures = options.failures ?? 0
    const handler = (n: Notification.Notification) =>
      Effect.suspend(() => {
        handled.push(n)
        if (failures > 0) {
          failures--
          return Effect.fail(new HandlerFailed())
        }
        return Effect.void
      })
    const logs: Array<Harness.LogLine> = []
    yield* HttpServer.serveEffect(
      HttpRouter.empty.pipe(
        HttpRouter.concat(HttpRouter.fromIterable([NotificationEndpoint.route(Harness.NOTIFY_PATH, handler)]))
      )
    ).pipe(Effect.provide(context), Harness.capturingLogs(logs))
    const confirm = (outerTaskId: string, transfers: ReadonlyArray<string>) =>
      Effect.flatMap(Client.Client, (c) =>
        Effect.either(c.confirmByPlatform({ outerTaskId, transfers }))
      ).pipe(Effect.provide(context))
    const register = (
      outerTaskId: string,
      transfers: ReadonlyArray<readonly [string, string, string]>,
      serviceFee = "30.00"
    ) =>
      sandbox.registerTask({
        partner: TestKeys.partnerId,
        outerTaskId,
        transfers: transfers.map(([serial, payeeUserId, amount]) => ({ serial, payeeUserId, amount })),
        serviceFee,
        platformAccount: TestKeys.platformUserId
      })
    /** Lets the delivery fibers start (they sleep on the Clock), then waits until every delivery is over. */
    const delivered = TestClock.adjust(0).pipe(Effect.zipRight(sandbox.awaitDeliveries))
    return { sandbox, server, notifyUrl, context, handled, confirm, register, delivered, logs }
  })

describe("against the testkit sandbox", () => {
  it.effect("a payout is confirmed, and each notification is verified, handled once and acknowledged", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup()
        yield* t.register("task-1", [
          ["s-1", PAYEE_A, "120.00"],
          ["s-2", PAYEE_B, "80.50"]
        ])
        const outcome = yield* t.confirm("task-1", ["s-1", "s-2"])
        assert.strictEqual(
          Either.getOrThrowWith(outcome, (e) => new Error(`${e._tag}: ${e.message}`))._tag,
          "Confirmed"
        )
        yield* t.delivered
        const notifications = yield* t.sandbox.notifications
        assert.strictEqual(notifications.length, 3) // two ASSIGN and the PLATFORM_PROFIT
        for (const n of notifications) {
          assert.strictEqual(n.state, "acknowledged")
          assert.strictEqual(n.attempts.length, 1)
        }
        assert.deepStrictEqual(t.handled.map((n) => n.payload._tag).sort(), [
          "Assign",
          "Assign",
          "PlatformProfit"
        ])
        const verifies = (yield* t.sandbox.calls).filter((c) => c.result._tag === "NotifyVerify")
        assert.strictEqual(verifies.length, 3)
        assert.isTrue(verifies.every((c) => c.result._tag === "NotifyVerify" && c.result.answer === "true"))
      })
    )
  )

  const lost: ReadonlyArray<readonly [string, Fault.AnswerFault]> = [
    ["a reset after the payout", Fault.drop({ mode: "reset", applied: true })],
    ["a 502 after the payout", Fault.serverError(502, { applied: true })],
    ["a truncated answer", Fault.truncated]
  ]
  for (const [name, fault] of lost) {
    it.effect(`${name}: the re-send resolves it as already confirmed, and nothing is paid twice`, () =>
      run(
        Effect.gen(function* () {
          const t = yield* setup()
          yield* t.register("task-1", [["s-1", PAYEE_A, "120.00"]])
          yield* t.sandbox.queueAnswerFaults(fault)
          const outcome = Either.getOrThrow(yield* t.confirm("task-1", ["s-1"]))
          assert.strictEqual(outcome._tag, "AlreadyConfirmed")
          assert.isTrue(outcome._tag === "AlreadyConfirmed" && outcome.afterResend)
          const confirms = (yield* t.sandbox.calls).filter((c) => c.result._tag !== "NotifyVerify")
          assert.strictEqual(confirms.length, 2)
          assert.strictEqual(confirms[0]!.url, confirms[1]!.url)
          const ledger = yield* t.sandbox.ledger
          assert.strictEqual(ledger.filter((e) => e._tag === "Transfer").length, 1)
          yield* t.delivered
          assert.strictEqual(t.handled.filter((n) => n.payload._tag === "Assign").length, 1)
        })
      )
    )
  }

  // A T that does not verify is not re-sent: the re-send's unsigned ALREADY_PAID would hide a wrong key.
  const untrusted: ReadonlyArray<readonly [string, Fault.AnswerFault]> = [
    ["an unsigned T", Fault.unsigned],
    ["a T signed with another key", Fault.wrongSignature]
  ]
  for (const [name, fault] of untrusted) {
    it.effect(
      `${name}: an unknown outcome at once, not re-sent; the notifications still tell the truth`,
      () =>
        run(
          Effect.gen(function* () {
            const t = yield* setup()
            yield* t.register("task-1", [["s-1", PAYEE_A, "120.00"]])
            yield* t.sandbox.queueAnswerFaults(fault)
            const result = yield* t.confirm("task-1", ["s-1"])
            const error = Either.getLeft(result)
            assert.isTrue(
              error._tag === "Some" &&
                error.value._tag === "UnknownOutcome" &&
                error.value.reason === "signature",
              JSON.stringify(result)
            )
            const confirms = (yield* t.sandbox.calls).filter((c) => c.result._tag !== "NotifyVerify")
            assert.strictEqual(confirms.length, 1)
            const ledger = yield* t.sandbox.ledger
            assert.strictEqual(ledger.filter((e) => e._tag === "Transfer").length, 1)
            yield* t.delivered
            assert.strictEqual(t.handled.filter((n) => n.payload._tag === "Assign").length, 1)
          })
        )
    )
  }

  it.effect("a hanging gateway times out on the Clock; the re-send is already confirmed", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup({ retry: Schedule.recurs(1) })
        yield* t.register("task-1", [["s-1", PAYEE_A, "120.00"]])
        yield* t.sandbox.queueAnswerFaults(Fault.drop({ mode: "hang", applied: true }))
        const fiber = yield* Effect.fork(t.confirm("task-1", ["s-1"]))
        for (let i = 0; i < 10_000 && (yield* t.sandbox.calls).length === 0; i++)
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
        yield* TestClock.adjust(HttpTransport.DEFAULT_TIMEOUT)
        const outcome = Either.getOrThrow(yield* fiber)
        assert.strictEqual(outcome._tag, "AlreadyConfirmed")
        assert.isTrue(outcome._tag === "AlreadyConfirmed" && outcome.afterResend)
      })
    )
  )

  it.effect("a rejection comes back as a typed rejection with its category", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup()
        const result = yield* t.confirm("no-such-task", ["s-1"])
        const error = Either.getLeft(result)
        assert.isTrue(error._tag === "Some" && error.value._tag === "GatewayRejected")
        if (error._tag === "Some" && error.value._tag === "GatewayRejected") {
          assert.strictEqual(error.value.code, "WITKEY_TASK_NOT_EXIST")
          assert.strictEqual(error.value.category, "business")
        }
      })
    )
  )

  it.effect("duplicate and re-issued deliveries run the handler once per event", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup()
        yield* t.register("task-1", [["s-1", PAYEE_A, "120.00"]], "0")
        yield* t.register("task-2", [["s-2", PAYEE_B, "10.00"]], "0")
        yield* t.sandbox.queueNotifyFaults(Fault.duplicate, Fault.reissue("1 hour"))
        assert.isTrue(Either.isRight(yield* t.confirm("task-1", ["s-1"])))
        assert.isTrue(Either.isRight(yield* t.confirm("task-2", ["s-2"])))
        yield* TestClock.adjust(0)
        yield* TestClock.adjust("1 hour")
        yield* t.delivered
        const notifications = yield* t.sandbox.notifications
        assert.isTrue(notifications.length >= 3)
        assert.isTrue(notifications.every((n) => n.state === "acknowledged"))
        assert.deepStrictEqual(
          t.handled.map((n) => (n.payload._tag === "Assign" ? n.payload.outerTransferNo : "")).sort(),
          ["s-1", "s-2"]
        )
      })
    )
  )

  it.effect("a failing handler answers `fail`; Alipay's retry two minutes later is handled once", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup({ failures: 1 })
        yield* t.register("task-1", [["s-1", PAYEE_A, "120.00"]], "0")
        assert.isTrue(Either.isRight(yield* t.confirm("task-1", ["s-1"])))
        yield* TestClock.adjust(0)
        for (let i = 0; i < 10_000 && t.handled.length === 0; i++)
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
        yield* TestClock.adjust("2 minutes")
        yield* t.sandbox.awaitDeliveries
        const [n] = yield* t.sandbox.notifications
        assert.deepStrictEqual(
          n!.attempts.map((a) => a.acknowledged),
          [false, true]
        )
        assert.strictEqual(
          new TextDecoder().decode(
            n!.attempts[0]!.result._tag === "Answered" ? n!.attempts[0]!.result.body : new Uint8Array()
          ),
          "fail"
        )
        assert.strictEqual(t.handled.length, 2)
      })
    )
  )

  it.effect(
    "a notification the sandbox never sent is refused by notify_verify, even with a valid signature",
    () =>
      run(
        Effect.gen(function* () {
          const t = yield* setup()
          const signed = yield* NotificationSigner.sign({
            notifyId: "not-issued-by-the-sandbox",
            notifyTime: "2024-01-01 12:00:00",
            payload: NotificationSigner.assign({
              outerTaskId: "task-1",
              outerTransferNo: "s-1",
              transferAmount: "120.00",
              payeeUserId: PAYEE_A,
              gmtTransfer: "20240101120000"
            })
          }).pipe(Effect.provide(TestKeys.gatewaySigner))
          const answer = yield* RawHttp.post(
            t.notifyUrl,
            signed.body,
            signed.contentType ?? "application/x-www-form-urlencoded"
          )
          assert.strictEqual(answer.body.toString(), "fail")
          assert.strictEqual(t.handled.length, 0)
          const verifies = (yield* t.sandbox.calls).filter((c) => c.result._tag === "NotifyVerify")
          assert.deepStrictEqual(
            verifies.map((c) => c.result._tag === "NotifyVerify" && c.result.answer),
            ["false"]
          )
        })
      )
  )
})
