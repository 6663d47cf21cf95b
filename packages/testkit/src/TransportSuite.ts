/**
 * A conformance suite for core `Transport` implementations, run against the sandbox server on loopback
 * (`SandboxServer`). Call it at the top level of a test file:
 *
 * ```ts
 * TransportSuite.suite("node:http", HttpTransport.layer({ timeout: "20 seconds" }))
 * ```
 *
 * What it holds a transport to (core relies on each, PROTOCOL.md §4, §7):
 *
 * - the answer's body comes back byte for byte (signed GBK XML, all 256 byte values, empty, 48 KiB), and
 *   the Content-Type header verbatim (malformed ones included), undecoded and unnormalised;
 * - the URL goes out as given: the gateway sees exactly the query that was signed, not a re-encoded one;
 * - any HTTP status is an answer (`RawResponse`), never a failure: 404, 500, 502, 503;
 * - a server that never answers: `TransportError` reason `timeout`, `mayHaveReached: true`;
 * - a connection reset after the request was sent: reason `network`, `mayHaveReached: true`;
 * - a refused connection: reason `connect`, `mayHaveReached: false` (provably never sent);
 * - a URL it cannot send: reason `invalid_url`, `mayHaveReached: false`;
 * - concurrent calls each get their own answer.
 *
 * The layer is built once for the suite, with the live clock. Configure the transport with a generous timeout
 * (a busy machine answers slowly; every call here but one should be answered): the "never answers" test runs
 * its call on a TestClock and moves it once the gateway holds the request, so a timeout measured on Effect's
 * Clock costs no waiting. A transport that times out on a real timer is waited for, up to 20 seconds.
 *
 * @since 0.1.0
 */
import { assert, layer as withLayer } from "@effect/vitest"
import type * as Charset from "@witkey/core/Charset"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as Transport from "@witkey/core/Transport"
import { Chunk, Effect, Either, Fiber, Layer, TestClock, TestContext } from "effect"
import * as Net from "node:net"
import * as Fault from "./Fault.js"
import * as Sandbox from "./Sandbox.js"
import * as SandboxServer from "./SandboxServer.js"
import * as TestKeys from "./TestKeys.js"

const HANG_TEST_TIMEOUT = 20_000

/** A real-time pause, whatever Clock the fiber has. */
const pause = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

const raw = (status: number, body: Uint8Array, contentType: string | undefined): Transport.RawResponse => ({
  status,
  body,
  contentType
})

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/** A port nothing listens on: bound, read and released. */
const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

export const suite = (name: string, layer: Layer.Layer<Transport.Transport, unknown>): void => {
  const env = Layer.mergeAll(
    layer,
    SandboxServer.layerWithSandbox({ sandbox: { deliver: () => Effect.never } })
  )

  withLayer(env, { excludeTestServices: true })(`TransportSuite: ${name}`, (it) => {
    let counter = 0
    /** A registered task and a request for it, signed by the test partner against the server. */
    const signedRequest = (charset: Charset.Charset) =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const server = yield* SandboxServer.SandboxServer
        const n = ++counter
        const outerTaskId = charset === "utf-8" ? `suite-${n}-é` : `任务-${n}`
        const serial = `转账-${n}`
        yield* sandbox.registerTask({
          partner: TestKeys.partnerId,
          outerTaskId,
          transfers: [{ serial, payeeUserId: "2088102122524333", amount: "1.00" }],
          serviceFee: "0",
          platformAccount: TestKeys.platformUserId
        })
        const request = yield* Either.match(
          ConfirmRequest.validate({ partner: TestKeys.partnerId, outerTaskId, transfers: [serial], charset }),
          { onLeft: Effect.die, onRight: Effect.succeed }
        )
        return yield* SignedRequest.make(request, { gateway: server.gatewayUrl }).pipe(
          Effect.provide(TestKeys.partnerSigner),
          Effect.orDie
        )
      })

    const lastCall = Effect.flatMap(Sandbox.Sandbox, (s) =>
      Effect.map(s.calls, (calls) => calls[calls.length - 1]!)
    )

    /** GETs a gateway URL whose answer is `fault` (any query will do: these faults replace processing). */
    const answeredWith = (fault: Fault.AnswerFault) =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const server = yield* SandboxServer.SandboxServer
        yield* sandbox.queueAnswerFaults(fault)
        return yield* Effect.either((yield* Transport.Transport).get(`${server.gatewayUrl}?service=fault`))
      })

    it.effect("a signed GBK answer comes back byte for byte, Content-Type included, and verifies", () =>
      Effect.gen(function* () {
        const server = yield* SandboxServer.SandboxServer
        const signed = yield* signedRequest("gbk")
        const response = yield* (yield* Transport.Transport).get(signed.url)
        const call = yield* lastCall
        assert.strictEqual(response.status, 200)
        assert.isTrue(sameBytes(response.body, call.response!.body), "body bytes differ from what was sent")
        assert.strictEqual(response.contentType, call.response!.contentType)
        // The query reached the gateway exactly as signed: nothing re-encoded or normalised.
        assert.strictEqual(call.url, signed.url.slice(server.url.length))
        assert.deepStrictEqual(call.result, { _tag: "Success", paid: [...signed.request.transfers] })
        const decoded = yield* GatewayResponse.decode(response, "gbk").pipe(
          Effect.provide(Sandbox.gatewayVerifier)
        )
        assert.strictEqual(decoded.outerTaskId, signed.request.outerTaskId)
      })
    )

    it.effect("arbitrary bytes come back unchanged: every byte value, empty, 48 KiB", () =>
      Effect.gen(function* () {
        const every = Uint8Array.from({ length: 512 }, (_, i) => (i * 7 + 3) & 0xff)
        const large = Uint8Array.from({ length: 48 * 1024 }, (_, i) => (i * 31) & 0xff)
        for (const body of [
          every,
          new Uint8Array(0),
          large,
          Uint8Array.from([0xef, 0xbb, 0xbf, 0x0d, 0x0a, 0x00])
        ]) {
          const answer = yield* answeredWith(Fault.raw(raw(200, body, "application/octet-stream")))
          assert.isTrue(Either.isRight(answer), "a 200 answer failed")
          if (Either.isRight(answer)) {
            assert.strictEqual(answer.right.status, 200)
            assert.isTrue(sameBytes(answer.right.body, body), `a body of ${body.length} bytes changed`)
          }
        }
      })
    )

    it.effect("the Content-Type is passed through verbatim", () =>
      Effect.gen(function* () {
        for (const contentType of [
          "text/xml;charset=GBK",
          "application/x-www-form-urlencoded; text/html; charset=utf-8",
          'text/xml; charset="gb2312"'
        ]) {
          const answer = yield* answeredWith(
            Fault.raw(raw(200, new TextEncoder().encode("<a/>"), contentType))
          )
          assert.strictEqual(Either.getOrThrow(answer).contentType, contentType)
        }
      })
    )

    it.effect("any HTTP status is an answer, not a failure", () =>
      Effect.gen(function* () {
        for (const status of [201, 404, 500, 502, 503]) {
          const body = new TextEncoder().encode(`status ${status}`)
          const answer = yield* answeredWith(Fault.raw(raw(status, body, "text/plain")))
          assert.isTrue(Either.isRight(answer), `HTTP ${status} became a failure`)
          if (Either.isRight(answer)) {
            assert.strictEqual(answer.right.status, status)
            assert.isTrue(sameBytes(answer.right.body, body))
          }
        }
        const server = yield* SandboxServer.SandboxServer
        const notFound = yield* (yield* Transport.Transport).get(`${server.url}/not-here?service=x`)
        assert.strictEqual(notFound.status, 404)
      })
    )

    it.effect(
      "a server that never answers: timeout, may have reached",
      () =>
        Effect.gen(function* () {
          const sandbox = yield* Sandbox.Sandbox
          const taken = (yield* sandbox.calls).length
          const answer = yield* Effect.gen(function* () {
            const call = yield* Effect.fork(answeredWith(Fault.drop({ mode: "hang" })))
            // Once the gateway holds the request (it records the call before it hangs) and the transport
            // waits on the Clock, a day passes; a transport on a real timer answers by itself.
            while (call.unsafePoll() === null) {
              const held = (yield* sandbox.calls).length > taken
              if (held && Chunk.isNonEmpty(yield* TestClock.sleeps())) yield* TestClock.adjust("1 day")
              yield* pause(10)
            }
            return yield* Fiber.join(call)
          }).pipe(Effect.provide(TestContext.TestContext))
          assert.isTrue(Either.isLeft(answer), "a hanging request succeeded")
          if (Either.isLeft(answer)) {
            assert.strictEqual(answer.left._tag, "TransportError")
            assert.strictEqual(answer.left.reason, "timeout")
            assert.isTrue(answer.left.mayHaveReached)
          }
        }),
      HANG_TEST_TIMEOUT
    )

    it.effect("a connection reset after sending: network error, may have reached", () =>
      Effect.gen(function* () {
        const answer = yield* answeredWith(Fault.drop({ mode: "reset" }))
        assert.isTrue(Either.isLeft(answer), "a reset request succeeded")
        if (Either.isLeft(answer)) {
          assert.strictEqual(answer.left.reason, "network")
          assert.isTrue(answer.left.mayHaveReached)
        }
      })
    )

    it.effect("a refused connection: connect error, provably not reached", () =>
      Effect.gen(function* () {
        const port = yield* freePort
        const answer = yield* Effect.either(
          (yield* Transport.Transport).get(`http://127.0.0.1:${port}${SandboxServer.GATEWAY_PATH}?service=x`)
        )
        assert.isTrue(Either.isLeft(answer), "a refused connection succeeded")
        if (Either.isLeft(answer)) {
          assert.strictEqual(answer.left.reason, "connect")
          assert.isFalse(answer.left.mayHaveReached)
        }
      })
    )

    it.effect("a URL that cannot be sent: invalid_url, not reached", () =>
      Effect.gen(function* () {
        const answer = yield* Effect.either((yield* Transport.Transport).get("not a url at all"))
        assert.isTrue(Either.isLeft(answer), "an invalid URL succeeded")
        if (Either.isLeft(answer)) {
          assert.strictEqual(answer.left.reason, "invalid_url")
          assert.isFalse(answer.left.mayHaveReached)
        }
      })
    )

    it.effect("concurrent calls each get their own answer", () =>
      Effect.gen(function* () {
        const transport = yield* Transport.Transport
        const requests = yield* Effect.all(
          Array.from({ length: 8 }, (_, i) => signedRequest(i % 2 === 0 ? "utf-8" : "gbk"))
        )
        const answers = yield* Effect.all(
          requests.map((r) => transport.get(r.url)),
          { concurrency: "unbounded" }
        )
        for (const [i, answer] of answers.entries()) {
          const decoded = yield* GatewayResponse.decode(answer, requests[i]!.request.charset).pipe(
            Effect.provide(Sandbox.gatewayVerifier)
          )
          assert.strictEqual(decoded.outerTaskId, requests[i]!.request.outerTaskId)
        }
      })
    )
  })
}
