import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Transport from "@witkey/core/Transport"
import type { Scope } from "effect"
import {
  Chunk,
  ConfigProvider,
  Context,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Stream,
  TestClock,
  Tracer
} from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as HttpTransport from "../src/HttpTransport.js"
import { port } from "./support/Harness.js"

const QUERY =
  "service=alipay.witkey.task.confirm.by.platform&outer_task_id=task%2A1&sign=c2lnbg%3D%3D&x=%7E%20"

interface Server {
  readonly base: string
  readonly arrived: Deferred.Deferred<string>
}

/** A loopback server with one route per behaviour the transport must handle. */
const server: Effect.Effect<Server, never, Scope.Scope | HttpServer.HttpServer> = Effect.gen(function* () {
  const arrived = yield* Deferred.make<string>()
  const note = Effect.flatMap(HttpServerRequest.HttpServerRequest, (r) => Deferred.succeed(arrived, r.url))
  const router = HttpRouter.empty.pipe(
    HttpRouter.get(
      "/echo",
      Effect.map(HttpServerRequest.HttpServerRequest, (r) =>
        HttpServerResponse.text(r.url, { contentType: "text/xml; charset=GBK" })
      )
    ),
    HttpRouter.get("/status", Effect.succeed(HttpServerResponse.text("busy", { status: 503 }))),
    HttpRouter.get(
      "/big-declared",
      Effect.succeed(HttpServerResponse.uint8Array(new Uint8Array(2000).fill(0x61)))
    ),
    HttpRouter.get(
      "/big-streamed",
      Effect.succeed(
        HttpServerResponse.stream(Stream.range(1, 5).pipe(Stream.map(() => new Uint8Array(400).fill(0x62))))
      )
    ),
    HttpRouter.get("/hang", Effect.zipRight(note, Effect.never)),
    HttpRouter.get(
      "/reset",
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (r) => {
        NodeHttpServerRequest.toIncomingMessage(r).socket.destroy()
        return Effect.never
      })
    ),
    HttpRouter.get(
      "/truncated",
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (r) => {
        const response = NodeHttpServerRequest.toServerResponse(r)
        response.writeHead(200, { "content-type": "text/xml", "content-length": 100 })
        response.write("<alipay><is_success>T</is_", () => response.destroy())
        return Effect.never
      })
    )
  )
  yield* HttpServer.serveEffect(router)
  return { base: `http://127.0.0.1:${yield* port}`, arrived }
})

/** A loopback port nobody listens on: bound, then released. */
const closedPort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const s = http.createServer()
      s.listen(0, "127.0.0.1", () => {
        const address = s.address()
        s.close(() => resolve(typeof address === "object" && address ? address.port : 0))
      })
    })
)

type Make = (options: HttpTransport.Options) => Layer.Layer<Transport.Transport>

const onClient =
  (client: Layer.Layer<HttpClient.HttpClient>): Make =>
  (options) =>
    HttpTransport.layer(options).pipe(Layer.provide(client))

/** `layerNode` (ours, on node:http directly) with and without its pool, and `layer` on each platform client. */
const transports: ReadonlyArray<readonly [string, Make]> = [
  ["layerNode (keep-alive)", (options) => HttpTransport.layerNode(options)],
  ["layerNode without keep-alive", (options) => HttpTransport.layerNode({ ...options, keepAlive: false })],
  ["the platform's NodeHttpClient", onClient(NodeHttpClient.layer)],
  ["undici", onClient(NodeHttpClient.layerUndici)],
  ["fetch", onClient(FetchHttpClient.layer)]
]

const node: Make = (options) => HttpTransport.layerNode(options)

/** The transport, its resources (pool, dispatcher) living as long as the test's scope. */
const transportOn = (make: Make, options: HttpTransport.Options = {}) =>
  Effect.map(Layer.build(make(options)), Context.get(Transport.Transport))

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpServer.HttpServer>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest))

const noSecret = (e: Transport.TransportError) => {
  assert.notInclude(e.message, "sign=")
  assert.notInclude(e.message, "c2lnbg")
}

describe("HttpTransport", () => {
  for (const [name, client] of transports) {
    describe(`over ${name}`, () => {
      it.effect("sends the URL byte for byte and passes status, body and Content-Type through", () =>
        run(
          Effect.gen(function* () {
            const { base } = yield* server
            const transport = yield* transportOn(client)
            const ok = yield* transport.get(`${base}/echo?${QUERY}`)
            assert.strictEqual(ok.status, 200)
            assert.strictEqual(new TextDecoder().decode(ok.body), `/echo?${QUERY}`)
            assert.strictEqual(ok.contentType, "text/xml; charset=GBK")
            const busy = yield* transport.get(`${base}/status?${QUERY}`)
            assert.strictEqual(busy.status, 503)
            assert.strictEqual(new TextDecoder().decode(busy.body), "busy")
          })
        )
      )

      it.effect("a refused connection is `connect`: the request never left", () =>
        run(
          Effect.gen(function* () {
            const transport = yield* transportOn(client)
            const error = yield* Effect.flip(
              transport.get(`http://127.0.0.1:${yield* closedPort}/gateway.do?${QUERY}`)
            )
            assert.strictEqual(error.reason, "connect")
            assert.isFalse(error.mayHaveReached)
            noSecret(error)
          })
        )
      )

      it.effect("a connection reset after sending is `network`: the request may have arrived", () =>
        run(
          Effect.gen(function* () {
            const { base } = yield* server
            const transport = yield* transportOn(client)
            const error = yield* Effect.flip(transport.get(`${base}/reset?${QUERY}`))
            assert.strictEqual(error.reason, "network")
            assert.isTrue(error.mayHaveReached)
            noSecret(error)
          })
        )
      )

      it.effect("a body cut short is `network`", () =>
        run(
          Effect.gen(function* () {
            const { base } = yield* server
            const transport = yield* transportOn(client)
            const error = yield* Effect.flip(transport.get(`${base}/truncated?${QUERY}`))
            assert.strictEqual(error.reason, "network")
            assert.isTrue(error.mayHaveReached)
            noSecret(error)
          })
        )
      )

      it.effect("a body past the limit is `too_large`, declared or streamed", () =>
        run(
          Effect.gen(function* () {
            const { base } = yield* server
            const transport = yield* transportOn(client, { maxResponseBytes: 1000 })
            const declared = yield* Effect.flip(transport.get(`${base}/big-declared?${QUERY}`))
            assert.strictEqual(declared.reason, "too_large")
            assert.isTrue(declared.mayHaveReached)
            const streamed = yield* Effect.flip(transport.get(`${base}/big-streamed?${QUERY}`))
            assert.strictEqual(streamed.reason, "too_large")
            // Within the limit, the same routes pass.
            const roomy = yield* transportOn(client, { maxResponseBytes: 2000 })
            assert.strictEqual((yield* roomy.get(`${base}/big-declared`)).body.length, 2000)
            assert.strictEqual((yield* roomy.get(`${base}/big-streamed`)).body.length, 2000)
          })
        )
      )

      it.effect("no answer within the timeout is `timeout`, measured on the Clock", () =>
        run(
          Effect.gen(function* () {
            const { arrived, base } = yield* server
            const transport = yield* transportOn(client, { timeout: "3 seconds" })
            const fiber = yield* Effect.fork(transport.get(`${base}/hang?${QUERY}`))
            assert.strictEqual(yield* Deferred.await(arrived), `/hang?${QUERY}`)
            yield* TestClock.adjust("2999 millis")
            assert.isNull(fiber.unsafePoll())
            yield* TestClock.adjust("1 millis")
            const exit = yield* Fiber.await(fiber)
            assert.isTrue(Exit.isFailure(exit))
            const error = yield* Effect.flip(exit)
            assert.strictEqual(error.reason, "timeout")
            assert.isTrue(error.mayHaveReached)
            noSecret(error)
          })
        )
      )
    })
  }

  it.effect("the default timeout is 15 seconds", () =>
    run(
      Effect.gen(function* () {
        const { arrived, base } = yield* server
        const transport = yield* transportOn(node)
        const fiber = yield* Effect.fork(transport.get(`${base}/hang`))
        yield* Deferred.await(arrived)
        yield* TestClock.adjust("14 seconds")
        assert.isNull(fiber.unsafePoll())
        yield* TestClock.adjust("1 second")
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.strictEqual(error.reason, "timeout")
      })
    )
  )

  it.scoped("a malformed or non-http URL is `invalid_url`, and nothing is sent", () =>
    Effect.gen(function* () {
      const transport = yield* transportOn(node)
      // The last three would be sent altered (percent-encoded, dot segments resolved, backslash read as "/"):
      // the gateway must see the bytes that were signed.
      for (const url of [
        "not a url",
        "ftp://127.0.0.1/gateway.do",
        "/gateway.do?sign=x",
        "http://[::1",
        "http://127.0.0.1:1/gateway.do?sign=a b",
        "http://127.0.0.1:1/x/../gateway.do?sign=x",
        "http://127.0.0.1:1\\gateway.do?sign=x"
      ]) {
        const error = yield* Effect.flip(transport.get(url))
        assert.strictEqual(error.reason, "invalid_url", url)
        assert.isFalse(error.mayHaveReached)
        assert.notInclude(error.message, "sign=")
      }
    })
  )

  it("classifies failures before sending apart from failures after", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
      syscall: "connect"
    })
    const dns = Object.assign(new Error("getaddrinfo ENOTFOUND gateway.example"), {
      code: "ENOTFOUND",
      syscall: "getaddrinfo"
    })
    const reset = Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" })
    const hangUp = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })
    // undici and fetch wrap the system error; happy eyeballs wraps several in an AggregateError.
    const fetchFailed = new TypeError("fetch failed", { cause: dns })
    const aggregate = new AggregateError([refused, refused], "connect failed")
    assert.strictEqual(HttpTransport.classify(refused).reason, "connect")
    assert.strictEqual(HttpTransport.classify(dns).reason, "connect")
    assert.strictEqual(HttpTransport.classify(fetchFailed).reason, "connect")
    assert.strictEqual(HttpTransport.classify(aggregate).reason, "connect")
    assert.strictEqual(HttpTransport.classify(reset).reason, "network")
    assert.strictEqual(HttpTransport.classify(hangUp).reason, "network")
    assert.strictEqual(HttpTransport.classify(new Error("something odd")).reason, "network")
    assert.strictEqual(HttpTransport.classify(undefined).reason, "network")
    const leaky = Object.assign(new Error("failed GET http://h/g?sign=abc&x=1"), { code: "EPROTO" })
    assert.notInclude(HttpTransport.classify(leaky).detail, "sign=")
  })

  /** `fromClient` called directly on a client (what `layer` and `make` build on). */
  const fromClient: Make = (options) =>
    Layer.effect(
      Transport.Transport,
      Effect.map(HttpClient.HttpClient, (client) => HttpTransport.fromClient(client, options))
    ).pipe(Layer.provide(FetchHttpClient.layer))

  // Every transport skips its span when no tracer is installed: an installed one still receives it.
  for (const [name, make] of [
    transports[0]!,
    transports[2]!,
    transports[4]!,
    ["fromClient on fetch", fromClient] as const
  ])
    it.effect(`its span names host, path and task, never the query; no full-URL span (${name})`, () =>
      run(
        Effect.gen(function* () {
          const { base } = yield* server
          const native = yield* Effect.tracer
          const spans: Array<Tracer.Span> = []
          const tracer = Tracer.make({
            span: (...args) => {
              const span = native.span(...args)
              spans.push(span)
              return span
            },
            context: native.context
          })
          const transport = yield* transportOn(make)
          yield* transport.get(`${base}/echo?${QUERY}`).pipe(Effect.withTracer(tracer))
          yield* Effect.flip(transport.get(`${base}/reset?${QUERY}`)).pipe(Effect.withTracer(tracer))
          assert.deepStrictEqual(
            spans.map((s) => s.name),
            ["witkey.http.get", "witkey.http.get"]
          )
          const [ok, failed] = spans
          const attrs = (s: Tracer.Span) =>
            Object.fromEntries((s as unknown as { attributes: Map<string, unknown> }).attributes)
          assert.strictEqual(attrs(ok!)["url.path"], "/echo")
          assert.strictEqual(attrs(ok!)["server.address"], base.slice("http://".length))
          assert.strictEqual(attrs(ok!)["witkey.outer_task_id"], "task*1")
          assert.strictEqual(attrs(ok!)["http.response.status_code"], 200)
          assert.strictEqual(attrs(failed!)["witkey.transport.error"], "network")
          for (const span of spans)
            for (const value of Object.values(attrs(span))) assert.notInclude(String(value), "c2lnbg")
        })
      )
    )

  it.effect("layerNode provides the core Transport tag", () =>
    run(
      Effect.gen(function* () {
        const { base } = yield* server
        const transport = yield* Effect.provide(Transport.Transport, HttpTransport.layerNode())
        assert.strictEqual((yield* transport.get(`${base}/status`)).status, 503)
      })
    )
  )

  it.effect("layerConfig reads the timeout and the size limit", () =>
    run(
      Effect.gen(function* () {
        const { base } = yield* server
        const layer = HttpTransport.layerNodeConfig().pipe(
          Layer.provide(
            Layer.setConfigProvider(
              ConfigProvider.fromMap(
                new Map([
                  ["WITKEY_HTTP_MAX_RESPONSE_BYTES", "10"],
                  ["WITKEY_HTTP_TIMEOUT", "2 seconds"]
                ])
              )
            )
          )
        )
        const transport = yield* Effect.provide(Transport.Transport, layer)
        const error = yield* Effect.flip(transport.get(`${base}/big-declared`))
        assert.strictEqual(error.reason, "too_large")
      })
    )
  )

  describe("layerNode on node:http and node:https", () => {
    it.scoped("reuses one connection by default, and opens one per call without keep-alive", () =>
      Effect.gen(function* () {
        const plain = yield* nodeServer()
        const pooled = yield* transportOn(node)
        for (let i = 0; i < 3; i++)
          assert.strictEqual((yield* pooled.get(`${plain.base}/ok?${QUERY}`)).status, 200)
        assert.strictEqual(plain.connections(), 1)
        const fresh = yield* transportOn(node, { keepAlive: false } as HttpTransport.NodeOptions)
        for (let i = 0; i < 3; i++)
          assert.strictEqual((yield* fresh.get(`${plain.base}/ok?${QUERY}`)).status, 200)
        assert.strictEqual(plain.connections(), 4)
      })
    )

    it.scoped("WITKEY_HTTP_KEEP_ALIVE=false in the configuration turns the pool off", () =>
      Effect.gen(function* () {
        const plain = yield* nodeServer()
        const layer = HttpTransport.layerNodeConfig().pipe(
          Layer.provide(
            Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["WITKEY_HTTP_KEEP_ALIVE", "false"]])))
          )
        )
        const transport = yield* Effect.map(Layer.build(layer), Context.get(Transport.Transport))
        for (let i = 0; i < 2; i++) yield* transport.get(`${plain.base}/ok`)
        assert.strictEqual(plain.connections(), 2)
      })
    )

    it.scoped("the pool's idle timeout does not cut a slow answer short", () =>
      Effect.gen(function* () {
        const plain = yield* nodeServer()
        const options: HttpTransport.NodeOptions = { idleTimeout: "30 millis" }
        const transport = yield* transportOn(node, options)
        // Answered after ten times the idle timeout (real time), on a fresh and then on a pooled connection.
        for (let i = 0; i < 2; i++) {
          const slow = yield* transport.get(`${plain.base}/slow?${QUERY}`)
          assert.strictEqual(slow.status, 200)
          assert.strictEqual(new TextDecoder().decode(slow.body), `/slow?${QUERY}`)
        }
      })
    )

    it.scoped("a reset on a reused connection before any answer byte may have reached the gateway", () =>
      Effect.gen(function* () {
        const plain = yield* nodeServer()
        const transport = yield* transportOn(node)
        yield* transport.get(`${plain.base}/ok`)
        const error = yield* Effect.flip(transport.get(`${plain.base}/reset?${QUERY}`))
        assert.strictEqual(plain.connections(), 1)
        assert.strictEqual(error.reason, "network")
        assert.isTrue(error.mayHaveReached)
        assert.include(error.message, "reused connection")
        noSecret(error)
      })
    )

    it.scoped("a call still waiting for a pooled connection at its timeout was never sent", () =>
      Effect.gen(function* () {
        const plain = yield* nodeServer()
        const options: HttpTransport.NodeOptions = { timeout: "3 seconds", maxSockets: 1 }
        const transport = yield* transportOn(node, options)
        const first = yield* Effect.fork(transport.get(`${plain.base}/hang?${QUERY}`))
        yield* Deferred.await(plain.hung)
        const queued = yield* Effect.fork(transport.get(`${plain.base}/ok?${QUERY}`))
        yield* sleepers(2)
        yield* TestClock.adjust("3 seconds")
        const sent = yield* Effect.flip(Fiber.join(first))
        assert.strictEqual(sent.reason, "timeout")
        assert.isTrue(sent.mayHaveReached)
        const unsent = yield* Effect.flip(Fiber.join(queued))
        assert.strictEqual(unsent.reason, "connect")
        assert.isFalse(unsent.mayHaveReached)
        assert.deepStrictEqual(plain.paths, ["/hang"])
        noSecret(unsent)
      })
    )

    // On the live Clock the timeout is a plain timer inside the call (internal/liveClock.ts), not Effect's:
    // the same rule on real time.
    it.live("on the live Clock, a hanging answer is cut off at the timeout, not before", () =>
      Effect.gen(function* () {
        const plain = yield* nodeServer()
        const transport = yield* transportOn(node, { timeout: "300 millis" })
        const started = Date.now()
        const error = yield* Effect.flip(transport.get(`${plain.base}/hang?${QUERY}`))
        assert.isAtLeast(Date.now() - started, 290, "not before the timeout")
        assert.strictEqual(error.reason, "timeout")
        assert.isTrue(error.mayHaveReached)
        // The timer of a call answered in time is cleared: the next call is answered normally.
        assert.strictEqual((yield* transport.get(`${plain.base}/ok?${QUERY}`)).status, 200)
      }).pipe(Effect.scoped)
    )

    it.scoped("interrupting a call closes its connection", () =>
      Effect.gen(function* () {
        const plain = yield* nodeServer()
        const transport = yield* transportOn(node)
        const fiber = yield* Effect.fork(transport.get(`${plain.base}/hang?${QUERY}`))
        yield* Deferred.await(plain.hung)
        yield* Fiber.interrupt(fiber)
        yield* Deferred.await(plain.hungClosed)
      })
    )

    it.scoped("works over TLS with the gateway's CA, on one connection", () =>
      Effect.gen(function* () {
        const secure = yield* nodeServer(TLS)
        const transport = yield* transportOn(node, { ca: TLS.cert } as HttpTransport.NodeOptions)
        for (let i = 0; i < 2; i++) {
          const ok = yield* transport.get(`${secure.base}/ok?${QUERY}`)
          assert.strictEqual(ok.status, 200)
          assert.strictEqual(new TextDecoder().decode(ok.body), `/ok?${QUERY}`)
          assert.strictEqual(ok.contentType, "text/xml; charset=GBK")
        }
        assert.strictEqual(secure.connections(), 1)
        // By host name too: the certificate names localhost.
        const byName = yield* transport.get(`${secure.base.replace("127.0.0.1", "localhost")}/ok`)
        assert.strictEqual(byName.status, 200)
      })
    )

    it.scoped("refuses a certificate it does not trust: `connect`, never sent", () =>
      Effect.gen(function* () {
        const secure = yield* nodeServer(TLS)
        for (const options of [{}, { keepAlive: false }] as ReadonlyArray<HttpTransport.NodeOptions>) {
          const transport = yield* transportOn(node, options)
          const error = yield* Effect.flip(transport.get(`${secure.base}/ok?${QUERY}`))
          assert.strictEqual(error.reason, "connect")
          assert.isFalse(error.mayHaveReached)
          assert.include(error.message, "self-signed")
          noSecret(error)
        }
        assert.deepStrictEqual(secure.paths, [])
      })
    )

    it.scoped("plain HTTP to a TLS port fails without a verifiable answer", () =>
      Effect.gen(function* () {
        const secure = yield* nodeServer(TLS)
        const transport = yield* transportOn(node)
        const error = yield* Effect.flip(transport.get(`${secure.base.replace("https:", "http:")}/ok`))
        assert.strictEqual(error.reason, "network")
        assert.isTrue(error.mayHaveReached)
      })
    )
  })
})

const TLS = {
  cert: fs.readFileSync(new URL("../../../fixtures/tls/cert.pem", import.meta.url)),
  key: fs.readFileSync(new URL("../../../fixtures/tls/key.pem", import.meta.url))
}

interface NodeServer {
  readonly base: string
  /** Connections accepted (for TLS: handshakes completed). */
  readonly connections: () => number
  /** Paths of the requests that arrived. */
  readonly paths: Array<string>
  readonly hung: Deferred.Deferred<void>
  /** The connection of the `/hang` request closed. */
  readonly hungClosed: Deferred.Deferred<void>
}

/** A bare node:http (or, with a certificate, node:https) server on loopback, closed with the scope. */
const nodeServer = (tls?: typeof TLS): Effect.Effect<NodeServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const hung = yield* Deferred.make<void>()
    const hungClosed = yield* Deferred.make<void>()
    const paths: Array<string> = []
    let connections = 0
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = req.url ?? ""
      paths.push(url.split("?")[0]!)
      if (url.startsWith("/reset")) req.socket.destroy()
      else if (url.startsWith("/hang")) {
        req.socket.once("close", () => Deferred.unsafeDone(hungClosed, Exit.void))
        Deferred.unsafeDone(hung, Exit.void)
      } else if (url.startsWith("/slow"))
        setTimeout(() => res.writeHead(200, { "content-type": "text/xml; charset=GBK" }).end(url), 300)
      else res.writeHead(200, { "content-type": "text/xml; charset=GBK" }).end(url)
    }
    const server = tls ? https.createServer(tls, handler) : http.createServer(handler)
    server.on(tls ? "secureConnection" : "connection", () => connections++)
    // A refused handshake is the client's business: nothing to log here.
    server.on("tlsClientError", () => {})
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
      () =>
        Effect.async<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    return {
      base: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
      connections: () => connections,
      paths,
      hung,
      hungClosed
    }
  })

/**
 * Waits until `n` fibers sleep on the TestClock: the calls' timeouts have started. Bounded (at least 60 s of real
 * time) only to tell a hang: a busy machine may take seconds to get a request out.
 */
const sleepers = (n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 12_000; i++) {
      if (Chunk.size(yield* TestClock.sleeps()) >= n) return
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
    }
    return yield* Effect.dieMessage(`fewer than ${n} sleeping fibers`)
  })
