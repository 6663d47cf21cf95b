/**
 * Reads a Node request's body for `NodeNotificationListener`: Node's own stream events, no Stream machinery
 * (this runs on every notification). Refused as soon as it passes `maxBytes`, cut off after the read timeout,
 * failed if the connection breaks first.
 *
 * `readNow` is the reader itself, with a plain timer: what the listener uses on the live Clock, before any
 * fiber exists (a fiber suspended across the read costs more than the read). `read` is the same reader as an
 * Effect with Effect's timeout, for any other Clock (TestClock).
 *
 * @internal
 */
import { Duration, Effect } from "effect"
import type * as Http from "node:http"
import * as NotificationEndpoint from "../NotificationEndpoint.js"
import * as Bytes from "./bytes.js"

type BodyError = NotificationEndpoint.NotificationBodyError

/** The body on any Clock but the live one: `readNow` without its timer, under `Effect.timeoutFail`. */
export const read = (
  request: Http.IncomingMessage,
  maxBytes: number,
  timeout: Duration.Duration
): Effect.Effect<Uint8Array, BodyError> =>
  Effect.async<Uint8Array, BodyError>((resume) => {
    const cleanup = readNow(request, maxBytes, undefined, (body) =>
      resume(body instanceof Uint8Array ? Effect.succeed(body) : Effect.fail(body))
    )
    return Effect.sync(cleanup)
  }).pipe(Effect.timeoutFail({ duration: timeout, onTimeout: () => NotificationEndpoint.timedOut(timeout) }))

// Past the largest timer delay (about 24.8 days) Node fires at once: no timer then, as Effect does.
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * Reads the body with Node's stream events and, given a `timeout`, a `setTimeout` for it; calls `done` once,
 * with the bytes or the refusal. Returns what stops it early (listeners and timer removed, `done` never called).
 */
export const readNow = (
  request: Http.IncomingMessage,
  maxBytes: number,
  timeout: Duration.Duration | undefined,
  done: (body: Uint8Array | BodyError) => void
): (() => void) => {
  const chunks: Array<Buffer> = []
  let size = 0
  const fail = (error: BodyError) => {
    cleanup()
    done(error)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size > maxBytes) fail(NotificationEndpoint.tooLong(maxBytes))
    else chunks.push(chunk)
  }
  const onEnd = () => {
    cleanup()
    // One chunk (the usual notification) is handed on uncopied: the request owns it, and nothing reuses it.
    done(chunks.length === 1 ? chunks[0]! : Bytes.concat(chunks, size))
  }
  const onError = (error: Error) =>
    fail(
      new NotificationEndpoint.NotificationBodyError({
        reason: "read",
        message: `reading the body failed: ${error.message}`
      })
    )
  const onClose = () => onError(new Error("the connection closed before the body ended"))
  const millis = timeout === undefined ? Infinity : Duration.toMillis(timeout)
  const handle =
    millis <= MAX_TIMER_MILLIS
      ? setTimeout(() => fail(NotificationEndpoint.timedOut(timeout!)), millis)
      : undefined
  const cleanup = () => {
    if (handle !== undefined) clearTimeout(handle)
    request.off("data", onData)
    request.off("end", onEnd)
    request.off("error", onError)
    request.off("close", onClose)
  }
  // The sender may have hung up before this ran (`fromManagedRuntime` calls the listener later, from a `.then`).
  if (request.destroyed) {
    onClose()
    return cleanup
  }
  request.on("data", onData)
  request.on("end", onEnd)
  request.on("error", onError)
  request.on("close", onClose)
  // A listener alone does not restart a stream that something upstream paused explicitly.
  request.resume()
  return cleanup
}
