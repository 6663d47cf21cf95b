// The demo's sandbox clock: faster than real time, re-timed when its speed changes, still while held.
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber } from "effect"
import * as ScaledClock from "../src/ScaledClock.js"

const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("ScaledClock", () => {
  it.live("held, it stands still and its sleepers wait; released, it runs again", () =>
    Effect.gen(function* () {
      const clock = ScaledClock.make(1000)
      const release = clock.hold()
      const t1 = clock.unsafeCurrentTimeMillis()
      const woke = yield* Deferred.make<void>()
      // 20 s on the clock: 20 ms of real time once it runs.
      const sleeper = yield* Effect.fork(
        Effect.zipRight(clock.sleep(Duration.millis(20_000)), Deferred.succeed(woke, undefined))
      )
      yield* realSleep(60)
      assert.strictEqual(clock.unsafeCurrentTimeMillis(), t1)
      assert.isFalse(yield* Deferred.isDone(woke))
      release()
      release() // idempotent: a second release does not start a second hold's worth of running
      yield* Deferred.await(woke).pipe(Effect.timeout("5 seconds"))
      assert.isAtLeast(clock.unsafeCurrentTimeMillis() - t1, 20_000)
      yield* Fiber.join(sleeper)
    })
  )

  it.live("setScale re-times a sleep armed at the old speed", () =>
    Effect.gen(function* () {
      const clock = ScaledClock.make(1)
      const woke = yield* Deferred.make<void>()
      // An hour at real speed; at 1,000,000x it is 3.6 ms.
      yield* Effect.fork(Effect.zipRight(clock.sleep(Duration.hours(1)), Deferred.succeed(woke, undefined)))
      yield* realSleep(20)
      assert.isFalse(yield* Deferred.isDone(woke))
      clock.setScale(1_000_000)
      yield* Deferred.await(woke).pipe(Effect.timeout("5 seconds"))
    })
  )
})
