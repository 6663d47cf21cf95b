// The body rules of the notification endpoint (PROTOCOL.md §6, issue 4): a bounded size, a read timeout on the
// Clock, POST only, and every refusal answered `fail` with the connection closed and told to `onBodyError`. One
// suite, run on each way in (the platform HttpApp and the Node listener), which read the body by different code.
import type * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import type * as Notification from "@witkey/core/Notification"
import type { Scope } from "effect"
import { Effect, Fiber, TestClock } from "effect"
import * as NotificationEndpoint from "../../src/NotificationEndpoint.js"
import * as Harness from "./Harness.js"
import * as Notifications from "./Notifications.js"
import * as RawHttp from "./RawHttp.js"

/** An endpoint served on loopback with `options`: its URL and what its handler saw. */
export interface Mounted {
  readonly url: string
  readonly handled: ReadonlyArray<Notification.Notification>
  readonly logs: ReadonlyArray<Harness.LogLine>
}

export type Mount = (
  options: NotificationEndpoint.Options
) => Effect.Effect<Mounted, never, Scope.Scope | HttpServer.HttpServer>

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpServer.HttpServer>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest))

/** `fail`, with the status, and the connection closed (the rest of the body is never drained). */
export const assertRefused = (answer: RawHttp.Answer, status: number) => {
  assert.strictEqual(answer.status, status)
  assert.strictEqual(answer.body.toString("latin1"), "fail")
  assert.strictEqual(answer.headers["connection"], "close")
}

/** Declares a whole notification but sends only its first `bytes` bytes, then holds the connection open. */
export const partialBody = (url: string, bytes: number) => {
  const body = Notifications.assign("n-1")
  return RawHttp.send({
    url,
    headers: { "content-type": Notifications.CONTENT_TYPE, "content-length": body.length },
    chunks: [body.subarray(0, bytes)],
    keepOpen: true
  })
}

const chunked = { "content-type": Notifications.CONTENT_TYPE, "transfer-encoding": "chunked" }

export const suite = (name: string, mount: Mount): void => {
  describe(`${name}: body limits`, () => {
    it.effect("a body over its declared Content-Length bound is refused with 413 before it is read", () =>
      run(
        Effect.gen(function* () {
          const t = yield* mount({})
          const answer = yield* RawHttp.send({
            url: t.url,
            headers: { "content-type": Notifications.CONTENT_TYPE, "content-length": 10_000_000 },
            chunks: [new Uint8Array(16).fill(0x61)],
            keepOpen: true
          })
          assertRefused(answer, 413)
          assert.strictEqual(t.handled.length, 0)
          assert.isTrue(t.logs.some((l) => l.message === "witkey notification body refused"))
        })
      )
    )

    it.effect("a body without a length is cut off at maxBodyBytes with 413; the next one passes", () =>
      run(
        Effect.gen(function* () {
          const told: Array<string> = []
          const t = yield* mount({
            maxBodyBytes: 1024,
            notifyVerify: false,
            onBodyError: (e) => Effect.sync(() => void told.push(e.reason))
          })
          // The sender would go on (keepOpen); the endpoint stops reading.
          const answer = yield* RawHttp.send({
            url: t.url,
            headers: chunked,
            chunks: [new Uint8Array(700).fill(0x61), new Uint8Array(700).fill(0x62)],
            keepOpen: true
          })
          assertRefused(answer, 413)
          assert.strictEqual(t.handled.length, 0)
          // A genuine notification under the bound still passes, on a new connection.
          const ok = yield* RawHttp.post(t.url, Notifications.assign("n-1"), Notifications.CONTENT_TYPE)
          assert.strictEqual(ok.body.toString("latin1"), "success")
          assert.strictEqual(t.handled.length, 1)
          // Told about the refusal only, not about the notification that passed.
          assert.deepStrictEqual(told, ["too_large"])
        })
      )
    )

    it.effect("the default bound is 64 KiB", () =>
      run(
        Effect.gen(function* () {
          const t = yield* mount({})
          assert.strictEqual(NotificationEndpoint.DEFAULT_MAX_BODY_BYTES, 64 * 1024)
          const big = new Uint8Array(64 * 1024 + 1).fill(0x61)
          assertRefused(yield* RawHttp.send({ url: t.url, headers: chunked, chunks: [big] }), 413)
          // At the bound it is read, and refused as the garbage it is (200 `fail`), not for its size.
          const atBound = yield* RawHttp.send({ url: t.url, headers: chunked, chunks: [big.subarray(1)] })
          assert.strictEqual(atBound.status, 200)
          assert.strictEqual(atBound.body.toString("latin1"), "fail")
        })
      )
    )

    it.effect("a slow body is cut off by the read timeout (Clock) with 408", () =>
      run(
        Effect.gen(function* () {
          const told: Array<string> = []
          const t = yield* mount({
            readTimeout: "4 seconds",
            onBodyError: (e) => Effect.sync(() => void told.push(e.reason))
          })
          const fiber = yield* Effect.fork(partialBody(t.url, 20))
          yield* Harness.untilSleeping
          yield* TestClock.adjust("3999 millis")
          assert.isNull(fiber.unsafePoll())
          yield* TestClock.adjust("1 millis")
          assertRefused(yield* Fiber.join(fiber), 408)
          assert.strictEqual(t.handled.length, 0)
          assert.deepStrictEqual(told, ["timeout"])
        })
      )
    )

    it.effect("only POST is accepted: 405 with Allow: POST", () =>
      run(
        Effect.gen(function* () {
          const told: Array<string> = []
          const t = yield* mount({ onBodyError: (e) => Effect.sync(() => void told.push(e.reason)) })
          const answer = yield* RawHttp.send({ url: t.url, method: "GET", chunks: [] })
          assertRefused(answer, 405)
          assert.strictEqual(answer.headers["allow"], "POST")
          assert.strictEqual(t.handled.length, 0)
          assert.deepStrictEqual(told, ["method"])
        })
      )
    )
  })
}
