/**
 * The `notify_url` endpoint (PROTOCOL.md §6): reads the raw body itself (bounded in size and time), runs
 * core's `NotificationReceiver` (verify, `notify_verify`, inbox, the user's handler) and answers exactly
 * `success` only once the handler's effect and the inbox record are committed; anything else answers `fail`,
 * so that Alipay retries.
 *
 * Offered as an `@effect/platform` HttpApp (and router route), and as a plain Node `(req, res)` listener for
 * node:http and Express. Mount it before any body parser: the signature covers the exact bytes.
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
import type { ManagedRuntime, Scope } from "effect"
import { Clock, Duration, Effect, Exit, Runtime, Schema, Stream } from "effect"
import type * as Http from "node:http"

export interface Options extends NotificationReceiver.Options {
  /** Largest body read; a longer one is refused with HTTP 413 without buffering it. Default 64 KiB. */
  readonly maxBodyBytes?: number | undefined
  /** Time allowed to receive the whole body; a slower one is cut off with HTTP 408. Default 10 seconds. */
  readonly readTimeout?: Duration.DurationInput | undefined
  /** Told every receiver result (after the inbox committed, before Alipay gets its answer): metrics, audit. */
  readonly onResult?: ((result: NotificationReceiver.Result) => Effect.Effect<void>) | undefined
}

export const DEFAULT_MAX_BODY_BYTES: number = Protocol.Notify.maxBodyBytes
export const DEFAULT_READ_TIMEOUT: Duration.Duration = Duration.seconds(10)

/** The user's handler: runs at most once per event, inside the inbox. */
export type Handler<E, R> = (notification: Notification.Notification) => Effect.Effect<void, E, R>

/** The body could not be read as it arrived. Always answered `fail`, so that Alipay delivers again. */
export class BodyError extends Schema.TaggedError<BodyError>()("NotificationBodyError", {
  reason: Schema.Literal("method", "too_large", "timeout", "read", "already_parsed"),
  message: Schema.String
}) {
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

const encoder = new TextEncoder()
const ACK = encoder.encode(Protocol.Notify.ack)
const NACK = encoder.encode(Protocol.Notify.nack)

const ALREADY_PARSED =
  "the request body was already consumed by a body parser (express.json(), express.urlencoded(), ...): mount the Alipay notification listener before any body parser, its signature covers the raw bytes"

/** `success` or `fail` as exact bytes (no newline), `text/plain`. */
const plain = (body: Uint8Array, status: number, headers: Record<string, string> = {}) =>
  HttpServerResponse.uint8Array(body, { status, contentType: "text/plain", headers })

/**
 * The answer to a body that could not be read. The connection is closed so that the rest of an oversized or
 * stalled body is not drained.
 */
export const bodyErrorResponse = (error: BodyError): HttpServerResponse.HttpServerResponse =>
  plain(NACK, error.status, {
    connection: "close",
    ...(error.reason === "method" ? { allow: "POST" } : {})
  })

const declaredLength = (value: string | undefined): number | undefined =>
  value !== undefined && /^\s*\d{1,15}\s*$/.test(value) ? Number(value.trim()) : undefined

/**
 * Reads the raw body, refusing an oversized one as soon as it is known and a stalled one after the timeout.
 *
 * The body stream lives in the request's `Scope` (which the server closes once the answer is written):
 * stopping early must not destroy the connection before the 413 or 408 has gone out.
 */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  options: Options = {}
): Effect.Effect<Uint8Array, BodyError, Scope.Scope> =>
  Effect.suspend(() => {
    const maxBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    const timeout = Duration.decode(options.readTimeout ?? DEFAULT_READ_TIMEOUT)
    const tooLarge = (size: string) =>
      new BodyError({ reason: "too_large", message: `the body is ${size}, more than ${maxBytes} bytes` })
    if (request.method !== "POST")
      return Effect.fail(
        new BodyError({ reason: "method", message: `${request.method} is not allowed; Alipay POSTs` })
      )
    const declared = declaredLength(request.headers["content-length"])
    if (declared !== undefined && declared > maxBytes) return Effect.fail(tooLarge(`${declared} bytes`))
    return Effect.gen(function* () {
      const pull = yield* Stream.toPull(request.stream)
      const chunks: Array<Uint8Array> = []
      let size = 0
      const read: Effect.Effect<Uint8Array, BodyError> = Effect.gen(function* () {
        while (true) {
          const next = yield* Effect.either(pull)
          if (next._tag === "Left") {
            if (next.left._tag === "None") break
            return yield* new BodyError({
              reason: "read",
              message: `reading the body failed: ${next.left.value.message}`
            })
          }
          for (const chunk of next.right) {
            size += chunk.length
            if (size > maxBytes) return yield* tooLarge("longer")
            chunks.push(chunk)
          }
        }
        const body = new Uint8Array(size)
        let offset = 0
        for (const chunk of chunks) {
          body.set(chunk, offset)
          offset += chunk.length
        }
        return body
      })
      // Servers run apps uninterruptibly; the read must stay interruptible for the timeout to cut it off.
      return yield* read.pipe(
        Effect.interruptible,
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () =>
            new BodyError({
              reason: "timeout",
              message: `the body did not arrive within ${Duration.format(timeout)}`
            })
        })
      )
    })
  })

/** What to answer, for any framework: the exact body bytes (`success` or `fail`), the status and the type. */
export interface Answer {
  readonly status: number
  readonly body: Uint8Array
  readonly contentType: "text/plain"
  /** Why: the receiver's result, or the reason the body was refused before it. */
  readonly result: NotificationReceiver.Result | BodyError
}

const bodyErrorAnswer = (error: BodyError): Answer => ({
  status: error.status,
  body: NACK,
  contentType: "text/plain",
  result: error
})

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
    if (!(raw.body instanceof Uint8Array)) {
      const got = raw.body === null ? "null" : typeof raw.body
      return Effect.logError(
        `witkey notification endpoint: got ${got} instead of the raw body; ${ALREADY_PARSED}`
      ).pipe(Effect.as(bodyErrorAnswer(new BodyError({ reason: "already_parsed", message: ALREADY_PARSED }))))
    }
    if (raw.body.length > maxBytes)
      return Effect.succeed(
        bodyErrorAnswer(
          new BodyError({
            reason: "too_large",
            message: `the body is ${raw.body.length} bytes, more than ${maxBytes}`
          })
        )
      )
    return NotificationReceiver.receive({ body: raw.body, contentType: raw.contentType }, handler, {
      notifyVerify: options.notifyVerify,
      charsets: options.charsets
    }).pipe(
      Effect.tap((result) => (options.onResult ? options.onResult(result) : Effect.void)),
      Effect.map((result): Answer => ({
        status: NotificationReceiver.status(result),
        body: result._tag === "Acknowledged" ? ACK : NACK,
        contentType: "text/plain",
        result
      })),
      Effect.uninterruptible
    )
  })

/** The answer to a receiver result: `success` only for `Acknowledged`. */
export const toResponse = (result: NotificationReceiver.Result): HttpServerResponse.HttpServerResponse =>
  plain(result._tag === "Acknowledged" ? ACK : NACK, NotificationReceiver.status(result))

/** An `Answer` as an HTTP response; a refused body also closes the connection. */
export const toHttpResponse = (answer: Answer): HttpServerResponse.HttpServerResponse =>
  answer.result._tag === "NotificationBodyError"
    ? bodyErrorResponse(answer.result)
    : plain(answer.body, answer.status)

/** Handles one request: read the body (bounded), `respond`, answer. Never fails. */
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
      onFailure: (error) =>
        Effect.logWarning("witkey notification body refused").pipe(
          Effect.annotateLogs({ reason: error.reason, detail: error.message }),
          Effect.as(bodyErrorResponse(error))
        ),
      onSuccess: (body) =>
        Effect.map(
          respond({ body, contentType: request.headers["content-type"] }, handler, options),
          toHttpResponse
        )
    })
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

/** A Node request listener; Express passes a third argument (`next`), which is never called. */
export type NodeListener = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

/** True when something upstream read the body (a body parser sets `req.body` or drains the stream). */
const bodyConsumed = (request: Http.IncomingMessage): boolean =>
  (request as { readonly body?: unknown }).body !== undefined || request.readableEnded

const answerFail = (response: Http.ServerResponse) => {
  if (response.headersSent) return
  response.writeHead(500, {
    "content-type": "text/plain",
    "content-length": NACK.length,
    connection: "close"
  })
  response.end(NACK)
}

/**
 * Reads a Node request's body: refused as soon as it passes `maxBytes`, cut off after the read timeout on the
 * runtime's Clock, failed if the connection breaks first. Node's own stream events, no Stream machinery: this
 * runs on every notification.
 */
const readNodeBody = (
  request: Http.IncomingMessage,
  maxBytes: number,
  timeout: Duration.Duration
): Effect.Effect<Uint8Array, BodyError> =>
  Effect.clockWith((clock) =>
    // The live Clock's timer is a plain `setTimeout`, set here directly: `Effect.timeoutFail` forks a sleeping
    // fiber per request, about 28 µs. Any other Clock (TestClock) gets the generic timeout.
    isLiveClock(clock)
      ? readWithin(request, maxBytes, timeout, true)
      : readWithin(request, maxBytes, timeout, false).pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => timedOut(timeout) })
        )
  )

const LiveClock = Clock.make().constructor
const isLiveClock = (clock: Clock.Clock): boolean => clock.constructor === LiveClock

const timedOut = (timeout: Duration.Duration) =>
  new BodyError({
    reason: "timeout",
    message: `the body did not arrive within ${Duration.format(timeout)}`
  })

/** Node's stream events, no Stream machinery; with `timer`, a `setTimeout` for the read timeout. */
const readWithin = (
  request: Http.IncomingMessage,
  maxBytes: number,
  timeout: Duration.Duration,
  timer: boolean
): Effect.Effect<Uint8Array, BodyError> =>
  Effect.async<Uint8Array, BodyError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        cleanup()
        resume(
          Effect.fail(
            new BodyError({ reason: "too_large", message: `the body is longer than ${maxBytes} bytes` })
          )
        )
      } else chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
    }
    const onError = (error: Error) => {
      cleanup()
      resume(
        Effect.fail(new BodyError({ reason: "read", message: `reading the body failed: ${error.message}` }))
      )
    }
    const onClose = () => onError(new Error("the connection closed before the body ended"))
    const onTimeout = () => {
      cleanup()
      resume(Effect.fail(timedOut(timeout)))
    }
    // Past the largest timer delay (about 24.8 days) Node fires at once: no timer then, as Effect does.
    const millis = Duration.toMillis(timeout)
    const handle = timer && millis <= MAX_TIMER_MILLIS ? setTimeout(onTimeout, millis) : undefined
    const cleanup = () => {
      if (handle !== undefined) clearTimeout(handle)
      request.off("data", onData)
      request.off("end", onEnd)
      request.off("error", onError)
      request.off("close", onClose)
    }
    // The sender may have hung up before this ran (the fiber starts a tick after the request arrived).
    if (request.destroyed) {
      onClose()
      return
    }
    request.on("data", onData)
    request.on("end", onEnd)
    request.on("error", onError)
    request.on("close", onClose)
    // A listener alone does not restart a stream that something upstream paused explicitly.
    request.resume()
    return Effect.sync(cleanup)
  })

const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** The pipeline on one Node request: the body read (bounded), `respond`, the answer. Never fails. */
const nodeAnswer = <E, R>(
  request: Http.IncomingMessage,
  handler: Handler<E, R>,
  options: Options
): Effect.Effect<Answer, never, NotificationReceiver.NotificationReceiver | Inbox.Inbox | R> =>
  Effect.suspend(() => {
    const maxBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    const refused = (error: BodyError) =>
      Effect.logWarning("witkey notification body refused").pipe(
        Effect.annotateLogs({ reason: error.reason, detail: error.message }),
        Effect.as(bodyErrorAnswer(error))
      )
    if (request.method !== "POST")
      return refused(
        new BodyError({ reason: "method", message: `${request.method} is not allowed; Alipay POSTs` })
      )
    const declared = declaredLength(request.headers["content-length"])
    if (declared !== undefined && declared > maxBytes)
      return refused(
        new BodyError({
          reason: "too_large",
          message: `the body is ${declared} bytes, more than ${maxBytes} bytes`
        })
      )
    const timeout = Duration.decode(options.readTimeout ?? DEFAULT_READ_TIMEOUT)
    return readNodeBody(request, maxBytes, timeout).pipe(
      Effect.matchEffect({
        onFailure: refused,
        onSuccess: (body) => respond({ body, contentType: request.headers["content-type"] }, handler, options)
      })
    )
  })

/** Writes an `Answer`; a refused body also closes the connection, so the rest of it is never drained. */
const writeAnswer = (response: Http.ServerResponse, answer: Answer) => {
  if (response.headersSent || response.destroyed) return
  const headers: Record<string, string | number> = {
    "content-type": answer.contentType,
    "content-length": answer.body.length
  }
  if (answer.result._tag === "NotificationBodyError") {
    headers["connection"] = "close"
    if (answer.result.reason === "method") headers["allow"] = "POST"
  }
  response.writeHead(answer.status, headers)
  response.end(answer.body)
}

const fromRuntime = <E, R>(
  runtime: Runtime.Runtime<NotificationReceiver.NotificationReceiver | Inbox.Inbox | R>,
  handler: Handler<E, R>,
  options: Options
): NodeListener => {
  const runFork = Runtime.runFork(runtime)
  return (request, response) => {
    if (bodyConsumed(request)) {
      runFork(
        Effect.logError(`witkey notification endpoint: ${ALREADY_PARSED}`).pipe(
          Effect.annotateLogs({ path: request.url ?? "" })
        )
      )
      answerFail(response)
      return
    }
    // No span here: the receiver's `witkey.receive_notification` is the notification's span.
    const fiber = runFork(nodeAnswer(request, handler, options))
    // `nodeAnswer` never fails; a defect (a bug) still answers `fail`, so that Alipay delivers again.
    fiber.addObserver((exit) =>
      Exit.isSuccess(exit) ? writeAnswer(response, exit.value) : answerFail(response)
    )
  }
}

/**
 * The endpoint as a Node `(req, res)` listener for `http.createServer` or Express, running on the current
 * runtime (which must provide `NotificationReceiver`, `Inbox` and what the handler needs):
 *
 * ```ts
 * const listener = yield* NotificationEndpoint.nodeListener(handler)
 * app.post("/alipay/notify", listener) // before app.use(express.json())
 * ```
 *
 * The same pipeline and answers as `httpApp` (bounded body, read timeout on the Clock, `success` only after
 * the commit), on Node's request and response directly. A request whose body a body parser already read is
 * refused (logged error, HTTP 500, `fail`).
 */
export const nodeListener = <E, R>(
  handler: Handler<E, R>,
  options: Options = {}
): Effect.Effect<NodeListener, never, NotificationReceiver.NotificationReceiver | Inbox.Inbox | R> =>
  Effect.map(Effect.runtime<NotificationReceiver.NotificationReceiver | Inbox.Inbox | R>(), (runtime) =>
    fromRuntime(runtime, handler, options)
  )

/**
 * The Node listener on a `ManagedRuntime`, for code outside Effect (an existing Express app). The runtime's
 * layers are built on the first request; if that fails, the request answers `fail` (HTTP 500), the error is
 * logged, and the next request tries again.
 */
export const nodeListenerFromRuntime = <E, R, ER>(
  runtime: ManagedRuntime.ManagedRuntime<NotificationReceiver.NotificationReceiver | Inbox.Inbox | R, ER>,
  handler: Handler<E, R>,
  options: Options = {}
): NodeListener => {
  let listener: Promise<NodeListener> | undefined
  const failing: NodeListener = (_request, response) => answerFail(response)
  return (request, response) => {
    const ready = (listener ??= runtime.runPromise(nodeListener(handler, options)).catch((error: unknown) => {
      // Try again on the next request: the layers may have failed for a passing reason (a database restart).
      listener = undefined
      Effect.runFork(
        Effect.logError("witkey notification endpoint: the runtime could not be built").pipe(
          Effect.annotateLogs({ detail: error instanceof Error ? error.message : String(error) })
        )
      )
      return failing
    }))
    void ready.then((run) => run(request, response))
  }
}
