// The README's main job: `witkey demo --tasks 5` pays out under injected faults, plays the day of
// notifications, prints the summary table and exits 0 only because the ledger and the inbox agree. In process.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { lastJson, run, TIMEOUT } from "./RunCli.js"

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
        assert.strictEqual(row(out, "exhausted (found by the sweep)"), "0")
        assert.strictEqual(row(out, "journal payouts settled"), "5")
        assert.strictEqual(row(out, "paid twice"), "0")
        assert.strictEqual(row(out, "ledger, inbox and journal agree"), "yes")
        assert.notMatch(out, /problem:/)
      }),
    TIMEOUT
  )

  // The operator's loop: Alipay gives up during the outage, the sweep finds what it gave up on, a replay
  // settles each; the paying fiber dies mid-way and the journal resumes what it left unsettled.
  const operatorLoop = (extra: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const result = yield* run(["demo", "--tasks", "5", "--json", ...extra])
      assert.strictEqual(result.code, 0, `${result.stdout}\n${result.stderr}`)
      return lastJson(result)
    })

  it.effect(
    "--outage-hours 30: notifications Alipay gave up on are swept and replayed, and everything agrees",
    () =>
      Effect.gen(function* () {
        const json = yield* operatorLoop(["--outage-hours", "30"])
        assert.isAbove(json["exhausted"] as number, 0)
        assert.strictEqual(json["replayed"], json["exhausted"])
        assert.strictEqual(json["out_of_retries"], json["exhausted"])
        assert.strictEqual(json["processed"], json["ledger_entries"])
        assert.strictEqual(json["agree"], true)
      }),
    TIMEOUT
  )

  it.effect(
    "--crash-after 3: the payouts left unsettled are resumed from the journal, none paid twice",
    () =>
      Effect.gen(function* () {
        const json = yield* operatorLoop(["--crash-after", "3"])
        assert.strictEqual(json["crashed"], true)
        assert.isAbove(json["resumed"] as number, 0)
        assert.strictEqual(json["paid_twice"], 0)
        assert.strictEqual(json["journal_settled"], 5)
        assert.strictEqual((json["confirmed"] as number) + (json["already_confirmed"] as number), 5)
        assert.strictEqual(json["agree"], true)
      }),
    TIMEOUT
  )

  it.effect(
    "both on PostgreSQL (--db postgres://…), the URL never printed",
    () =>
      Effect.gen(function* () {
        const url = "postgres://postgres:secret-pw@127.0.0.1:5432/test"
        const result = yield* run([
          "demo",
          "--tasks",
          "5",
          "--json",
          "--outage-hours",
          "30",
          "--crash-after",
          "3",
          "--db",
          url
        ])
        assert.strictEqual(result.code, 0, `${result.stdout}\n${result.stderr}`)
        assert.notInclude(result.stdout + result.stderr, "secret-pw")
        const json = lastJson(result)
        assert.strictEqual(json["database"], "postgresql")
        assert.isAbove(json["exhausted"] as number, 0)
        assert.strictEqual(json["replayed"], json["exhausted"])
        assert.isAbove(json["resumed"] as number, 0)
        assert.strictEqual(json["agree"], true)
      }),
    TIMEOUT
  )

  it.effect(
    "bad values are usage errors",
    () =>
      Effect.gen(function* () {
        assert.strictEqual((yield* run(["demo", "--outage-hours", "-1"])).code, 2)
        assert.strictEqual((yield* run(["demo", "--crash-after", "-1"])).code, 2)
      }),
    TIMEOUT
  )
})
