import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import type * as Charset from "@witkey/core/Charset"
import * as Client from "@witkey/core/Client"
import type * as Notification from "@witkey/core/Notification"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Protocol from "@witkey/core/Protocol"
import { Effect, Layer, Schedule } from "effect"
import * as Http from "node:http"
import * as Fault from "../src/Fault.js"
import * as MemoryInbox from "../src/MemoryInbox.js"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxServer from "../src/SandboxServer.js"
import * as TestKeys from "../src/TestKeys.js"
import { PAYEE_A, PAYEE_B, registerTask } from "./Harness.js"
import * as HttpTransport from "./HttpTransport.js"

/** The sandbox on loopback, and a core Client reaching it over HTTP. */
const env = (charset: Charset.Charset = "utf-8") => {
  const server = SandboxServer.layerWithSandbox()
  const client = Layer.unwrapEffect(
    Effect.map(SandboxServer.SandboxServer, (s) =>
      NotificationReceiver.layerFromClient.pipe(
        Layer.provideMerge(
          Client.layer({
            partner: TestKeys.partnerId,
            gateway: s.gatewayUrl,
            charset,
            retry: Schedule.recurs(2)
          })
        )
      )
    )
  ).pipe(
    Layer.provide(
      Layer.mergeAll(TestKeys.partnerSigner, Sandbox.gatewayVerifier, HttpTransport.layer("2 seconds"))
    )
  )
  return Layer.mergeAll(client, MemoryInbox.layer).pipe(Layer.provideMerge(server))
}

/** The platform's notification endpoint on loopback: core's receiver, with notify_verify over HTTP. */
const startReceiver = Effect.gen(function* () {
  const processed: Array<Notification.Notification> = []
  const node = Http.createServer()
  const server = yield* NodeHttpServer.make(() => node, { port: 0, host: "127.0.0.1" })
  yield* server.serve(
    HttpRouter.empty.pipe(
      HttpRouter.post(
        "/notify",
        Effect.gen(function* () {
          const request = yield* HttpServerRequest.HttpServerRequest
          const body = new Uint8Array(yield* request.arrayBuffer)
          const result = yield* NotificationReceiver.receive(
            { body, contentType: request.headers["content-type"] },
            (n) => Effect.sync(() => void processed.push(n))
          )
          return HttpServerResponse.text(NotificationReceiver.answer(result), {
            status: NotificationReceiver.status(result)
          })
        })
      )
    )
  )
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  return { url: `http://127.0.0.1:${port}/notify`, processed }
})

describe("Sandbox over HTTP on loopback", () => {
  for (const charset of ["utf-8", "gbk", "gb2312"] as const) {
    it.live(`client, sandbox and receiver agree over HTTP in ${charset}`, () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const client = yield* Client.Client
        const receiver = yield* startReceiver
        const task = charset === "utf-8" ? "http-task-ü" : "网络任务-1"
        yield* registerTask(task, [
          ["网-1", PAYEE_A, "99.99"],
          ["网-2", PAYEE_B, "0.01"]
        ])
        const outcome = yield* client.confirmByPlatform({
          outerTaskId: task,
          transfers: ["网-1", "网-2"],
          notifyUrl: receiver.url
        })
        assert.strictEqual(outcome._tag, "Confirmed")
        yield* sandbox.awaitDeliveries
        const notifications = yield* sandbox.notifications
        assert.deepStrictEqual(
          notifications.map((n) => [n.subType, n.state, n.attempts.length]),
          [
            [Protocol.Notify.assign, "acknowledged", 1],
            [Protocol.Notify.assign, "acknowledged", 1],
            [Protocol.Notify.platformProfit, "acknowledged", 1]
          ]
        )
        assert.deepStrictEqual(
          receiver.processed.map((n) => [n.notifyId, n.fields["transfer_amount"], n.charset]).sort(),
          notifications.map((n) => [n.notifyId, n.fields["transfer_amount"], charset]).sort()
        )
        // The receiver asked notify_verify over HTTP for each one.
        const verifications = (yield* sandbox.calls).filter((c) => c.result._tag === "NotifyVerify")
        assert.deepStrictEqual(
          verifications.map((c) => c.result),
          notifications.map(() => ({ _tag: "NotifyVerify" as const, answer: "true" as const }))
        )
      }).pipe(Effect.scoped, Effect.provide(env(charset)))
    )
  }

  it.live("a reset and a hang after the payout: the client's re-send ends AlreadyConfirmed", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      const client = yield* Client.Client
      yield* registerTask("http-faults", [["h1", PAYEE_A, "5.00"]])
      yield* sandbox.queueAnswerFaults(Fault.drop({ mode: "reset" }), Fault.drop({ mode: "hang" }))
      const outcome = yield* client.confirmByPlatform({ outerTaskId: "http-faults", transfers: ["h1"] })
      assert.strictEqual(outcome._tag, "AlreadyConfirmed")
      assert.strictEqual(outcome.attempts, 3)
      assert.strictEqual((yield* sandbox.ledger).length, 2) // the transfer and the profit, once
    }).pipe(Effect.provide(env()))
  )

  it.live("only GET reaches the gateway; other paths are 404", () =>
    Effect.gen(function* () {
      const server = yield* SandboxServer.SandboxServer
      const post = yield* Effect.promise(() =>
        fetch(server.gatewayUrl, { method: "POST", body: "service=x" })
      )
      assert.strictEqual(post.status, 405)
      const other = yield* Effect.promise(() => fetch(`${server.url}/other.do?service=x`))
      assert.strictEqual(other.status, 404)
      const get = yield* Effect.promise(() => fetch(`${server.gatewayUrl}?service=x`))
      assert.strictEqual(get.status, 200)
      assert.include(yield* Effect.promise(() => get.text()), "<error>ILLEGAL_SERVICE</error>")
      assert.strictEqual(server.host, "127.0.0.1")
      assert.isTrue(server.port > 0)
    }).pipe(Effect.provide(SandboxServer.layerWithSandbox()))
  )
})
