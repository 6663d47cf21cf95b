/**
 * Core's `Transport` (PROTOCOL.md §2, §6): one GET of the signed URL, exactly as core built it, with a timeout
 * and a bounded body. Status and Content-Type are passed through untouched; core decides what they mean.
 *
 * Two ways to run it: `layerNode`, on node:http / node:https directly with a keep-alive connection pool (the
 * default, and the fast one), or `layer`, on any `@effect/platform` `HttpClient` you provide (undici, fetch).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Protocol from "@witkey/core/Protocol"
import * as Transport from "@witkey/core/Transport"
import type { ConfigError } from "effect/ConfigError"
import type { Scope } from "effect"
import {
  Cause,
  Clock,
  Config,
  Context,
  DefaultServices,
  Duration,
  Effect,
  Layer,
  Option,
  Stream,
  Tracer
} from "effect"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Bytes from "./internal/bytes.js"
import * as LiveClock from "./internal/liveClock.js"
import * as NodeGet from "./internal/NodeGet.js"
import * as TargetUrl from "./internal/target.js"

export interface Options {
  /** Time for the whole exchange: connect, answer and body. Default 15 seconds. Measured with Effect's Clock. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Largest body accepted; a longer one fails with reason `too_large`. Default core's 64 KiB response bound. */
  readonly maxResponseBytes?: number | undefined
}

/** `layerNode`'s options: the common ones and the connection pool's. */
export interface NodeOptions extends Options {
  /**
   * Reuse connections (default true). A request written on a pooled connection that the server closed at the
   * same moment fails as `network` with `mayHaveReached: true` (it cannot be told apart from a gateway that read
   * it and then failed); the client re-sends it byte for byte, which is safe (PROTOCOL.md §7). `idleTimeout`
   * keeps such races rare.
   */
  readonly keepAlive?: boolean | undefined
  /** Connections per host at most; more requests wait in the pool (their timeout runs). Default: no limit. */
  readonly maxSockets?: number | undefined
  /**
   * How long an idle pooled connection is kept: default 4 seconds, under common servers' keep-alive timeouts
   * (Node 5 s, nginx 75 s). A shorter `Keep-Alive: timeout=N` from the server wins (Node honours it).
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** Certificate authorities to trust for https instead of Node's bundled list (a private or test CA). */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined
  /** Your own agents instead of the pool built here (then the options above are theirs to set). Not destroyed. */
  readonly httpAgent?: Http.Agent | undefined
  readonly httpsAgent?: Https.Agent | undefined
}

export const DEFAULT_IDLE_TIMEOUT: Duration.Duration = Duration.seconds(4)

export const DEFAULT_TIMEOUT: Duration.Duration = Duration.seconds(15)
export const DEFAULT_MAX_RESPONSE_BYTES: number = Protocol.Response.maxBytes

/**
 * Error codes that prove the request never left: the connection or name lookup failed, or TLS was not
 * established (the HTTP request is only written after the handshake).
 */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_FAIL",
  "EAI_NONAME",
  "EAI_NODATA",
  "UND_ERR_CONNECT_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_SSL_WRONG_VERSION_NUMBER"
])

/** System calls that fail before a byte of the request is written. */
// Routing errors (ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL) are not in NOT_SENT_CODES: they prove nothing was
// sent only with syscall `connect`, which this set covers; on an established socket Linux can report
// `read EHOSTUNREACH` after the GET went out.
const NOT_SENT_SYSCALLS: ReadonlySet<string> = new Set(["connect", "getaddrinfo"])

interface Failure {
  readonly code: string | undefined
  readonly syscall: string | undefined
  readonly message: string | undefined
}

/** The first error code in a cause chain (`cause`, AggregateError's `errors`), bounded in depth. */
const findFailure = (cause: unknown, depth = 0): Failure | undefined => {
  if (depth > 6 || typeof cause !== "object" || cause === null) return undefined
  const record = cause as {
    code?: unknown
    syscall?: unknown
    message?: unknown
    cause?: unknown
    errors?: unknown
  }
  if (typeof record.code === "string")
    return {
      code: record.code,
      syscall: typeof record.syscall === "string" ? record.syscall : undefined,
      message: typeof record.message === "string" ? record.message : undefined
    }
  const inner = findFailure(record.cause, depth + 1)
  if (inner) return inner
  if (Array.isArray(record.errors)) {
    for (const error of record.errors.slice(0, 8)) {
      const found = findFailure(error, depth + 1)
      if (found) return found
    }
  }
  return undefined
}

/** Error texts must never carry the query (it holds `sign`): cut anything that looks like one. */
const scrub = (text: string): string => text.replace(/\?\S*/g, "?…").slice(0, 200)

/** Whether a failure of the request itself (not of its body) proves nothing was sent. */
export const classify = (
  cause: unknown
): { readonly reason: "connect" | "network"; readonly detail: string } => {
  const failure = findFailure(cause)
  const detail = failure
    ? scrub(failure.message ?? failure.code ?? "unknown error")
    : cause instanceof Error
      ? scrub(cause.message)
      : "unknown error"
  const notSent =
    failure !== undefined &&
    ((failure.code !== undefined && NOT_SENT_CODES.has(failure.code)) ||
      (failure.syscall !== undefined && NOT_SENT_SYSCALLS.has(failure.syscall)))
  return { reason: notSent ? "connect" : "network", detail }
}

type Target = TargetUrl.Target

/** What may be said about a request in spans and errors: host and path, the service and the task, never `sign`. */
const parseTarget = TargetUrl.parse

const fail = (reason: Transport.TransportError["reason"], mayHaveReached: boolean, message: string) =>
  new Transport.TransportError({ reason, mayHaveReached, message })

const mapRequestError = (
  target: Target,
  error: HttpClientError.HttpClientError
): Transport.TransportError => {
  const where = `GET ${target.host}${target.path}`
  if (error._tag === "RequestError" && error.reason === "InvalidUrl")
    return fail("invalid_url", false, `${where}: the URL is not valid`)
  if (error._tag === "RequestError" && error.reason === "Transport") {
    const { detail, reason } = classify(error.cause)
    return reason === "connect"
      ? fail("connect", false, `${where}: could not connect (${detail}); nothing was sent`)
      : fail("network", true, `${where}: the exchange failed (${detail}); the request may have been received`)
  }
  // A failure while reading the answer: the request reached the gateway.
  return fail("network", true, `${where}: reading the answer failed (${classify(error.cause).detail})`)
}

const invalidUrl = fail("invalid_url", false, "the gateway URL is not an absolute http(s) URL in normal form")

const timedOut = (target: Target, timeout: Duration.Duration) =>
  fail(
    "timeout",
    true,
    `GET ${target.host}${target.path}: no complete answer within ${Duration.format(timeout)}`
  )

/** Effect's default tracer, which keeps spans in memory only: what runs when no tracer is installed. */
const NativeTracer: Tracer.Tracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * The span of one GET: host, path, service and task, never the query (it holds `sign`). With no tracer
 * installed (Effect's default one, which nobody reads) a span is only a cost, so every transport makes it only
 * when a tracer would receive it, like core's `withSpanIfTraced` (node-http does not import core's internals).
 */
const traced = (
  target: Target,
  effect: Effect.Effect<Transport.RawResponse, Transport.TransportError>
): Effect.Effect<Transport.RawResponse, Transport.TransportError> => {
  // Parsed again here, only for a span: the transport itself reads the URL by hand (`internal/target.ts`).
  const query = new URL(target.url).searchParams
  const service = query.get(Protocol.Param.service)
  const outerTaskId = query.get(Protocol.Param.outerTaskId)
  return effect.pipe(
    Effect.tapError((e) => Effect.annotateCurrentSpan({ "witkey.transport.error": e.reason })),
    Effect.withSpan("witkey.http.get", {
      captureStackTrace: false,
      kind: "client",
      attributes: {
        "server.address": target.host,
        "url.path": target.path,
        ...(service !== null ? { "witkey.service": service } : {}),
        ...(outerTaskId !== null ? { "witkey.outer_task_id": outerTaskId } : {})
      }
    })
  )
}

/** Builds the transport on the `HttpClient` in context. */
export const make = (
  options: Options = {}
): Effect.Effect<Transport.Transport, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => fromClient(client, options))

/** Builds the transport on a given client. */
export const fromClient = (client: HttpClient.HttpClient, options: Options = {}): Transport.Transport => {
  const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
  // The platform's own client span would record the full URL, `sign` included: ours replaces it.
  const http = HttpClient.withTracerDisabledWhen(client, () => true)

  const exchange = (target: Target, spanned: boolean) =>
    Effect.scoped(
      Effect.gen(function* () {
        const tooLarge = (size: string) =>
          fail(
            "too_large",
            true,
            `GET ${target.host}${target.path}: the answer is ${size}, more than the limit of ${maxBytes} bytes`
          )
        const response = yield* HttpClient.withScope(http)
          .execute(HttpClientRequest.get(target.url))
          .pipe(Effect.mapError((e) => mapRequestError(target, e)))
        const declared = Bytes.declaredLength(response.headers["content-length"])
        if (declared !== undefined && declared > maxBytes) return yield* tooLarge(`${declared} bytes`)
        const chunks: Array<Uint8Array> = []
        const size = yield* response.stream.pipe(
          Stream.mapError((e) => mapRequestError(target, e)),
          Stream.runFoldEffect(0, (total, chunk) => {
            const next = total + chunk.length
            if (next > maxBytes) return Effect.fail(tooLarge("longer"))
            chunks.push(chunk)
            return Effect.succeed(next)
          })
        )
        const body = Bytes.concat(chunks, size)
        if (spanned)
          yield* Effect.annotateCurrentSpan({
            "http.response.status_code": response.status,
            "http.response.body.size": size
          })
        return {
          status: response.status,
          body,
          contentType: response.headers["content-type"]
        } satisfies Transport.RawResponse
      })
    )

  const get = (url: string): Effect.Effect<Transport.RawResponse, Transport.TransportError> => {
    const target = parseTarget(url)
    if (target === undefined) return Effect.fail(invalidUrl)
    const timed = (spanned: boolean) =>
      exchange(target, spanned).pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => timedOut(target, timeout) })
      )
    return Effect.tracerWith((tracer) =>
      tracer === NativeTracer ? timed(false) : traced(target, timed(true))
    )
  }

  return Transport.make(get)
}

/** The transport on the `HttpClient` you provide (NodeHttpClient, FetchHttpClient, ...). */
export const layer = (
  options: Options = {}
): Layer.Layer<Transport.Transport, never, HttpClient.HttpClient> =>
  Layer.effect(Transport.Transport, make(options))

const nodeFailure = (
  target: Target,
  failure: NodeGet.Failure,
  timeout: Duration.Duration,
  maxBytes: number
) => {
  const where = `GET ${target.host}${target.path}`
  switch (failure._tag) {
    case "TooLarge":
      return fail(
        "too_large",
        true,
        `${where}: the answer is ${failure.declared !== undefined ? `${failure.declared} bytes` : "longer"}, more than the limit of ${maxBytes} bytes`
      )
    case "Truncated":
      return fail("network", true, `${where}: the connection closed before the answer was complete`)
    case "Timeout":
      return failure.phase === NodeGet.Unsent
        ? fail(
            "connect",
            false,
            `${where}: no connection within ${Duration.format(timeout)}; nothing was sent`
          )
        : timedOut(target, timeout)
    case "Error": {
      const { detail, reason } = classify(failure.error)
      if (failure.phase === NodeGet.Answered)
        return fail("network", true, `${where}: reading the answer failed (${detail})`)
      if (failure.phase === NodeGet.Unsent || reason === "connect")
        return fail("connect", false, `${where}: could not connect (${detail}); nothing was sent`)
      return fail(
        "network",
        true,
        `${where}: the exchange failed (${detail}${failure.reused ? ", on a reused connection" : ""}); the request may have been received`
      )
    }
  }
}

/**
 * Builds the transport on node:http / node:https with its own connection pool, closed with the scope (or on
 * the agents given in `options`, left open).
 */
export const makeNode = (options: NodeOptions = {}): Effect.Effect<Transport.Transport, never, Scope.Scope> =>
  Effect.gen(function* () {
    const keepAlive = options.keepAlive ?? true
    const agentOptions: Https.AgentOptions = {
      keepAlive,
      ...(options.maxSockets !== undefined ? { maxSockets: options.maxSockets } : {}),
      // Node closes a pooled socket idle this long (and a server's shorter Keep-Alive hint wins).
      ...(keepAlive
        ? { timeout: Duration.toMillis(Duration.decode(options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT)) }
        : {}),
      ...(options.ca !== undefined ? { ca: options.ca as Array<string | Buffer> } : {})
    }
    const own = <A extends Http.Agent>(given: A | undefined, make: () => A) =>
      given !== undefined
        ? Effect.succeed(given)
        : Effect.acquireRelease(Effect.sync(make), (agent) => Effect.sync(() => agent.destroy()))
    // An agent opens nothing until used: both are cheap to build.
    const httpAgent = yield* own(options.httpAgent, () => new Http.Agent(agentOptions))
    const httpsAgent = yield* own(options.httpsAgent, () => new Https.Agent(agentOptions))
    return fromNodeAgents({ http: httpAgent, https: httpsAgent }, options)
  })

const annotate = (response: Transport.RawResponse) =>
  Effect.annotateCurrentSpan({
    "http.response.status_code": response.status,
    "http.response.body.size": response.body.length
  })

/** The transport on given node:http and node:https agents (their pools, their TLS settings). */
export const fromNodeAgents = (
  agents: { readonly http: Http.Agent; readonly https: Https.Agent },
  options: Options = {}
): Transport.Transport => {
  const timeout = Duration.decode(options.timeout ?? DEFAULT_TIMEOUT)
  const timeoutMillis = Duration.toMillis(timeout)
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES

  /**
   * The call as an interruptible effect: interruption destroys the request (and its socket). This is
   * `Effect.async` with a canceler (`onInterrupt`) without the success path's no-op cleanup step.
   */
  const exchange = (
    target: Target,
    call: NodeGet.Call
  ): Effect.Effect<Transport.RawResponse, Transport.TransportError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.matchCauseEffect(
        restore(
          Effect.async<Transport.RawResponse, Transport.TransportError>((resume) =>
            call.start((result, ok) =>
              resume(
                ok
                  ? Effect.succeed(result as NodeGet.Answer)
                  : Effect.fail(nodeFailure(target, result as NodeGet.Failure, timeout, maxBytes))
              )
            )
          )
        ),
        {
          onFailure: (cause) =>
            Cause.isInterruptedOnly(cause)
              ? Effect.zipRight(
                  Effect.sync(() => call.abort()),
                  Effect.failCause(cause)
                )
              : Effect.failCause(cause),
          onSuccess: Effect.succeed
        }
      )
    )

  const get = (url: string): Effect.Effect<Transport.RawResponse, Transport.TransportError> => {
    const target = parseTarget(url)
    if (target === undefined) return Effect.fail(invalidUrl)
    // The Clock and the tracer, read in one step from the fiber's default services.
    return Effect.withFiberRuntime((fiber) => {
      const services = fiber.currentDefaultServices
      // The live Clock's timer is a plain setTimeout inside the call: `Effect.timeoutFail` forks a sleeping
      // fiber per request. Any other Clock (TestClock) gets Effect's timeout.
      const live = LiveClock.isLive(Context.get(services, Clock.Clock))
      const call = new NodeGet.Call(
        target.https ? Https.request : Http.request,
        {
          method: "GET",
          hostname: target.hostname,
          port: target.port,
          path: target.pathAndQuery,
          agent: target.https ? agents.https : agents.http
        },
        maxBytes,
        live ? timeoutMillis : undefined
      )
      const timed = live
        ? exchange(target, call)
        : Effect.timeoutFail(exchange(target, call), {
            duration: timeout,
            onTimeout: () => nodeFailure(target, { _tag: "Timeout", phase: call.phase }, timeout, maxBytes)
          })
      // With no tracer installed the span is skipped (`traced`): here it was a third of this call's own work.
      return Context.get(services, Tracer.Tracer) === NativeTracer
        ? timed
        : traced(target, Effect.tap(timed, annotate))
    })
  }

  return Transport.make(get)
}

/**
 * The transport on node:http / node:https with a keep-alive pool (see `NodeOptions`), closed when the layer is
 * released. Needs nothing but Node.
 */
export const layerNode = (options: NodeOptions = {}): Layer.Layer<Transport.Transport> =>
  Layer.scoped(Transport.Transport, makeNode(options))

/**
 * Options from configuration: `WITKEY_HTTP_TIMEOUT` (a duration, e.g. "15 seconds"),
 * `WITKEY_HTTP_MAX_RESPONSE_BYTES`, `WITKEY_HTTP_KEEP_ALIVE` (true/false; `layerNode` only).
 */
export const config: Config.Config<NodeOptions> = Config.all({
  keepAlive: Config.boolean("WITKEY_HTTP_KEEP_ALIVE").pipe(Config.option, Config.map(Option.getOrUndefined)),
  timeout: Config.duration("WITKEY_HTTP_TIMEOUT").pipe(Config.option, Config.map(Option.getOrUndefined)),
  maxResponseBytes: Config.integer("WITKEY_HTTP_MAX_RESPONSE_BYTES").pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n > 0 }),
    Config.option,
    Config.map(Option.getOrUndefined)
  )
})

export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<Transport.Transport, ConfigError, HttpClient.HttpClient> =>
  Layer.unwrapEffect(Effect.map(options, layer))

/** `layerConfig` on node:http, as `layerNode`. */
export const layerNodeConfig = (
  options: Config.Config<NodeOptions> = config
): Layer.Layer<Transport.Transport, ConfigError> => Layer.unwrapEffect(Effect.map(options, layerNode))
