/**
 * A clock that runs `scale` times faster than the wall clock, for the demo's sandbox: its notification
 * schedule (2m, 10m, 10m, 1h, 2h, 6h, 15h) plays out in seconds while sockets, the client and the receiver
 * stay on real time. Time starts at the wall clock's now and only moves forward. Its speed can be changed
 * while it runs (`setScale`): the demo keeps it at real speed while the platform pays, when a busy process
 * would otherwise turn every millisecond of delay into half a minute of the gateway's schedule. And it can be
 * held still (`hold`) while the receiver works: at 30000x, a receiver that takes a second for a burst of
 * deliveries would look eight hours late to the gateway, an artefact of the demo's speed, not of the receiver.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

export interface ScaledClock extends Clock.Clock {
  /** Runs `scale` times faster than the wall clock from now on; sleeping fibers are re-timed. */
  readonly setScale: (scale: number) => void
  /** Stops the clock until every hold is released; returns the release (idempotent). */
  readonly hold: () => () => void
}

export const make = (scale: number, start: number = Date.now()): ScaledClock => {
  // The clock's time is `base + (Date.now() - anchor) * rate`, re-anchored at every change of rate.
  let speed = scale
  let holds = 0
  let rate = scale
  let anchor = start
  let base = start
  const sleepers = new Set<() => void>()
  const retime = () => {
    base = unsafeCurrentTimeMillis()
    anchor = Date.now()
    rate = holds > 0 ? 0 : speed
    for (const rearm of [...sleepers]) rearm()
  }
  const unsafeCurrentTimeMillis = () => base + (Date.now() - anchor) * rate
  const unsafeCurrentTimeNanos = () => BigInt(Math.floor(unsafeCurrentTimeMillis() * 1_000_000))
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis,
    unsafeCurrentTimeNanos,
    currentTimeMillis: Effect.sync(unsafeCurrentTimeMillis),
    currentTimeNanos: Effect.sync(unsafeCurrentTimeNanos),
    setScale: (next) => {
      speed = next
      retime()
    },
    hold: () => {
      holds++
      retime()
      let released = false
      return () => {
        if (released) return
        released = true
        holds--
        retime()
      }
    },
    sleep: (duration: Duration.Duration) =>
      Effect.async<void>((resume) => {
        const millis = Duration.toMillis(duration)
        const target = unsafeCurrentTimeMillis() + millis
        let timer: ReturnType<typeof setTimeout> | undefined
        // Timers and Date.now() disagree by up to a millisecond, which this clock multiplies by its rate: wake
        // up, and sleep again until the scaled time has really passed, so a sleep never ends early.
        const arm = () => {
          clearTimeout(timer)
          const remaining = target - unsafeCurrentTimeMillis()
          if (remaining <= 0) {
            sleepers.delete(arm)
            return resume(Effect.void)
          }
          // setTimeout's limit is ~24.8 days of real time; longer sleeps never end within a demo anyway.
          // Held (rate 0): the release re-arms it.
          const real =
            Number.isFinite(remaining) && rate > 0
              ? Math.min(2 ** 31 - 1, Math.ceil(remaining / rate))
              : 2 ** 31 - 1
          timer = setTimeout(arm, real)
        }
        sleepers.add(arm)
        arm()
        return Effect.sync(() => {
          sleepers.delete(arm)
          clearTimeout(timer)
        })
      })
  }
}
