/**
 * Core's `Transport` over `@effect/platform`'s `HttpClient` (PROTOCOL.md §2, §6): one GET of the signed URL,
 * exactly as core built it, with a timeout and a bounded body. Status and Content-Type are passed through
 * untouched; core decides what they mean. Swap the client to choose node:http, undici or fetch.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Protocol from "@witkey/core/Protocol"
import * as Transport from "@witkey/core/Transport"
import type { ConfigError } from "effect/ConfigError"
import { Config, Duration, Effect, Layer, Option, Stream } from "effect"

export interface Options {
  /** Time for the whole exchange: connect, answer and body. Default 15 seconds. Measured with Effect's Clock. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Largest body accepted; a longer one fails with reason `too_large`. Default core's 64 KiB response bound. */
  readonly maxResponseBytes?: number | undefined
}

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

interface Target {
  readonly url: string
  readonly host: string
  readonly path: string
  readonly service: string | undefined
  readonly outerTaskId: string | undefined
}

/** What may be said about a request in spans and errors: host and path, the service and the task, never `sign`. */
const parseTarget = (url: string): Target | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined
  return {
    url,
    host: parsed.host,
    path: parsed.pathname,
    service: parsed.searchParams.get(Protocol.Param.service) ?? undefined,
    outerTaskId: parsed.searchParams.get(Protocol.Param.outerTaskId) ?? undefined
  }
}

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

const contentLength = (headers: Readonly<Record<string, string | undefined>>): number | undefined => {
  const value = headers["content-length"]
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) return undefined
  return Number(value.trim())
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

  const exchange = (target: Target) =>
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
        const declared = contentLength(response.headers)
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
        const body = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          body.set(chunk, offset)
          offset += chunk.length
        }
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
    if (target === undefined)
      return Effect.fail(fail("invalid_url", false, "the gateway URL is not an absolute http(s) URL"))
    return exchange(target).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          fail(
            "timeout",
            true,
            `GET ${target.host}${target.path}: no complete answer within ${Duration.format(timeout)}`
          )
      }),
      Effect.tapError((e) => Effect.annotateCurrentSpan({ "witkey.transport.error": e.reason })),
      Effect.withSpan("witkey.http.get", {
        captureStackTrace: false,
        kind: "client",
        attributes: {
          "server.address": target.host,
          "url.path": target.path,
          ...(target.service !== undefined ? { "witkey.service": target.service } : {}),
          ...(target.outerTaskId !== undefined ? { "witkey.outer_task_id": target.outerTaskId } : {})
        }
      })
    )
  }

  return Transport.make(get)
}

/** The transport on the `HttpClient` you provide (NodeHttpClient, FetchHttpClient, ...). */
export const layer = (
  options: Options = {}
): Layer.Layer<Transport.Transport, never, HttpClient.HttpClient> =>
  Layer.effect(Transport.Transport, make(options))

/**
 * The transport on node:http, one connection per call (no keep-alive): a stale pooled socket would turn a
 * request the gateway never saw into an unknown outcome, and calls are rare.
 */
export const layerNode = (options: Options = {}): Layer.Layer<Transport.Transport> =>
  layer(options).pipe(
    Layer.provide(NodeHttpClient.layerWithoutAgent),
    Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false }))
  )

/** Options from configuration: `WITKEY_HTTP_TIMEOUT` (a duration, e.g. "15 seconds"), `WITKEY_HTTP_MAX_RESPONSE_BYTES`. */
export const config: Config.Config<Options> = Config.all({
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
  options: Config.Config<Options> = config
): Layer.Layer<Transport.Transport, ConfigError> => Layer.unwrapEffect(Effect.map(options, layerNode))
