/**
 * Reads a Node request's body for `NodeNotificationListener`: Node's own stream events, no Stream machinery
 * (this runs on every notification). Refused as soon as it passes `maxBytes`, cut off after the read timeout on
 * the runtime's Clock, failed if the connection breaks first.
 *
 * @internal
 */
import { Duration, Effect } from "effect"
import type * as Http from "node:http"
import * as NotificationEndpoint from "../NotificationEndpoint.js"
import * as Bytes from "./bytes.js"
import * as LiveClock from "./liveClock.js"

type BodyError = NotificationEndpoint.NotificationBodyError

export const read = (
  request: Http.IncomingMessage,
  maxBytes: number,
  timeout: Duration.Duration
): Effect.Effect<Uint8Array, BodyError> =>
  // On the live Clock a plain timer (see liveClock.ts); on any other, Effect's timeout.
  Effect.clockWith((clock) =>
    LiveClock.isLive(clock)
      ? readWithin(request, maxBytes, timeout, true)
      : readWithin(request, maxBytes, timeout, false).pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => NotificationEndpoint.timedOut(timeout) })
        )
  )

// Past the largest timer delay (about 24.8 days) Node fires at once: no timer then, as Effect does.
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** Node's stream events; with `timer`, a `setTimeout` for the read timeout. */
const readWithin = (
  request: Http.IncomingMessage,
  maxBytes: number,
  timeout: Duration.Duration,
  timer: boolean
): Effect.Effect<Uint8Array, BodyError> =>
  Effect.async<Uint8Array, BodyError>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const fail = (error: BodyError) => {
      cleanup()
      resume(Effect.fail(error))
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) fail(NotificationEndpoint.tooLong(maxBytes))
      else chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      // One chunk (the usual notification) is handed on uncopied: the request owns it, and nothing reuses it.
      resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Bytes.concat(chunks, size)))
    }
    const onError = (error: Error) =>
      fail(
        new NotificationEndpoint.NotificationBodyError({
          reason: "read",
          message: `reading the body failed: ${error.message}`
        })
      )
    const onClose = () => onError(new Error("the connection closed before the body ended"))
    const onTimeout = () => fail(NotificationEndpoint.timedOut(timeout))
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
