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
        // setTimeout's limit is ~24.8 days of real time; longer sleeps never end within a demo anyway.
        const real = Math.min(
          2 ** 31 - 1,
          Number.isFinite(millis) ? Math.max(0, millis / scale) : 2 ** 31 - 1
        )
        const timer = setTimeout(() => resume(Effect.void), real)
        return Effect.sync(() => clearTimeout(timer))
      })
  }
}
