// The one-shot hand-off of PostgreSQL's group commit (`internal/signal.ts`) keeps `Deferred`'s rules: the first
// completion wins, a wait before the completion is woken with it, a wait after it answers at once. A property
// runs the same random script against both and compares every answer.
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber, FastCheck as fc } from "effect"
import { Signal } from "../src/internal/signal.js"

type Step =
  | { readonly _tag: "succeed"; readonly value: number }
  | { readonly _tag: "fail"; readonly error: string }
  | { readonly _tag: "await" }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.integer().map((value) => ({ _tag: "succeed" as const, value })),
  fc.string({ maxLength: 4 }).map((error) => ({ _tag: "fail" as const, error })),
  fc.constant({ _tag: "await" as const })
)

/** What a script observes: each completion's boolean and each wait's answer (a wait before the end is forked). */
const observe = (
  script: ReadonlyArray<Step>,
  make: () => {
    readonly succeed: (value: number) => Effect.Effect<boolean>
    readonly fail: (error: string) => Effect.Effect<boolean>
    readonly await: Effect.Effect<number, string>
  }
) =>
  Effect.gen(function* () {
    const cell = make()
    const seen: Array<unknown> = []
    // At most one wait in flight at a time (a signal has one reader); later waits come after it is answered.
    let waiting: Fiber.RuntimeFiber<Either.Either<number, string>> | undefined
    let completed = false
    for (const s of script) {
      if (s._tag === "await") {
        if (completed) seen.push(["await", yield* Effect.either(cell.await)])
        else if (waiting === undefined) {
          waiting = yield* Effect.fork(Effect.either(cell.await))
          // Let it reach its wait before the next step completes the cell.
          yield* Effect.yieldNow()
        }
      } else {
        const done = yield* s._tag === "succeed" ? cell.succeed(s.value) : cell.fail(s.error)
        seen.push([s._tag, done])
        if (done) {
          completed = true
          if (waiting !== undefined) seen.push(["woken", yield* Fiber.join(waiting)])
          waiting = undefined
        }
      }
    }
    if (waiting !== undefined) {
      // Never completed: the wait is still pending; then a last completion answers it (a signal's wait cannot
      // be interrupted).
      seen.push(["pending", (yield* Fiber.poll(waiting))._tag])
      yield* cell.succeed(-1)
      seen.push(["woken", yield* Fiber.join(waiting)])
    }
    return seen
  })

describe("Signal", () => {
  it.effect("answers every script as Deferred does", () =>
    Effect.gen(function* () {
      const scripts = fc.sample(fc.array(step, { maxLength: 8 }), { numRuns: 300, seed: 17 })
      for (const script of scripts) {
        const viaSignal = yield* observe(script, () => {
          const signal = new Signal<number, string>()
          return {
            succeed: (value) => Effect.sync(() => signal.succeed(value)),
            fail: (error) => Effect.sync(() => signal.fail(error)),
            await: signal.await
          }
        })
        const viaDeferred = yield* observe(script, () => {
          const deferred = Effect.runSync(Deferred.make<number, string>())
          return {
            succeed: (value) => Deferred.succeed(deferred, value),
            fail: (error) => Deferred.fail(deferred, error),
            await: Deferred.await(deferred)
          }
        })
        assert.deepStrictEqual(viaSignal, viaDeferred, JSON.stringify(script))
      }
    })
  )

  it.effect("a wait is woken by the completion, not before", () =>
    Effect.gen(function* () {
      const signal = new Signal<string, string>()
      const waiter = yield* Effect.fork(signal.await)
      yield* Effect.yieldNow()
      assert.isFalse(signal.isDone)
      assert.strictEqual((yield* Fiber.poll(waiter))._tag, "None")
      assert.isTrue(signal.succeed("turn"))
      assert.isFalse(signal.fail("late"))
      assert.deepStrictEqual(yield* Fiber.await(waiter), Exit.succeed("turn"))
    })
  )

  it.effect("a second reader while one waits is a defect, not a hang", () =>
    Effect.gen(function* () {
      const signal = new Signal<number>()
      const first = yield* Effect.fork(signal.await)
      yield* Effect.yieldNow()
      const second = yield* Effect.exit(signal.await)
      assert.isTrue(Exit.isFailure(second) && Exit.causeOption(second)._tag === "Some")
      assert.isTrue(Exit.isFailure(second) && !Exit.isInterrupted(second))
      signal.succeed(1)
      assert.deepStrictEqual(yield* Fiber.await(first), Exit.succeed(1))
    })
  )
})
