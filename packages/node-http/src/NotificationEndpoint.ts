/**
 * The `notify_url` endpoint (PROTOCOL.md §6): reads the raw body itself (bounded in size and time), runs
 * core's `NotificationReceiver` (verify, `notify_verify`, inbox, the user's handler) and answers exactly
 * `success` only once the handler's effect and the inbox record are committed; anything else answers `fail`,
 * so that Alipay retries.
 *
 * This module is the framework-neutral part (`precheck`, `respond`, `refuse`, the `Answer`) and the
 * `@effect/platform` HttpApp and router route. The plain Node `(req, res)` listener for node:http and Express
 * is `NodeNotificationListener`. Mount either before any body parser: the signature covers the exact bytes.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Protocol from "@witkey/core/Protocol"
import type { Scope } from "effect"
import { Duration, Effect, Schema, Stream } from "effect"
import * as Bytes from "./internal/bytes.js"

export interface Options extends NotificationReceiver.Options {
  /** Largest body read; a longer one is refused with HTTP 413 without buffering it. Default 64 KiB. */
  readonly maxBodyBytes?: number | undefined
  /** Time allowed to receive the whole body; a slower one is cut off with HTTP 408. Default 10 seconds. */
  readonly readTimeout?: Duration.DurationInput | undefined
  /** Told every receiver result (after the inbox committed, before Alipay gets its answer): metrics, audit. */
  readonly onResult?: ((result: NotificationReceiver.Result) => Effect.Effect<void>) | undefined
  /**
   * Told every body refused before the receiver saw it (wrong method, too large, too slow, broken, already
   * read by a body parser), after it was logged and before Alipay gets its `fail`.
   */
  readonly onBodyError?: ((error: NotificationBodyError) => Effect.Effect<void>) | undefined
}

export const DEFAULT_MAX_BODY_BYTES: number = Protocol.Notify.maxBodyBytes
export const DEFAULT_READ_TIMEOUT: Duration.Duration = Duration.seconds(10)

/** The user's handler: runs at most once per event, inside the inbox. */
export type Handler<E, R> = (notification: Notification.Notification) => Effect.Effect<void, E, R>

/** The body could not be read as it arrived. Always answered `fail`, so that Alipay delivers again. */
export class NotificationBodyError extends Schema.TaggedError<NotificationBodyError>()(
  "NotificationBodyError",
  {
    reason: Schema.Literal("method", "too_large", "timeout", "read", "already_parsed"),
    message: Schema.String
  }
) {
  /** The HTTP status the endpoint answers with. */
  get status(): number {
    switch (this.reason) {
      case "method":
        return 405
      case "too_large":
        return 413
      case "timeout":
        return 408
      case "read":
        return 400
      case "already_parsed":
        return 500
    }
  }
}

/** @deprecated The old name of `NotificationBodyError` (whose `_tag` it always was). */
export const BodyError = NotificationBodyError
/** @deprecated The old name of `NotificationBodyError`. */
export type BodyError = NotificationBodyError

const ALREADY_PARSED =
  "the request body was already consumed by a body parser (express.json(), express.urlencoded(), ...): mount the Alipay notification listener before any body parser, its signature covers the raw bytes"

// The refusals the endpoint's readers make, exported for a reader of your own (answered with `refuse`).

/** The error for a body that a body parser read first; `found` says what was there instead of the bytes. */
export const alreadyParsed = (found?: string): NotificationBodyError =>
  new NotificationBodyError({
    reason: "already_parsed",
    message: found === undefined ? ALREADY_PARSED : `got ${found} instead of the raw body; ${ALREADY_PARSED}`
  })

/** The read timeout's error. */
export const timedOut = (timeout: Duration.Duration): NotificationBodyError =>
  new NotificationBodyError({
    reason: "timeout",
    message: `the body did not arrive within ${Duration.format(timeout)}`
  })

/** The error for a body that passed `maxBytes` while it was read. */
export const tooLong = (maxBytes: number): NotificationBodyError =>
  new NotificationBodyError({ reason: "too_large", message: `the body is longer than ${maxBytes} bytes` })

const tooLarge = (size: number, maxBytes: number) =>
  new NotificationBodyError({
    reason: "too_large",
    message: `the body is ${size} bytes, more than ${maxBytes} bytes`
  })

/**
 * The checks made before any byte is read, the same for every way in: POST only, and a declared
 * Content-Length within `maxBodyBytes` (a longer body is refused before it is buffered).
 */
export const precheck = (
  method: string | undefined,
  contentLength: string | undefined,
  options: Options = {}
): NotificationBodyError | undefined => {
  if (method !== "POST")
    return new NotificationBodyError({ reason: "method", message: `${method} is not allowed; Alipay POSTs` })
  const maxBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const declared = Bytes.declaredLength(contentLength)
  return declared !== undefined && declared > maxBytes ? tooLarge(declared, maxBytes) : undefined
}

/** What to answer, for any framework: the exact body bytes (`success` or `fail`), the status and headers. */
export interface Answer {
  readonly status: number
  readonly body: Uint8Array
  readonly contentType: "text/plain"
  /**
   * Headers besides the type and length: a refused body closes the connection (so that the rest of an
   * oversized or stalled body is not drained), and a wrong method gets `allow: POST`.
   */
  readonly headers: Readonly<Record<string, string>>
  /** Why: the receiver's result, or the reason the body was refused before it. */
  readonly result: NotificationReceiver.Result | NotificationBodyError
}

const encoder = new TextEncoder()
const ACK = encoder.encode(Protocol.Notify.ack)
const NACK = encoder.encode(Protocol.Notify.nack)
const NO_HEADERS: Readonly<Record<string, string>> = {}
const CLOSE: Readonly<Record<string, string>> = { connection: "close" }
const CLOSE_ALLOW_POST: Readonly<Record<string, string>> = { connection: "close", allow: "POST" }

const bodyErrorAnswer = (error: NotificationBodyError): Answer => ({
  status: error.status,
  body: NACK,
  contentType: "text/plain",
  headers: error.reason === "method" ? CLOSE_ALLOW_POST : CLOSE,
  result: error
})

const resultAnswer = (result: NotificationReceiver.Result): Answer => ({
  status: NotificationReceiver.status(result),
  body: result._tag === "Acknowledged" ? ACK : NACK,
  contentType: "text/plain",
  headers: NO_HEADERS,
  result
})

/**
 * The answer to a refused body, for any framework: logged (an error when a body parser got there first, a
 * mounting mistake; a warning otherwise), told to `onBodyError`, then `fail` with the error's status. Never
 * fails.
 */
export const refuse = (error: NotificationBodyError, options: Options = {}): Effect.Effect<Answer> => {
  const logged =
    error.reason === "already_parsed"
      ? Effect.logError(`witkey notification endpoint: ${error.message}`)
      : Effect.logWarning("witkey notification body refused").pipe(
          Effect.annotateLogs({ reason: error.reason, detail: error.message })
        )
  const told = options.onBodyError ? Effect.zipRight(logged, options.onBodyError(error)) : logged
  return Effect.as(told, bodyErrorAnswer(error))
}

/**
 * The pipeline on a body you read yourself (another framework, a queue): the exact raw bytes and the
 * Content-Type as received. Anything but bytes (an object or string a body parser made) is refused with a
 * logged error and `fail`: the signature covers the bytes, which cannot be rebuilt. Never fails.
 *
 * Once verified, handling is not cut short by interruption (the caller hanging up): a half-run handler helps
 * nobody, and Alipay's next delivery finds the inbox record.
 */
export const respond = <E, R>(
  raw: Notification.RawNotification,
  handler: Handler<E, R>,
  options: Options = {}
): Effect.Effect<Answer, never, NotificationReceiver.NotificationReceiver | Inbox.Inbox | R> =>
  Effect.suspend(() => {
    const maxBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    if (!(raw.body instanceof Uint8Array))
      return refuse(alreadyParsed(raw.body === null ? "null" : typeof raw.body), options)
    if (raw.body.length > maxBytes) return refuse(tooLarge(raw.body.length, maxBytes), options)
    const received = NotificationReceiver.receive(
      { body: raw.body, contentType: raw.contentType },
      handler,
      options
    )
    const onResult = options.onResult
    return Effect.uninterruptible(
      onResult === undefined
        ? Effect.map(received, resultAnswer)
        : Effect.flatMap(received, (result) => Effect.as(onResult(result), resultAnswer(result)))
    )
  })

/**
 * Reads the raw body, refusing an oversized one as soon as it is known and a stalled one after the timeout.
 *
 * The body stream lives in the request's `Scope` (which the server closes once the answer is written):
 * stopping early must not destroy the connection before the 413 or 408 has gone out.
 */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  options: Options = {}
): Effect.Effect<Uint8Array, NotificationBodyError, Scope.Scope> =>
  Effect.suspend(() => {
    const refused = precheck(request.method, request.headers["content-length"], options)
    if (refused !== undefined) return Effect.fail(refused)
    const maxBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    const timeout = Duration.decode(options.readTimeout ?? DEFAULT_READ_TIMEOUT)
    return Effect.gen(function* () {
      const pull = yield* Stream.toPull(request.stream)
      const read: Effect.Effect<Uint8Array, NotificationBodyError> = Effect.gen(function* () {
        const chunks: Array<Uint8Array> = []
        let size = 0
        while (true) {
          const next = yield* Effect.either(pull)
          if (next._tag === "Left") {
            if (next.left._tag === "None") return Bytes.concat(chunks, size)
            return yield* new NotificationBodyError({
              reason: "read",
              message: `reading the body failed: ${next.left.value.message}`
            })
          }
          for (const chunk of next.right) {
            size += chunk.length
            if (size > maxBytes) return yield* tooLong(maxBytes)
            chunks.push(chunk)
          }
        }
      })
      // Servers run apps uninterruptibly; the read must stay interruptible for the timeout to cut it off.
      return yield* read.pipe(
        Effect.interruptible,
        Effect.timeoutFail({ duration: timeout, onTimeout: () => timedOut(timeout) })
      )
    })
  })

/** An `Answer` as a platform HTTP response: the one rendering for the HttpApp. */
export const toHttpResponse = (answer: Answer): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.uint8Array(answer.body, {
    status: answer.status,
    contentType: answer.contentType,
    headers: answer.headers
  })

/** Handles one request: read the body (bounded), `respond` (or `refuse`), answer. Never fails. */
export const handle = <E, R>(
  request: HttpServerRequest.HttpServerRequest,
  handler: Handler<E, R>,
  options: Options = {}
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  Scope.Scope | NotificationReceiver.NotificationReceiver | Inbox.Inbox | R
> =>
  readBody(request, options).pipe(
    Effect.matchEffect({
      onFailure: (error) => refuse(error, options),
      onSuccess: (body) => respond({ body, contentType: request.headers["content-type"] }, handler, options)
    }),
    Effect.map(toHttpResponse)
  )

/** The endpoint as an HttpApp; serve it, or mount it with `HttpRouter.post(path, app)` or `route`. */
export const httpApp = <E, R>(
  handler: Handler<E, R>,
  options: Options = {}
): HttpApp.Default<
  never,
  | HttpServerRequest.HttpServerRequest
  | Scope.Scope
  | NotificationReceiver.NotificationReceiver
  | Inbox.Inbox
  | R
> => Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => handle(request, handler, options))

/** The endpoint as a POST route at `path`, for `HttpRouter.fromIterable([...])` and the like. */
export const route = <E, R>(
  path: HttpRouter.PathInput,
  handler: Handler<E, R>,
  options: Options = {}
): HttpRouter.Route<
  never,
  HttpRouter.HttpRouter.ExcludeProvided<NotificationReceiver.NotificationReceiver | Inbox.Inbox | R>
> => HttpRouter.makeRoute("POST", path, httpApp(handler, options))
