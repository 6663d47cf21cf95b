/**
 * Side-by-side throughput. The machine is shared and its load drifts, so the SDK and its baseline are measured
 * in short alternating slices (tinybench, one task after the other, order flipped every round) and the ratio
 * is the median of the per-round ratios: both sides of a ratio always ran under the same conditions.
 */
import { Bench } from "tinybench"

export interface Side {
  readonly name: string
  /** One call; `opsPerCall` operations when the call is a batch. */
  readonly run: () => unknown
  readonly opsPerCall?: number
}

export interface Comparison {
  readonly sdk: number
  readonly baseline: number
  /** Median of per-round sdk / baseline. */
  readonly ratio: number
  readonly rounds: number
}

export interface Options {
  readonly rounds?: number
  /** Measuring time per side per round, milliseconds. */
  readonly sliceMs?: number
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Operations per second of one tinybench task: total operations over total time (GC pauses included). */
const throughput = (bench: Bench, name: string, opsPerCall: number): number => {
  const task = bench.getTask(name)
  const result = task?.result
  if (result === undefined || !("latency" in result)) {
    const error = result !== undefined && "error" in result ? result.error : undefined
    throw new Error(`benchmark task ${name} did not complete${error ? `: ${String(error)}` : ""}`)
  }
  return (1000 / result.latency.mean) * opsPerCall
}

/** Measures `sdk` against `baseline`, each call checked once first so a broken side fails loudly. */
export const compare = async (sdk: Side, baseline: Side, options: Options = {}): Promise<Comparison> => {
  const rounds = options.rounds ?? 5
  const time = options.sliceMs ?? 200
  await sdk.run()
  await baseline.run()
  const sdkHz: Array<number> = []
  const baseHz: Array<number> = []
  const ratios: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({
      time,
      iterations: 3,
      warmup: true,
      warmupTime: round === 0 ? 150 : 30,
      warmupIterations: 3,
      throws: true
    })
    const sides = round % 2 === 0 ? [baseline, sdk] : [sdk, baseline]
    for (const side of sides) bench.add(side.name, side.run)
    await bench.run()
    const s = throughput(bench, sdk.name, sdk.opsPerCall ?? 1)
    const b = throughput(bench, baseline.name, baseline.opsPerCall ?? 1)
    sdkHz.push(s)
    baseHz.push(b)
    ratios.push(s / b)
  }
  return { sdk: median(sdkHz), baseline: median(baseHz), ratio: median(ratios), rounds }
}
