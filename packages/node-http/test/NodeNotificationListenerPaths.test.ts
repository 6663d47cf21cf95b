// The Node listener reads a request two ways (src/NodeNotificationListener.ts): on the live Clock (a server's)
// the checks and the read are plain code with a plain timer and the fiber starts once the body is in; on any
// other Clock all of it runs in the request's fiber under Effect's timeout. The two must answer every request
// alike: status, body and headers, what the handler saw, what `onBodyError` was told.
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import type * as Notification from "@witkey/core/Notification"
import { Clock, Deferred, Effect, Fiber, FastCheck as fc } from "effect"
import type * as http from "node:http"
import * as NodeNotificationListener from "../src/NodeNotificationListener.js"
import type * as NotificationEndpoint from "../src/NotificationEndpoint.js"
import { partialBody } from "./support/BodyLimitSuite.js"
import * as Harness from "./support/Harness.js"
import * as Notifications from "./support/Notifications.js"
import * as RawHttp from "./support/RawHttp.js"

const MAX_BODY_BYTES = 2048
const PARSED = "x-test-parsed"

/**
 * One side: a listener made on the live Clock, or on a fresh live Clock that is not the default one (real time,
 * but the in-fiber path), with its own inbox and gateway; a request with the `x-test-parsed` header gets a
 * `req.body`, as if a body parser had run first.
 */
const side = (path: "live" | "fiber", more: NotificationEndpoint.Options = {}) =>
  Effect.gen(function* () {
    const h = yield* Harness.make()
    const handled: Array<string> = []
    const told: Array<string> = []
    const arrived = yield* Deferred.make<void>()
    const refused = yield* Deferred.make<void>()
    const options: NotificationEndpoint.Options = {
      maxBodyBytes: MAX_BODY_BYTES,
      onBodyError: (e) =>
        Effect.sync(() => {
          told.push(e.reason)
          Deferred.unsafeDone(refused, Effect.void)
        }),
      ...more
    }
    const make = NodeNotificationListener.make(
      (n: Notification.Notification) => Effect.sync(() => void handled.push(n.notifyId)),
      options
    ).pipe(Effect.provide(h.context), Harness.capturingLogs([]))
    const listener = yield* path === "live" ? make : Effect.withClock(make, Clock.make())
    const url = yield* Harness.listenNode((req: http.IncomingMessage, res: http.ServerResponse) => {
      if (req.headers[PARSED] !== undefined) (req as { body?: unknown }).body = {}
      Deferred.unsafeDone(arrived, Effect.void)
      listener(req, res)
    })
    return { url: `${url}${Harness.NOTIFY_PATH}`, handled, told, arrived, refused }
  })

const kinds = ["valid", "repeat", "forged", "garbage", "oversized", "empty"] as const
const request = fc.record({
  method: fc.constantFrom("POST", "POST", "POST", "GET", "PUT"),
  kind: fc.constantFrom(...kinds),
  chunked: fc.boolean(),
  parsed: fc.constantFrom(false, false, false, true)
})

const bodyOf = (kind: (typeof kinds)[number], k: number): Uint8Array => {
  switch (kind) {
    case "valid":
      return Notifications.assign(`n-${k}`, "task-1", `serial-${k}`)
    case "repeat":
      return Notifications.assign("n-0", "task-1", "serial-0")
    case "forged":
      return Notifications.body({
        notifyId: `n-${k}`,
        xml: Notifications.assignXml("task-1", `serial-${k}`),
        key: "other_private"
      })
    case "garbage":
      return new TextEncoder().encode("a=b&c=%zz")
    case "oversized":
      return new Uint8Array(MAX_BODY_BYTES + 1).fill(0x61)
    case "empty":
      return new Uint8Array(0)
  }
}

const seen = (answer: RawHttp.Answer) => ({
  status: answer.status,
  body: answer.body.toString("latin1"),
  connection: answer.headers["connection"],
  allow: answer.headers["allow"]
})

describe("NodeNotificationListener: the live-Clock path and the in-fiber path", () => {
  it.live.prop(
    "answer every request alike",
    [fc.array(request, { minLength: 1, maxLength: 4 })],
    ([requests]) =>
      Effect.gen(function* () {
        const live = yield* side("live")
        const fiber = yield* side("fiber")
        for (const [k, r] of requests.entries()) {
          const body = bodyOf(r.kind, k)
          const send = (url: string) =>
            RawHttp.send({
              url,
              method: r.method,
              headers: {
                "content-type": Notifications.CONTENT_TYPE,
                ...(r.chunked ? { "transfer-encoding": "chunked" } : { "content-length": body.length }),
                ...(r.parsed ? { [PARSED]: "1" } : {})
              },
              chunks: [body]
            })
          const a = seen(yield* send(live.url))
          const b = seen(yield* send(fiber.url))
          assert.deepStrictEqual(a, b, JSON.stringify(r))
        }
        assert.deepStrictEqual(live.handled, fiber.handled)
        assert.deepStrictEqual(live.told, fiber.told)
      }).pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest)),
    { fastCheck: { numRuns: 30 } }
  )

  it.live("a sender that hangs up mid-body is told as a broken read on both, and each keeps serving", () =>
    Effect.gen(function* () {
      for (const path of ["live", "fiber"] as const) {
        const t = yield* side(path)
        const half = yield* Effect.fork(partialBody(t.url, 40))
        yield* Deferred.await(t.arrived)
        yield* Fiber.interrupt(half) // destroys the request: the connection closes mid-body
        yield* Deferred.await(t.refused)
        const ok = yield* RawHttp.post(t.url, Notifications.assign("n-1"), Notifications.CONTENT_TYPE)
        assert.strictEqual(ok.body.toString("latin1"), "success", path)
        assert.deepStrictEqual(t.handled, ["n-1"], path)
        assert.deepStrictEqual(t.told, ["read"], path)
      }
    }).pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest))
  )

  it.live("an `onBodyError` that throws is a defect answered `fail` on both, never an exception", () =>
    Effect.gen(function* () {
      for (const path of ["live", "fiber"] as const) {
        const t = yield* side(path, {
          onBodyError: () => {
            throw new Error("a bug in the hook")
          }
        })
        for (const method of ["GET", "POST"]) {
          const big = new Uint8Array(MAX_BODY_BYTES + 1)
          const answer = yield* RawHttp.send({ url: t.url, method, chunks: method === "GET" ? [] : [big] })
          assert.strictEqual(answer.status, 500, `${path} ${method}`)
          assert.strictEqual(answer.body.toString("latin1"), "fail", `${path} ${method}`)
        }
      }
    }).pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest))
  )
})
