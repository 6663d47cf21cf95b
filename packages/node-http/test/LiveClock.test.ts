// Which Clock gets a plain timer (the Node listener's body read, HttpTransport.layerNode): the live Clock, found
// by identity with Effect's public `DefaultServices.liveServices`, not by its class (an Effect internal). The
// 408s on each path are tested where they happen: NodeNotificationListener.test.ts (live Clock) and the
// body-limit suite (TestClock); HttpTransport.test.ts likewise for the transport's timeout.
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import * as LiveClock from "../src/internal/liveClock.js"

const isLive = Effect.clockWith((clock) => Effect.succeed(LiveClock.isLive(clock)))

describe("internal/liveClock", () => {
  it.live("the runtime's default Clock is live", () =>
    Effect.gen(function* () {
      assert.isTrue(yield* isLive)
    })
  )

  it.live("another Clock, even a fresh live one, is not: it gets Effect's timeout", () =>
    Effect.gen(function* () {
      assert.isFalse(yield* isLive.pipe(Effect.withClock(Clock.make())))
    })
  )

  it.effect("TestClock is not", () =>
    Effect.gen(function* () {
      assert.isFalse(yield* isLive)
    })
  )
})
