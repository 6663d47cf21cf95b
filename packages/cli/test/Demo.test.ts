// The README's main job: `witkey demo --tasks 5` pays out under injected faults, plays the day of
// notifications, prints the summary table and exits 0 only because the ledger and the inbox agree. In process.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { run, TIMEOUT } from "./RunCli.js"

/** The value of a table row: the label, at least two spaces, the value. */
const row = (stdout: string, label: string): string | undefined => {
  const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  return new RegExp(`^\\s*${escaped}\\s{2,}(\\S+)`, "m").exec(stdout)?.[1]
}

describe("demo", () => {
  it.effect(
    "--tasks 5 exits 0 with the table and agreement",
    () =>
      Effect.gen(function* () {
        const result = yield* run(["demo", "--tasks", "5"])
        assert.strictEqual(result.code, 0, `${result.stdout}\n${result.stderr}`)
        const out = result.stdout
        assert.match(out, /witkey demo: 5 tasks/)
        assert.strictEqual(row(out, "tasks"), "5")
        const confirmed = Number(row(out, "confirmed"))
        const already = Number(row(out, "already confirmed after a re-send"))
        const resent = Number(row(out, "confirmed after a re-send"))
        assert.strictEqual(confirmed + already + resent, 5)
        assert.strictEqual(row(out, "not paid"), "0")
        const ledger = Number(row(out, "ledger entries (gateway)"))
        assert.isAbove(ledger, 5)
        assert.strictEqual(row(out, "processed in the inbox"), String(ledger))
        assert.strictEqual(row(out, "payouts recorded by the handler"), String(ledger))
        assert.strictEqual(row(out, "processed"), String(ledger))
        assert.strictEqual(row(out, "out of retries"), "0")
        assert.strictEqual(row(out, "ledger and inbox agree"), "yes")
        assert.notMatch(out, /problem:/)
      }),
    TIMEOUT
  )
})
