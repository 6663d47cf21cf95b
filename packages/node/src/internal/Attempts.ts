/**
 * What one payout call has handed to the network so far, so that an interrupted call (an aborted
 * `AbortSignal`) can say whether the gateway may have acted on it. The transport is wrapped once per
 * `Witkey`; each call puts its own record in a FiberRef (inherited by every fiber the client forks), and the
 * wrapper marks it. Notification checks (`notify_verify`) run without a record and are not counted.
 */
import * as Transport from "@witkey/core/Transport"
import { Effect, Exit, FiberRef } from "effect"

export interface Attempts {
  /** Requests handed to the transport. */
  sent: number
  /**
   * Some request may have reached the gateway: it was answered, failed after it may have left, or was
   * interrupted on its way (its finalizer runs before the call's exit is seen, so an abort is counted here).
   */
  reached: boolean
}

export const make = (): Attempts => ({ sent: 0, reached: false })

export const current: FiberRef.FiberRef<Attempts | undefined> = FiberRef.unsafeMake<Attempts | undefined>(
  undefined
)

/** The transport, marking the current call's record around each request. */
export const track = (transport: Transport.Transport): Transport.Transport =>
  Transport.make((url) =>
    Effect.flatMap(FiberRef.get(current), (attempts) => {
      if (attempts === undefined) return transport.get(url)
      let started = false
      return Effect.suspend(() => {
        started = true
        attempts.sent++
        return transport.get(url)
      }).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            if (!started) return
            // Only a failure that proves the request never left keeps `reached` as it was; an interrupted
            // request may have been written already.
            const provablyNotSent =
              Exit.isFailure(exit) &&
              exit.cause._tag === "Fail" &&
              exit.cause.error._tag === "TransportError" &&
              !exit.cause.error.mayHaveReached
            if (!provablyNotSent) attempts.reached = true
          })
        )
      )
    })
  )
