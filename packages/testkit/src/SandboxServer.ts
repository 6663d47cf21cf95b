/**
 * The sandbox gateway over HTTP on loopback (`GET /gateway.do`, both services), for tests of real transports
 * and for `witkey sandbox --port N`, with the sandbox console at `/` (`SandboxConsole`; `console: false` for
 * the gateway alone).
 *
 * Faults that drop the answer behave as on a real network: `Fault.drop({ mode: "hang" })` never answers (the
 * client has to time out), `Fault.drop({ mode: "reset" })` destroys the connection. Other paths answer 404,
 * other methods (HEAD included: a payout is never a side effect of a HEAD) 405. On shutdown every open connection is closed, hanging ones included.
 *
 * ```ts
 * const server = yield* SandboxServer.SandboxServer
 * Client.layer({ partner, gateway: server.gatewayUrl })
 * ```
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type { Scope } from "effect"
import { Context, Effect, Layer } from "effect"
import * as Http from "node:http"
import * as Sandbox from "./Sandbox.js"
import * as SandboxConsole from "./SandboxConsole.js"

export const GATEWAY_PATH = "/gateway.do"

export interface SandboxServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** `http://127.0.0.1:<port>/`: the console, or undefined when it is off. */
  readonly consoleUrl: string | undefined
  /** `http://127.0.0.1:<port>/gateway.do`: the client's `gateway` option. */
  readonly gatewayUrl: string
  readonly host: string
  readonly port: number
}

export const SandboxServer: Context.Tag<SandboxServer, SandboxServer> = Context.GenericTag<SandboxServer>(
  "@witkey/testkit/SandboxServer"
)

export interface Options {
  /** Default 0: a free port, read it from `SandboxServer.port`. */
  readonly port?: number | undefined
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Serve the console at `/`. Default true. */
  readonly console?: boolean | undefined
}

const gateway = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const sandbox = yield* Sandbox.Sandbox
  // The raw request target: the query is verified from its exact bytes, never from a re-encoded form.
  const answer = yield* Effect.either(sandbox.handle(request.originalUrl))
  if (answer._tag === "Left") {
    if (answer.left.reason === "network") NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
    // Interrupted when the connection closes (by the client, by the reset above, or at shutdown).
    return yield* Effect.never
  }
  const { body, contentType, status } = answer.right
  return contentType === undefined
    ? HttpServerResponse.raw(body, { status })
    : HttpServerResponse.uint8Array(body, { status, contentType })
})

/** The routes: `GET /gateway.do` answered by the `Sandbox` in context; anything else 405. */
export const router: HttpRouter.HttpRouter<never, Sandbox.Sandbox> = HttpRouter.empty.pipe(
  HttpRouter.all(
    GATEWAY_PATH,
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      request.method === "GET"
        ? gateway
        : Effect.succeed(
            HttpServerResponse.text("method not allowed", { status: 405, headers: { allow: "GET" } })
          )
    )
  )
)

/** Serves the `Sandbox` in context on `host:port` for the life of the current scope. */
export const make = (
  options: Options = {}
): Effect.Effect<SandboxServer, ServeError, Sandbox.Sandbox | Scope.Scope> =>
  Effect.gen(function* () {
    const host = options.host ?? "127.0.0.1"
    const node = Http.createServer()
    const server = yield* NodeHttpServer.make(() => node, { port: options.port ?? 0, host })
    // Runs before the server's own close, which would otherwise wait for hanging requests forever.
    yield* Effect.addFinalizer(() => Effect.sync(() => node.closeAllConnections()))
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`
    const gatewayUrl = `${url}${GATEWAY_PATH}`
    const withConsole = options.console ?? true
    yield* server.serve(
      withConsole
        ? HttpRouter.concat(
            router,
            yield* SandboxConsole.router({ gatewayUrl, hosts: SandboxConsole.hostsFor(host, port) })
          )
        : router
    )
    return { url, consoleUrl: withConsole ? `${url}/` : undefined, gatewayUrl, host, port }
  })

export const layer = (options: Options = {}): Layer.Layer<SandboxServer, ServeError, Sandbox.Sandbox> =>
  Layer.scoped(SandboxServer, make(options))

/** A sandbox and its server in one layer (what `witkey sandbox` runs). */
export const layerWithSandbox = (
  options: Options & { readonly sandbox?: Sandbox.Options | undefined } = {}
): Layer.Layer<SandboxServer | Sandbox.Sandbox, ServeError | Sandbox.SandboxError> =>
  layer(options).pipe(Layer.provideMerge(Sandbox.layer(options.sandbox)))
