// A wake-up must not be lost when the waiting fiber yields between seeing the signal incomplete and registering
// itself (Effect yields a fiber after its operation budget, at any step). The sweep runs both fibers with a
// small budget (below ten steps Effect 3.22 cannot get a fiber going at all) and offsets the wait and the
// completion by every few steps, so that some completion lands in that gap; `Deferred` runs the same sweep as
// the control. Before the fix, a budget of 12 with equal offsets lost it (12/0/0, 12/3/3, ...).
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { Signal } from "../src/internal/signal.js"

interface Cell {
  readonly succeed: Effect.Effect<void>
  readonly await: Effect.Effect<number>
}

const steps = (n: number): Effect.Effect<void> =>
  n <= 0 ? Effect.void : Effect.zipRight(Effect.void, steps(n - 1))

/** The interleavings whose waiter was never woken, as "budget/wait offset/completion offset". */
const lost = (make: () => Cell) =>
  Effect.gen(function* () {
    const missed: Array<string> = []
    for (let budget = 10; budget <= 13; budget++) {
      for (let wait = 0; wait <= budget; wait++) {
        for (let delay = 0; delay <= budget; delay++) {
          const cell = make()
          // A daemon: a wait that was lost cannot be interrupted, and the test's scope would wait for it forever.
          const waiter = yield* Effect.forkDaemon(
            Effect.withMaxOpsBeforeYield(Effect.zipRight(steps(wait), cell.await), budget)
          )
          const completer = yield* Effect.fork(
            Effect.withMaxOpsBeforeYield(Effect.zipRight(steps(delay), cell.succeed), budget)
          )
          yield* Fiber.join(completer)
          // Plenty of turns for a woken waiter to finish; a lost wake-up never does.
          for (let i = 0; i < 50 && (yield* Fiber.poll(waiter))._tag === "None"; i++) yield* Effect.yieldNow()
          if ((yield* Fiber.poll(waiter))._tag === "None") missed.push(`${budget}/${wait}/${delay}`)
        }
      }
    }
    return missed
  })

describe("Signal under yields", () => {
  it.effect("wakes its waiter in every interleaving, as Deferred does", () =>
    Effect.gen(function* () {
      const viaDeferred = yield* lost(() => {
        const deferred = Effect.runSync(Deferred.make<number>())
        return { succeed: Effect.asVoid(Deferred.succeed(deferred, 1)), await: Deferred.await(deferred) }
      })
      assert.deepStrictEqual(viaDeferred, [])
      const viaSignal = yield* lost(() => {
        const signal = new Signal<number>()
        return { succeed: Effect.sync(() => void signal.succeed(1)), await: signal.await }
      })
      assert.deepStrictEqual(viaSignal, [])
    })
  )
})
