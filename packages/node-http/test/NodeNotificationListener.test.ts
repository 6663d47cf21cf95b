// The endpoint as a plain Node listener: on node:http, and on Express (loaded from the examples package, which
// has it) with and without a body parser in front.
import type * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import type * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import type * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import type { Scope } from "effect"
import { Effect, Fiber, Layer, ManagedRuntime } from "effect"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as NodeNotificationListener from "../src/NodeNotificationListener.js"
import type * as NotificationEndpoint from "../src/NotificationEndpoint.js"
import { assertRefused, partialBody } from "./support/BodyLimitSuite.js"
import * as BodyLimitSuite from "./support/BodyLimitSuite.js"
import * as Harness from "./support/Harness.js"
import * as Notifications from "./support/Notifications.js"
import * as RawHttp from "./support/RawHttp.js"

/** The little of Express these tests use (its types live in the examples package). */
interface ExpressApp {
  (req: http.IncomingMessage, res: http.ServerResponse): void
  use(handler: unknown): ExpressApp
  post(path: string, ...handlers: Array<unknown>): ExpressApp
}
interface ExpressModule {
  (): ExpressApp
  json(): unknown
  urlencoded(options: { extended: boolean }): unknown
  text(options: { type: string }): unknown
}
const express = createRequire(new URL("../../../examples/package.json", import.meta.url))(
  "express"
) as ExpressModule

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpServer.HttpServer>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest))

/** Listens on 127.0.0.1 for the life of the scope; the URL of `path`. */
const listen = (listener: http.RequestListener, path = Harness.NOTIFY_PATH) =>
  Effect.map(Harness.listenNode(listener), (base) => `${base}${path}`)

/** A harness (fake gateway for notify_verify, client, inbox) and a recording handler. */
const setupWith = (options: NotificationEndpoint.Options) =>
  Effect.gen(function* () {
    const h = yield* Harness.make()
    const handled: Array<Notification.Notification> = []
    const handler = (n: Notification.Notification) => Effect.sync(() => void handled.push(n))
    const logs: Array<Harness.LogLine> = []
    const listener = yield* NodeNotificationListener.make(handler, options).pipe(
      Effect.provide(h.context),
      Harness.capturingLogs(logs)
    )
    return { ...h, handled, handler, listener, logs }
  })
const setup = setupWith({})

const post = (url: string, body = Notifications.assign("n-1")) =>
  RawHttp.post(url, body, Notifications.CONTENT_TYPE)

describe("NodeNotificationListener", () => {
  it.effect("on node:http: a valid notification is handled once and answered exactly `success`", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup
        const url = yield* listen(t.listener)
        const answer = yield* post(url)
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(answer.body.toString("latin1"), "success")
        assert.strictEqual((yield* post(url)).body.toString("latin1"), "success")
        assert.strictEqual(t.handled.length, 1)
        const forged = Notifications.body({
          notifyId: "n-2",
          xml: Notifications.assignXml("task-1", "serial-9"),
          key: "other_private"
        })
        assert.strictEqual((yield* post(url, forged)).body.toString("latin1"), "fail")
        assert.strictEqual(t.handled.length, 1)
      })
    )
  )

  it.effect(
    "on Express, mounted before express.json(): form notifications pass, JSON routes still parse",
    () =>
      run(
        Effect.gen(function* () {
          const t = yield* setup
          const app = express()
          app.post(Harness.NOTIFY_PATH, t.listener)
          app.use(express.json())
          app.post("/echo", (req: http.IncomingMessage & { body: unknown }, res: http.ServerResponse) => {
            res.end(JSON.stringify(req.body))
          })
          const url = yield* listen(app)
          const answer = yield* post(url)
          assert.strictEqual(answer.body.toString("latin1"), "success")
          assert.strictEqual(t.handled.length, 1)
          const echo = yield* RawHttp.post(
            url.replace(Harness.NOTIFY_PATH, "/echo"),
            new TextEncoder().encode('{"a":1}'),
            "application/json"
          )
          assert.strictEqual(echo.body.toString(), '{"a":1}')
        })
      )
  )

  it.effect("on Express behind express.json(), a form body is still raw and passes", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup
        const app = express()
        app.use(express.json())
        app.post(Harness.NOTIFY_PATH, t.listener)
        const url = yield* listen(app)
        assert.strictEqual((yield* post(url)).body.toString("latin1"), "success")
        assert.strictEqual(t.handled.length, 1)
      })
    )
  )

  const parsers: ReadonlyArray<readonly [string, () => unknown]> = [
    ["express.urlencoded()", () => express.urlencoded({ extended: false })],
    ["express.text()", () => express.text({ type: "*/*" })]
  ]
  for (const [name, parser] of parsers) {
    it.effect(
      `on Express behind ${name}: refused with a logged error and \`fail\`, the handler never runs`,
      () =>
        run(
          Effect.gen(function* () {
            const told: Array<string> = []
            const t = yield* setupWith({ onBodyError: (e) => Effect.sync(() => void told.push(e.reason)) })
            const app = express()
            app.use(parser())
            app.post(Harness.NOTIFY_PATH, t.listener)
            const url = yield* listen(app)
            const answer = yield* post(url)
            assert.strictEqual(answer.status, 500)
            assert.strictEqual(answer.body.toString("latin1"), "fail")
            assert.strictEqual(t.handled.length, 0)
            const errors = t.logs.filter((l) => l.level === "ERROR")
            assert.strictEqual(errors.length, 1)
            assert.include(errors[0]!.message, "before any body parser")
            assert.deepStrictEqual(told, ["already_parsed"])
            // Nothing was verified or asked of the gateway.
            assert.strictEqual(t.gateway.received.length, 0)
          })
        )
    )
  }

  // The listener reads Node's request itself (not through the platform's HttpApp): the shared body-limit suite
  // below runs on it; these are the cases only a Node listener has.
  // The live Clock takes another path (a plain timer instead of Effect's timeout): the same rule on real time.
  it.live("on the live Clock, a slow body is cut off by the read timeout with 408, a prompt one is not", () =>
    run(
      Effect.gen(function* () {
        const told: Array<string> = []
        const t = yield* setupWith({
          readTimeout: "300 millis",
          onBodyError: (e) => Effect.sync(() => void told.push(e.reason))
        })
        const url = yield* listen(t.listener)
        const started = Date.now()
        const answer = yield* partialBody(url, 20)
        const waited = Date.now() - started
        assertRefused(answer, 408)
        assert.isAtLeast(waited, 290, "not before the timeout")
        assert.strictEqual(t.handled.length, 0)
        // The timer of a body that arrived in time is cleared: the next request is answered normally.
        assert.strictEqual((yield* post(url, Notifications.assign("n-2"))).body.toString("latin1"), "success")
        assert.strictEqual(t.handled.length, 1)
        assert.deepStrictEqual(told, ["timeout"])
        // Past the prompt request's timer: had it not been cleared, it would now report a second timeout.
        // (On a starved machine the timer may fire later still; this can miss such a bug, never invent one.)
        yield* Effect.sleep("600 millis")
        assert.deepStrictEqual(told, ["timeout"], "the prompt request's read timer was cleared")
      })
    )
  )

  it.effect("a sender that hangs up mid-body reaches no handler, and the listener keeps serving", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup
        const url = yield* listen(t.listener)
        const half = yield* Effect.fork(partialBody(url, 40))
        yield* Harness.untilSleeping
        yield* Fiber.interrupt(half) // destroys the request: the connection closes mid-body
        assert.strictEqual((yield* post(url)).body.toString("latin1"), "success")
        assert.strictEqual(t.handled.length, 1)
        assert.strictEqual(t.handled[0]!.notifyId, "n-1")
      })
    )
  )

  it.effect("fromManagedRuntime: the listener on a ManagedRuntime, for code outside Effect", () =>
    run(
      Effect.gen(function* () {
        const h = yield* Harness.make()
        const handled: Array<string> = []
        const runtime = ManagedRuntime.make(Layer.succeedContext(h.context))
        yield* Effect.addFinalizer(() => runtime.disposeEffect)
        const app = express()
        app.post(
          Harness.NOTIFY_PATH,
          NodeNotificationListener.fromManagedRuntime(runtime, (n) =>
            Effect.sync(() => void handled.push(n.notifyId))
          )
        )
        const url = yield* listen(app)
        assert.strictEqual((yield* post(url)).body.toString("latin1"), "success")
        assert.strictEqual(
          (yield* post(url, Notifications.assign("n-2", "task-1", "serial-2"))).body.toString("latin1"),
          "success"
        )
        assert.deepStrictEqual(handled, ["n-1", "n-2"])
      })
    )
  )

  it.effect("fromManagedRuntime: a runtime that cannot be built answers `fail`", () =>
    run(
      Effect.gen(function* () {
        const runtime = ManagedRuntime.make(
          Layer.die("no database") as Layer.Layer<NotificationReceiver.NotificationReceiver | Inbox.Inbox>
        )
        yield* Effect.addFinalizer(() => runtime.disposeEffect)
        const url = yield* listen(NodeNotificationListener.fromManagedRuntime(runtime, () => Effect.void))
        const answer = yield* post(url)
        assert.strictEqual(answer.status, 500)
        assert.strictEqual(answer.body.toString("latin1"), "fail")
      })
    )
  )
})

BodyLimitSuite.suite("NodeNotificationListener", (options) =>
  Effect.gen(function* () {
    const t = yield* setupWith(options)
    return { url: yield* listen(t.listener), handled: t.handled, logs: t.logs }
  })
)
