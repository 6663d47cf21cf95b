/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal: piped output stays clean.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

export interface ProgressBar {
  readonly update: (done: number, total: number, label: string) => Effect.Effect<void>
  readonly clear: Effect.Effect<void>
}

const WIDTH = 24

export const render = (done: number, total: number, label: string): string => {
  const ratio = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total))
  const filled = Math.round(ratio * WIDTH)
  return `[${"#".repeat(filled)}${"-".repeat(WIDTH - filled)}] ${label}`
}

export const make = (enabled: boolean = process.stderr.isTTY === true): ProgressBar => {
  if (!enabled) return { update: () => Effect.void, clear: Effect.void }
  return {
    update: (done, total, label) =>
      Effect.sync(() => {
        const columns = process.stderr.columns ?? 80
        process.stderr.write(`\r${render(done, total, label).slice(0, columns - 1)}\u001b[K`)
      }),
    clear: Effect.sync(() => process.stderr.write("\r\u001b[K"))
  }
}
