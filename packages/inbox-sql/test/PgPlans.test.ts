// The plans PostgreSQL picks for the inbox's sweeps and status listings on a table of mostly settled entries:
// each reaches the few unsettled rows through an index instead of reading every row. `state <> 'processed'`
// could not use the state index (an index serves an IN list, not an inequality), and the duplicate sweep's
// EXISTS was a hash join over a sequential scan of every claim (found by a plan audit at 300,000 entries:
// 110-230 ms per sweep). The batch's own statements are checked in `PgBatch.test.ts`.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Statements from "../src/internal/statements.js"
import * as Migrations from "../src/Migrations.js"
import * as PgInbox from "../src/PgInbox.js"
import * as PgTest from "./PgTest.js"

const unavailable = await PgTest.unavailable

interface Node {
  readonly "Node Type": string
  readonly "Relation Name"?: string
  readonly Plans?: ReadonlyArray<Node>
}

const nodes = (node: Node): ReadonlyArray<Node> => [node, ...(node.Plans ?? []).flatMap(nodes)]

describe.skipIf(unavailable !== undefined && !PgTest.required)(
  "PostgreSQL plans of the inbox's sweeps",
  () => {
    it.scoped("sweeps and status listings read the unsettled entries by index, not every entry", () =>
      Effect.gen(function* () {
        const url = yield* PgTest.scopedSchema("plans")
        const context = yield* Layer.build(PgInbox.layer({ url }))
        const sql = Context.get(context, SqlClient.SqlClient)
        const tables = Migrations.tables(Migrations.DEFAULT_TABLE_PREFIX)
        const [N, E] = [sql(tables.notifications), sql(tables.events)]
        // 5,000 settled entries with bodies of a usual size and their claims, and 50 unsettled ones whose events
        // another notify_id processed (what the duplicate sweep settles).
        yield* sql`INSERT INTO ${N} (notify_id, event_key, sub_type, body, first_received_at, last_received_at, deliveries, state, failures) SELECT 'n-' || g, 'e-' || g, 'ASSIGN_FOR_ANNOUNCE_PAYMENT', decode(repeat('3c', 700), 'hex'), g, g, 1, CASE WHEN g % 100 = 0 THEN 'failed' ELSE 'processed' END, 0 FROM generate_series(1, 5000) g`
        yield* sql`INSERT INTO ${E} (event_key, processed_notify_id, processed_at) SELECT 'e-' || g, CASE WHEN g % 100 = 0 THEN 'other-' || g ELSE 'n-' || g END, g FROM generate_series(1, 5000) g`
        yield* sql`ANALYZE ${N}`
        yield* sql`ANALYZE ${E}`
        const statements = Statements.make(sql, tables, "pg")
        const window = { now: 10_000, exhaustedAfterMillis: 2_000 }
        const checked = {
          noticeExhausted: statements.noticeExhausted(window),
          settleDuplicates: statements.settleDuplicates(window.now),
          "list failing": statements.list({ status: "failing" }, window, 100),
          "list exhausted": statements.list({ status: "exhausted" }, window, 100),
          "list failed_permanent": statements.list({ status: "failed_permanent" }, window, 100)
        }
        for (const [name, statement] of Object.entries(checked)) {
          const [text, params] = statement.compile()
          // Plain EXPLAIN: planned, not run (the UPDATEs change nothing).
          const rows = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(`EXPLAIN (FORMAT JSON) ${text}`, params)
          const plan = rows[0]!["QUERY PLAN"]
          const root = (typeof plan === "string" ? JSON.parse(plan) : plan) as ReadonlyArray<{ Plan: Node }>
          const scans = nodes(root[0]!.Plan).filter(
            (n) =>
              (n["Relation Name"] === tables.notifications || n["Relation Name"] === tables.events) &&
              n["Node Type"].includes("Scan")
          )
          assert.isAbove(scans.length, 0, name)
          for (const scan of scans)
            assert.notStrictEqual(
              scan["Node Type"],
              "Seq Scan",
              `${name} reads every row of ${scan["Relation Name"]}`
            )
        }
      })
    )
  }
)
