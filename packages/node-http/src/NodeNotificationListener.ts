/**
 * The notification endpoint as a plain Node `(req, res)` listener, for `http.createServer` and Express: the
 * same rules and answers as `NotificationEndpoint.httpApp` (the shared `precheck`, `respond` and `refuse`),
 * reading Node's request and writing its response directly, without the platform's Stream machinery: this
 * runs on every notification (BENCHMARKS.md row 7).
 *
 * Mount it before any body parser: the signature covers the exact bytes. A request whose body a parser
 * already read is refused (logged error, HTTP 500, `fail`).
 *
 * @since 0.1.0
 */
import type * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import type * as Inbox from "@witkey/core/Inbox"
import * as Protocol from "@witkey/core/Protocol"
import type { ManagedRuntime } from "effect"
import { Duration, Effect, Either, Exit, Runtime } from "effect"
import type * as Http from "node:http"
import * as LiveClock from "./internal/liveClock.js"
import * as NodeBody from "./internal/nodeBody.js"
import * as NotificationEndpoint from "./NotificationEndpoint.js"

/** A Node request listener; Express passes a third argument (`next`), which is never called. */
export type NodeListener = (request: Http.IncomingMessage, response: Http.ServerResponse) => void

/** True when something upstream read the body (a body parser sets `req.body` or drains the stream). */
const bodyConsumed = (request: Http.IncomingMessage): boolean =>
  (request as { readonly body?: unknown }).body !== undefined || request.readableEnded

/** The refusal of a request whose body a parser already read: a mounting mistake, logged with its path. */
const refuseParsed = (request: Http.IncomingMessage, options: NotificationEndpoint.Options) =>
  NotificationEndpoint.refuse(NotificationEndpoint.alreadyParsed(), options).pipe(
    Effect.annotateLogs({ path: request.url ?? "" })
  )

/**
 * The pipeline on one Node request on any Clock but the live one: the checks, the body read (bounded, under
 * Effect's timeout), `respond`. Never fails. On the live Clock, `fromRuntime` runs the same steps with the read
 * outside the fiber.
 */
const answer = <E, R>(
  request: Http.IncomingMessage,
  handler: NotificationEndpoint.Handler<E, R>,
  options: NotificationEndpoint.Options
): Effect.Effect<
  NotificationEndpoint.Answer,
  never,
  NotificationReceiver.NotificationReceiver | Inbox.Inbox | R
> =>
  Effect.suspend(() => {
    if (bodyConsumed(request)) return refuseParsed(request, options)
    const refused = NotificationEndpoint.precheck(request.method, request.headers["content-length"], options)
    if (refused !== undefined) return NotificationEndpoint.refuse(refused, options)
    const maxBytes = options.maxBodyBytes ?? NotificationEndpoint.DEFAULT_MAX_BODY_BYTES
    const timeout = Duration.decode(options.readTimeout ?? NotificationEndpoint.DEFAULT_READ_TIMEOUT)
    return NodeBody.read(request, maxBytes, timeout).pipe(
      Effect.matchEffect({
        onFailure: (error) => NotificationEndpoint.refuse(error, options),
        onSuccess: (body) =>
          NotificationEndpoint.respond(
            { body, contentType: request.headers["content-type"] },
            handler,
            options
          )
      })
    )
  })

/** Writes an answer: the `Answer`'s status, headers and bytes, unless the response is already gone. */
const write = (
  response: Http.ServerResponse,
  status: number,
  headers: Readonly<Record<string, string>>,
  body: Uint8Array
) => {
  if (response.headersSent || response.destroyed) return
  response.writeHead(status, { ...headers, "content-type": "text/plain", "content-length": body.length })
  response.end(body)
}

const writeAnswer = (response: Http.ServerResponse, answer: NotificationEndpoint.Answer) =>
  write(response, answer.status, answer.headers, answer.body)

// When there is no `Answer` (a defect, a runtime that could not be built): `fail`, so that Alipay delivers again.
const NACK = new TextEncoder().encode(Protocol.Notify.nack)
const writeFail = (response: Http.ServerResponse) => write(response, 500, { connection: "close" }, NACK)

const fromRuntime = <E, R>(
  runtime: Runtime.Runtime<NotificationReceiver.NotificationReceiver | Inbox.Inbox | R>,
  handler: NotificationEndpoint.Handler<E, R>,
  options: NotificationEndpoint.Options,
  liveClock: boolean
): NodeListener => {
  const runFork = Runtime.runFork(runtime)
  // No span here: the receiver's `witkey.receive_notification` is the notification's span.
  const run = (
    response: Http.ServerResponse,
    effect: Effect.Effect<
      NotificationEndpoint.Answer,
      never,
      NotificationReceiver.NotificationReceiver | Inbox.Inbox | R
    >
  ) =>
    // The pipeline never fails; a defect (a bug) still answers `fail`.
    runFork(effect).addObserver((exit) =>
      Exit.isSuccess(exit) ? writeAnswer(response, exit.value) : writeFail(response)
    )
  const maxBytes = options.maxBodyBytes ?? NotificationEndpoint.DEFAULT_MAX_BODY_BYTES
  // A read timeout that is no duration (untyped callers) fails each request in its fiber, as it always did.
  const timeout = Either.getOrUndefined(
    Either.try(() => Duration.decode(options.readTimeout ?? NotificationEndpoint.DEFAULT_READ_TIMEOUT))
  )
  if (!liveClock || timeout === undefined)
    return (request, response) => run(response, answer(request, handler, options))
  // On the live Clock (a server's), the checks and the read are plain code with a plain timer, and the fiber
  // starts once the body is in: the read inside the fiber (its suspension and resumption) cost about 8 KiB of
  // allocation and 20-30 µs of CPU per delivery (BENCHMARKS.md row 7b). The same steps and answers as `answer`;
  // the refusals are built inside the fiber, as there, so that a throwing `onBodyError` is a defect answered
  // `fail`, never an exception out of the listener.
  return (request, response) => {
    if (bodyConsumed(request))
      return run(
        response,
        Effect.suspend(() => refuseParsed(request, options))
      )
    const refused = NotificationEndpoint.precheck(request.method, request.headers["content-length"], options)
    if (refused !== undefined)
      return run(
        response,
        Effect.suspend(() => NotificationEndpoint.refuse(refused, options))
      )
    NodeBody.readNow(request, maxBytes, timeout, (body) =>
      run(
        response,
        body instanceof Uint8Array
          ? NotificationEndpoint.respond(
              { body, contentType: request.headers["content-type"] },
              handler,
              options
            )
          : Effect.suspend(() => NotificationEndpoint.refuse(body, options))
      )
    )
  }
}

/**
 * The listener, running on the current runtime (which must provide `Client`, `Inbox` and what the handler
 * needs):
 *
 * ```ts
 * const listener = yield* NodeNotificationListener.make(handler)
 * app.post("/alipay/notify", listener) // before app.use(express.json())
 * ```
 */
export const make = <E, R>(
  handler: NotificationEndpoint.Handler<E, R>,
  options: NotificationEndpoint.Options = {}
): Effect.Effect<NodeListener, never, NotificationReceiver.NotificationReceiver | Inbox.Inbox | R> =>
  // The request fibers run on this runtime, so its Clock is theirs: which read to use is decided here, once.
  Effect.clockWith((clock) =>
    Effect.map(Effect.runtime<NotificationReceiver.NotificationReceiver | Inbox.Inbox | R>(), (runtime) =>
      fromRuntime(runtime, handler, options, LiveClock.isLive(clock))
    )
  )

/**
 * The listener on a `ManagedRuntime`, for code outside Effect (an existing Express app). The runtime's layers
 * are built on the first request; if that fails, the request answers `fail` (HTTP 500), the error is logged,
 * and the next request tries again.
 */
export const fromManagedRuntime = <E, R, ER>(
  runtime: ManagedRuntime.ManagedRuntime<NotificationReceiver.NotificationReceiver | Inbox.Inbox | R, ER>,
  handler: NotificationEndpoint.Handler<E, R>,
  options: NotificationEndpoint.Options = {}
): NodeListener => {
  let listener: Promise<NodeListener> | undefined
  const failing: NodeListener = (_request, response) => writeFail(response)
  return (request, response) => {
    const ready = (listener ??= runtime.runPromise(make(handler, options)).catch((error: unknown) => {
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
