// A payout row that does not decode (edited by hand, damaged, written by a newer version) must not hide every
// other payout: the listings leave it out, `unreadable` names it, `get` fails `unreadable` naming it, resume holds
// it and reconciliation counts it as an alarm. On SQLite, and on PostgreSQL when a server is there.
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as JournaledClient from "@witkey/core/JournaledClient"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Transport from "@witkey/core/Transport"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import * as PayoutJournalSuite from "@witkey/testkit/PayoutJournalSuite"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Clock, Effect, Layer, Option, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlPayoutJournal from "../src/SqlPayoutJournal.js"
import * as PgTest from "./PgTest.js"

const unavailable = await PgTest.unavailable

type Journal = Layer.Layer<PayoutJournal.PayoutJournal | SqlClient.SqlClient, unknown>

const onSqlite: Journal = Layer.unwrapScoped(
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-unreadable-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    ),
    (dir) =>
      SqlPayoutJournal.layer().pipe(
        Layer.provideMerge(SqliteClient.layer({ filename: path.join(dir, "journal.db") }))
      )
  )
)

const onPg: Journal = PgTest.inSchema("journal_unreadable", (url) =>
  SqlPayoutJournal.layer().pipe(
    Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 }).pipe(Layer.orDie))
  )
)

// Held payouts are never sent: a transport that is called fails the test.
const neverSent = Layer.succeed(
  Transport.Transport,
  Transport.make((url) => Effect.dieMessage(`sent ${url}`))
)

const dialects: ReadonlyArray<readonly [string, Journal]> = [
  ["SQLite", onSqlite],
  ...(unavailable === undefined ? [["PostgreSQL", onPg] as const] : [])
]

for (const [name, layer] of dialects)
  describe(`SqlPayoutJournal on ${name}: an unreadable row`, () => {
    it.scoped("is listed apart, named, held by resume and an alarm; every other payout stays listed", () =>
      Effect.gen(function* () {
        const journal = yield* PayoutJournal.PayoutJournal
        const sql = yield* SqlClient.SqlClient
        const t = `task-unreadable-${Math.random().toString(36).slice(2, 8)}`
        const claim = { owner: "a", until: (yield* Clock.currentTimeMillis) + 60_000 }
        const record = (serial: string) =>
          Effect.flatMap(PayoutJournalSuite.signed(t, [serial]), (r) => journal.record(r, claim))
        const pending = (yield* record("s-1")).entry
        const paid = (yield* record("s-2")).entry
        const held = (yield* record("s-3")).entry
        yield* journal.finish(paid.id, "a", {
          _tag: "Confirmed",
          verifiedBy: { keyId: "k", status: "active" }
        })
        yield* journal.finish(held.id, "a", {
          _tag: "Unknown",
          reason: "signature",
          mayHaveReached: true,
          message: "the T did not verify"
        })
        yield* sql`UPDATE witkey_payouts SET request = ${'{"request":'} WHERE id = ${pending.id}`
        yield* sql`UPDATE witkey_payouts SET outcome = ${'{"_tag":"Paid"}'} WHERE id = ${paid.id}`

        const mine = <A extends { readonly outerTaskId: string }>(xs: ReadonlyArray<A>) =>
          xs.filter((x) => x.outerTaskId === t)
        assert.deepStrictEqual(
          mine(yield* journal.all).map((e) => e.id),
          [held.id]
        )
        assert.deepStrictEqual(
          mine(yield* journal.unsettled).map((e) => e.id),
          [held.id]
        )
        assert.deepStrictEqual(
          (yield* journal.byTask(t)).map((e) => e.id),
          [held.id]
        )
        assert.deepStrictEqual(
          mine(yield* journal.unreadable).map((u) => [u.id, u.outcomeTag, u.transfers, u.problem]),
          [
            [pending.id, "Pending", ["s-1"], "its request does not decode"],
            [paid.id, "Confirmed", ["s-2"], "its outcome does not decode"]
          ]
        )
        const error = yield* Effect.flip(journal.get(pending.id))
        assert.strictEqual(error.reason, "unreadable")
        assert.include(error.message, pending.id)
        assert.isTrue(Option.isSome(yield* journal.get(held.id)))

        const report = yield* PayoutJournal.reconcileTasks({ outerTaskIds: [t] }).pipe(
          Effect.provide(MemoryInbox.layer)
        )
        assert.deepStrictEqual(
          report.unreadable.map((u) => u.id),
          [pending.id, paid.id]
        )
        assert.isAtLeast(report.alarms, 2)

        const client = yield* JournaledClient.make({
          partner: TestKeys.partnerId,
          gateway: "https://gateway.witkey.invalid/gateway.do",
          owner: "b"
        }).pipe(Effect.provide(Layer.mergeAll(TestKeys.clientKeys, neverSent)))
        assert.deepStrictEqual(
          mine(yield* client.resume).map((r) => [r.id, r._tag, r._tag === "Held" ? r.reason : ""]),
          [
            [held.id, "Held", "signature"],
            [pending.id, "Held", "unreadable: its request does not decode"]
          ]
        )
      }).pipe(Effect.provide(layer))
    )
  })
