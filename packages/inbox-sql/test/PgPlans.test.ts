// The plans PostgreSQL picks for the inbox's sweeps and status listings on a table of mostly settled entries:
// each reaches the few unsettled rows through an index instead of reading every row. `state <> 'processed'`
// could not use the state index (an index serves an IN list, not an inequality), and the duplicate sweep's
// EXISTS was a hash join over a sequential scan of every claim (found by a plan audit at 300,000 entries:
// 110-230 ms per sweep). Also the group commit's last statement (`batch.settle`), in the generic plan its named
// statement settles on, each of its parts; and that plan made on empty tables (a new inbox's first batches)
// and kept while they grow: the parts a batch without failures leaves empty are skipped, not scanned.
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
  readonly "Subplan Name"?: string
  /** With `EXPLAIN ANALYZE`: how many times the node ran (0: never executed). */
  readonly "Actual Loops"?: number
  readonly Plans?: ReadonlyArray<Node>
}

/** A plan's nodes, the root first (EXPLAIN's FORMAT JSON answer, a string or parsed by the driver). */
const nodes = (node: Node): ReadonlyArray<Node> => [node, ...(node.Plans ?? []).flatMap(nodes)]
const rootOf = (plan: unknown): Node =>
  ((typeof plan === "string" ? JSON.parse(plan) : plan) as ReadonlyArray<{ Plan: Node }>)[0]!.Plan

describe.skipIf(unavailable !== undefined && !PgTest.required)(
  "PostgreSQL plans of the inbox's statements",
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
          "list failed_permanent": statements.list({ status: "failed_permanent" }, window, 100),
          // The console's page, every second it is open, and `witkey inbox list` without a filter.
          "list newest": statements.list({ order: "newest" }, window, 1000),
          "list oldest": statements.list({}, window, 1000),
          "list processed, newest": statements.list({ status: "processed", order: "newest" }, window, 1000)
        }
        for (const [name, statement] of Object.entries(checked)) {
          const [text, params] = statement.compile()
          // Plain EXPLAIN: planned, not run (the UPDATEs change nothing).
          const rows = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(`EXPLAIN (FORMAT JSON) ${text}`, params)
          const scans = nodes(rootOf(rows[0]!["QUERY PLAN"])).filter(
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

    it.scoped("the batch's last statement reaches every row by its key on small analyzed tables", () =>
      Effect.gen(function* () {
        const url = yield* PgTest.scopedSchema("batchplan")
        const context = yield* Layer.build(PgInbox.layer({ url }))
        const sql = Context.get(context, SqlClient.SqlClient)
        const tables = Migrations.tables(Migrations.DEFAULT_TABLE_PREFIX)
        const settle = Statements.make(sql, tables, "pg").batch!.settle
        // Tables of a thousand entries and claims, analyzed: small enough that a join may choose to read all of
        // them (the claim check's EXISTS was planned as a hash semi-join over a sequential scan of every claim,
        // per batch; the other parts hash-joined their arrays over the whole inbox or claims table).
        yield* sql`INSERT INTO ${sql(tables.events)} (event_key, processed_notify_id, processed_at) SELECT 'plan-' || g, 'plan-n-' || g, 0 FROM generate_series(1, 1000) g`
        yield* sql`INSERT INTO ${sql(tables.notifications)} (notify_id, event_key, sub_type, body, first_received_at, last_received_at, deliveries, state, failures) SELECT 'plan-n-' || g, 'plan-' || g, 'ASSIGN_FOR_ANNOUNCE_PAYMENT', decode(repeat('3c', 700), 'hex'), 0, 0, 1, 'processed', 0 FROM generate_series(1, 1000) g`
        yield* sql`ANALYZE ${sql(tables.events)}`
        yield* sql`ANALYZE ${sql(tables.notifications)}`
        const plan = yield* sql.withTransaction(
          Effect.gen(function* () {
            // The plan a named statement settles on after its first runs: one for every batch.
            yield* sql`SET LOCAL plan_cache_mode = force_generic_plan`
            yield* sql.unsafe(`PREPARE witkey_plan_test AS ${settle}`)
            const rows = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(
              `EXPLAIN (FORMAT JSON) EXECUTE witkey_plan_test(0, '{n}', '{k}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', 1)`
            )
            yield* sql`DEALLOCATE witkey_plan_test`
            return rows[0]!["QUERY PLAN"]
          })
        )
        for (const [part, table] of [
          ["marked", tables.events],
          ["marked", tables.notifications],
          ["duplicates", tables.notifications],
          ["failed", tables.notifications],
          ["released", tables.events]
        ] as const) {
          const cte = nodes(rootOf(plan)).filter((n) => n["Subplan Name"] === `CTE ${part}`)
          assert.strictEqual(cte.length, 1, part)
          // The table's scans (the UPDATE or DELETE node itself names it too).
          const scans = nodes(cte[0]!).filter(
            (n) => n["Relation Name"] === table && n["Node Type"].includes("Scan")
          )
          assert.isAbove(scans.length, 0, `${part} reads ${table}`)
          for (const node of scans)
            assert.include(
              ["Index Scan", "Index Only Scan", "Bitmap Heap Scan"],
              node["Node Type"],
              `${part} on ${table}`
            )
        }
      })
    )

    it.scoped(
      "the batch's last statement, its plan made on empty tables, reads no table in full once they have grown",
      () =>
        Effect.gen(function* () {
          const url = yield* PgTest.scopedSchema("batchgrown")
          const context = yield* Layer.build(PgInbox.layer({ url }))
          const sql = Context.get(context, SqlClient.SqlClient)
          const tables = Migrations.tables(Migrations.DEFAULT_TABLE_PREFIX)
          const [N, E] = [sql(tables.notifications), sql(tables.events)]
          const settle = Statements.make(sql, tables, "pg").batch!.settle
          // The parameters of a batch (`pgBatch.ts`): $1 the time; $2-$3 processed; $4-$5 duplicates; $6-$8
          // failed; $9-$10 released claims; $11-$19 the attempt rows (none here); $20 how many are processed.
          type Param = number | ReadonlyArray<string | boolean>
          const none: ReadonlyArray<string> = []
          const attempts: ReadonlyArray<Param> = Array.from({ length: 9 }, () => none)
          const processed: ReadonlyArray<Param> = [
            1,
            ["plan-n-1"],
            ["plan-1"],
            none,
            none,
            none,
            none,
            none,
            none,
            none,
            ...attempts,
            1
          ]
          const failed: ReadonlyArray<Param> = [
            1,
            none,
            none,
            none,
            none,
            ["plan-n-2"],
            ["boom"],
            [false],
            ["plan-2"],
            ["plan-n-2"],
            ...attempts,
            0
          ]
          const literals = (params: ReadonlyArray<Param>) =>
            params.map((p) => (typeof p === "number" ? String(p) : `'{${p.join(",")}}'`)).join(", ")
          const grow = Effect.zipRight(
            sql`INSERT INTO ${E} (event_key, processed_notify_id, processed_at) SELECT 'plan-' || g, 'plan-n-' || g, 0 FROM generate_series(1, 5000) g`,
            sql`INSERT INTO ${N} (notify_id, event_key, sub_type, body, first_received_at, last_received_at, deliveries, state, failures) SELECT 'plan-n-' || g, 'plan-' || g, 'ASSIGN_FOR_ANNOUNCE_PAYMENT', decode(repeat('3c', 700), 'hex'), 0, 0, 1, 'pending', 0 FROM generate_series(1, 5000) g`
          )
          /** The scans of the inbox's tables that ran (`ANALYZE`) or would run, and how. */
          const scansOf = (plan: unknown) =>
            nodes(rootOf(plan)).filter(
              (n) =>
                (n["Relation Name"] === tables.notifications || n["Relation Name"] === tables.events) &&
                n["Node Type"].includes("Scan")
            )
          const [common, rare] = yield* sql.withTransaction(
            Effect.gen(function* () {
              // The generic plan a connection settles on, made while the tables are empty (a new inbox, its
              // first batches), and kept: growing a table does not invalidate it, only ANALYZE does.
              yield* sql`SET LOCAL plan_cache_mode = force_generic_plan`
              yield* sql.unsafe(`PREPARE witkey_grown_test AS ${settle}`)
              yield* sql.unsafe(`EXPLAIN EXECUTE witkey_grown_test(${literals(processed)})`)
              yield* grow
              // A batch without failures runs the named statement: the kept plan, executed.
              const common = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(
                `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE witkey_grown_test(${literals(processed)})`
              )
              yield* sql`DEALLOCATE witkey_grown_test`
              // A batch with a failure runs it unnamed: planned when it runs, on the tables as they are (for its
              // values under the default plan_cache_mode; here, under force_generic_plan, a generic plan made now).
              // This checks that premise, not the naming: `SettleStep.test.ts` holds which batches go unnamed.
              const rare = yield* sql.unsafe<{ "QUERY PLAN": unknown }>(
                `EXPLAIN (FORMAT JSON) ${settle}`,
                failed
              )
              return [common[0]!["QUERY PLAN"], rare[0]!["QUERY PLAN"]] as const
            })
          )
          const ran = scansOf(common).filter((n) => (n["Actual Loops"] ?? 0) > 0)
          assert.isAbove(ran.length, 0, "the mark reads its rows")
          for (const node of ran)
            assert.notStrictEqual(
              node["Node Type"],
              "Seq Scan",
              `a batch without failures read every row of ${node["Relation Name"]}`
            )
          const planned = scansOf(rare)
          assert.isAbove(planned.length, 0, "the failure's parts read their rows")
          for (const node of planned)
            assert.notStrictEqual(
              node["Node Type"],
              "Seq Scan",
              `a batch with a failure reads every row of ${node["Relation Name"]}`
            )
        })
    )
  }
)
