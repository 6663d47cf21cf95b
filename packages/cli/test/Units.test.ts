// In-process checks of the small pieces the commands are built from (no subprocess).
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import * as CommonOptions from "../src/CommonOptions.js"
import * as ProgressBar from "../src/ProgressBar.js"
import * as ScaledClock from "../src/ScaledClock.js"

describe("ScaledClock", () => {
  it.effect("an hour of sleep on a 10^6x clock moves its time by at least an hour, and never backwards", () =>
    Effect.gen(function* () {
      const clock = ScaledClock.make(1_000_000)
      const before = clock.unsafeCurrentTimeMillis()
      yield* Effect.sleep("1 hour").pipe(Effect.withClock(clock))
      const after = yield* Clock.currentTimeMillis.pipe(Effect.withClock(clock))
      assert.isAtLeast(after - before, 3_600_000)
      assert.isAtLeast(clock.unsafeCurrentTimeMillis(), after)
    })
  )
})

describe("CommonOptions.parseParam", () => {
  it("splits at the first '=' and keeps the value raw", () => {
    assert.deepStrictEqual(CommonOptions.parseParam("notify_url=http://x/?a=1&b= 2+%20"), [
      "notify_url",
      "http://x/?a=1&b= 2+%20"
    ])
    assert.deepStrictEqual(CommonOptions.parseParam("empty="), ["empty", ""])
    assert.strictEqual(CommonOptions.parseParam("no-equals"), undefined)
    assert.strictEqual(CommonOptions.parseParam("=value"), undefined)
  })
})

describe("ProgressBar.render", () => {
  it("fills in proportion and stays within bounds", () => {
    assert.strictEqual(ProgressBar.render(0, 4, "x"), `[${"-".repeat(24)}] x`)
    assert.strictEqual(ProgressBar.render(2, 4, "x"), `[${"#".repeat(12)}${"-".repeat(12)}] x`)
    assert.strictEqual(ProgressBar.render(9, 4, "x"), `[${"#".repeat(24)}] x`)
    assert.strictEqual(ProgressBar.render(0, 0, "x"), `[${"#".repeat(24)}] x`)
  })
})
