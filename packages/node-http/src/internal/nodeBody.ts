/**
 * Reads a Node request's body for `NodeNotificationListener`: Node's own stream events, no Stream machinery
 * (this runs on every notification). Refused as soon as it passes `maxBytes`, cut off after the read timeout on
 * the runtime's Clock, failed if the connection breaks first.
 *
 * @internal
 */
import { Clock, Context, DefaultServices, Duration, Effect } from "effect"
import type * as Http from "node:http"
import * as NotificationEndpoint from "../NotificationEndpoint.js"
import * as Bytes from "./bytes.js"

type BodyError = NotificationEndpoint.NotificationBodyError

/**
 * The Clock every runtime starts with, taken from Effect's public `DefaultServices.liveServices`. On it the
 * timeout is a plain `setTimeout`: `Effect.timeoutFail` forks a sleeping fiber per request, about 28 µs
 * (BENCHMARKS.md row 7). Any other Clock (TestClock, a scaled clock, a second copy of `effect`) gets Effect's
 * timeout, which is always right, only slower.
 */
const liveClock: Clock.Clock = Context.get(DefaultServices.liveServices, Clock.Clock)

/** Whether `clock` is the live Clock, whose timer may be a plain `setTimeout`. */
export const isLive = (clock: Clock.Clock): boolean => clock === liveClock

export const read = (
  request: Http.IncomingMessage,
  maxBytes: number,
  timeout: Duration.Duration
): Effect.Effect<Uint8Array, BodyError> =>
  Effect.clockWith((clock) =>
    isLive(clock)
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
