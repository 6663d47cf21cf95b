// Shared by the hostile-input suites (*.fuzz.ts): the run count and an asynchronous property runner.
import { assert, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"

/** 200 in the default test run; `pnpm test:fuzz` sets 10 000. */
export const numRuns = Number(process.env["WITKEY_FUZZ_RUNS"] ?? 200)

/**
 * `it.prop`, but asynchronous: a synchronous fast-check loop of 10 000 runs keeps the vitest worker from
 * answering its runner ("Timeout calling onTaskUpdate"), so the loop yields a macrotask every 64 runs.
 */
export const prop = <const T extends ReadonlyArray<unknown>>(
  name: string,
  arbitraries: { readonly [K in keyof T]: fc.Arbitrary<T[K]> },
  body: (values: T) => void,
  runs = numRuns
) =>
  it(
    name,
    async () => {
      let calls = 0
      const all = fc.tuple(
        ...(arbitraries as unknown as Array<fc.Arbitrary<unknown>>)
      ) as unknown as fc.Arbitrary<T>
      await fc.assert(
        fc.asyncProperty(all, async (values) => {
          if (++calls % 64 === 0) await new Promise((resolve) => setImmediate(resolve))
          body(values)
        }),
        { numRuns: runs }
      )
    },
    Math.max(60_000, runs * 40)
  )

/**
 * Only a hang detector, never a performance assertion (performance lives in bench/, linearity in
 * `assertLinear`): a single call on fuzz input that takes this long is stuck, not slow, on any machine however
 * busy (inputs are at most a few hundred kilobytes; such a call takes milliseconds).
 */
export const HANG_BOUND_MS = 10_000

/** How much larger the large input of `assertLinear` is than the small one, and how often each is timed. */
const GROWTH = 32
const TRIES = 5
/** The linear ones here measure below 2, even on a loaded machine; a quadratic one near 32. */
const MAX_RATIO = 10
/** Each side is timed over at least this long (repeated as often as needed): a microsecond is all noise. */
const MIN_SIDE_MS = 5

/**
 * The processor time `f` takes, in milliseconds: this process's, not the wall clock's, so that the time other
 * processes have the processor does not count (the test workers are processes, one test file each).
 */
const time = (f: () => void) => {
  const start = process.cpuUsage()
  f()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1000
}

/**
 * Linear, not quadratic, shown by a ratio in one run rather than an absolute time: `run` on an input `GROWTH`
 * times as large (`input(n * GROWTH)`) against `GROWTH` runs on the small one (`input(n)`), the same amount of
 * work if `run` is linear. Processor time, not wall-clock time; each side is timed `TRIES` times, interleaved, and
 * its best time counts, so that a busy machine (a garbage collection, a cold cache) slows a try, not the verdict.
 */
export const assertLinear = <I>(
  what: string,
  input: (n: number) => I,
  run: (input: I) => unknown,
  n: number
): void => {
  const small = input(n)
  const large = input(n * GROWTH)
  const smallSide = () => {
    for (let j = 0; j < GROWTH; j++) run(small)
  }
  // Warm-up (compiled code on both sides), and how many repetitions make a side measurable.
  run(large)
  const reps = Math.max(1, Math.ceil(MIN_SIDE_MS / Math.max(time(smallSide), 0.001)))
  let smallBest = Infinity
  let largeBest = Infinity
  for (let i = 0; i < TRIES; i++) {
    smallBest = Math.min(
      smallBest,
      time(() => {
        for (let r = 0; r < reps; r++) smallSide()
      })
    )
    largeBest = Math.min(
      largeBest,
      time(() => {
        for (let r = 0; r < reps; r++) run(large)
      })
    )
  }
  const ratio = largeBest / smallBest
  assert.isBelow(
    ratio,
    MAX_RATIO,
    `${what}: ${GROWTH}× the input took ${ratio.toFixed(1)}× the time of ${GROWTH} runs on the small one (${largeBest.toFixed(1)} ms against ${smallBest.toFixed(1)} ms)`
  )
}
