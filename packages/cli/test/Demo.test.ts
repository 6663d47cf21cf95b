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

/**
 * The sandbox's clock runs this much faster than the default (30000x) in these tests: a day of notifications in
 * a tenth of a second instead of three. Only the sandbox's schedule is scaled (its clock stands still while a
 * delivery is out), so the counts are those of the default speed.
 */
const FAST = ["--time-scale", "1000000"]
/**
 * The operator's loop at 300000x with a four-day outage. The outage must outlast Alipay's last retry (24 h 22 min
 * after the first delivery) for the notifications to run out of retries; a timer that fires late on a busy
 * machine moves that retry later on the sandbox's clock by lateness x scale. The margin, 71.6 h of sandbox time,
 * is 860 ms of lateness here (the default 30 h at 30000x left 670 ms), and the wait for the outage to end is
 * about a second.
 */
const OPERATOR_LOOP = ["--time-scale", "300000", "--outage-hours", "96", "--crash-after", "3"]

describe("demo", () => {
  it.effect(
    "--tasks 5 exits 0 with the table and agreement",
    () =>
      Effect.gen(function* () {
        const result = yield* run(["demo", "--tasks", "5", ...FAST])
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

  // The operator's loop, both halves in one run: Alipay gives up during the outage, the sweep finds what it
  // gave up on, a replay settles each; the paying fiber dies mid-way and the journal resumes what it left
  // unsettled.
  const operatorLoop = (database: "sqlite" | "postgresql", extra: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const result = yield* run(["demo", "--tasks", "5", "--json", ...OPERATOR_LOOP, ...extra])
      assert.strictEqual(result.code, 0, `${result.stdout}\n${result.stderr}`)
      const json = lastJson(result)
      assert.strictEqual(json["database"], database)
      // --outage-hours: notifications Alipay gave up on are swept and replayed, and everything agrees
      assert.isAbove(json["exhausted"] as number, 0)
      assert.strictEqual(json["replayed"], json["exhausted"])
      assert.strictEqual(json["out_of_retries"], json["exhausted"])
      assert.strictEqual(json["processed"], json["ledger_entries"])
      // --crash-after 3: the payouts left unsettled are resumed from the journal, none paid twice
      assert.strictEqual(json["crashed"], true)
      assert.isAbove(json["resumed"] as number, 0)
      assert.strictEqual(json["paid_twice"], 0)
      assert.strictEqual(json["journal_settled"], 5)
      assert.strictEqual((json["confirmed"] as number) + (json["already_confirmed"] as number), 5)
      assert.strictEqual(json["agree"], true)
      return result
    })

  it.effect(
    "--outage-hours and --crash-after 3: what Alipay gave up on is swept and replayed, the payouts left unsettled are resumed from the journal, none paid twice",
    () => operatorLoop("sqlite", []),
    TIMEOUT
  )

  it.effect(
    "both on PostgreSQL (--db postgres://…), the URL never printed",
    () =>
      Effect.gen(function* () {
        const result = yield* operatorLoop("postgresql", [
          "--db",
          "postgres://postgres:secret-pw@127.0.0.1:5432/test"
        ])
        assert.notInclude(result.stdout + result.stderr, "secret-pw")
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
