/**
 * A clock that runs `scale` times faster than the wall clock, for the demo's sandbox: its notification
 * schedule (2m, 10m, 10m, 1h, 2h, 6h, 15h) plays out in seconds while sockets, the client and the receiver
 * stay on real time. Time starts at the wall clock's now and only moves forward.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import { Duration, Effect } from "effect"

export const make = (scale: number, start: number = Date.now()): Clock.Clock => {
  const unsafeCurrentTimeMillis = () => start + (Date.now() - start) * scale
  const unsafeCurrentTimeNanos = () => BigInt(Math.floor(unsafeCurrentTimeMillis() * 1_000_000))
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis,
    unsafeCurrentTimeNanos,
    currentTimeMillis: Effect.sync(unsafeCurrentTimeMillis),
    currentTimeNanos: Effect.sync(unsafeCurrentTimeNanos),
    sleep: (duration: Duration.Duration) =>
      Effect.async<void>((resume) => {
        const millis = Duration.toMillis(duration)
        const target = unsafeCurrentTimeMillis() + millis
        let timer: ReturnType<typeof setTimeout>
        // Timers and Date.now() disagree by up to a millisecond, which this clock multiplies by `scale`: wake
        // up, and sleep again until the scaled time has really passed, so a sleep never ends early.
        const arm = () => {
          const remaining = target - unsafeCurrentTimeMillis()
          if (remaining <= 0) return resume(Effect.void)
          // setTimeout's limit is ~24.8 days of real time; longer sleeps never end within a demo anyway.
          const real = Number.isFinite(remaining)
            ? Math.min(2 ** 31 - 1, Math.ceil(remaining / scale))
            : 2 ** 31 - 1
          timer = setTimeout(arm, real)
        }
        arm()
        return Effect.sync(() => clearTimeout(timer))
      })
  }
}
