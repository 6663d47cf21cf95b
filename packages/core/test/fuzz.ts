// Shared by the hostile-input suites (*.fuzz.ts): the run count and an asynchronous property runner.
import { it } from "@effect/vitest"
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

/** Only a hang detector, never a performance assertion (performance lives in bench/). */
export const HANG_BOUND_MS = 1000
