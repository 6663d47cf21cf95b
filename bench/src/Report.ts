/** Rows of the one table `pnpm bench` prints, and the lines for rows that could not run. */
import type { Comparison } from "./Measure.js"

export interface Row {
  readonly id: string
  /** What the SDK side does. */
  readonly sdk: string
  /** What it is compared with, measured in the same run. */
  readonly baseline: string
  readonly result: Comparison
  /** Minimum ratio sdk / baseline; absent for rows that only inform. */
  readonly target?: number | undefined
}

export interface Skipped {
  readonly id: string
  readonly what: string
  readonly reason: string
}

export type Outcome = Row | Skipped

export const isSkipped = (outcome: Outcome): outcome is Skipped => "reason" in outcome

const rate = (n: number) =>
  n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 100 ? Math.round(n).toString() : n.toFixed(1)

export const passed = (row: Row): boolean => row.target === undefined || row.result.ratio >= row.target

/** A GitHub-flavoured Markdown table: readable in a terminal, pasteable into BENCHMARKS.md. */
export const table = (outcomes: ReadonlyArray<Outcome>): string => {
  const rows = outcomes.filter((o): o is Row => !isSkipped(o))
  const header = ["#", "SDK", "ops/s", "baseline (same run)", "ops/s", "ratio", "target", ""]
  const body = rows.map((r) => [
    r.id,
    r.sdk,
    rate(r.result.sdk),
    r.baseline,
    rate(r.result.baseline),
    r.result.ratio.toFixed(2),
    r.target === undefined ? "—" : `≥ ${r.target.toFixed(2)}`,
    r.target === undefined ? "info" : passed(r) ? "ok" : "BELOW"
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((c, i) => (i === 2 || i === 4 || i === 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ")} |`
  const rule = `|${widths.map((w, i) => (i === 2 || i === 4 || i === 5 ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`
  const skipped = outcomes.filter(isSkipped).map((s) => `Row ${s.id} (${s.what}) not measured: ${s.reason}`)
  return [line(header), rule, ...body.map(line), ...(skipped.length > 0 ? ["", ...skipped] : [])].join("\n")
}
