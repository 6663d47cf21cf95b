// The extended-protocol pipeline of the PostgreSQL runner (`internal/pgPipeline.ts`) on a raw `pg` client:
// statements in order, one error skipping the rest, named statements parsed once per connection and still
// usable after a pipeline that failed around their Parse.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createRequire } from "node:module"
import * as Pipeline from "../src/internal/pgPipeline.js"
import * as PgTest from "./PgTest.js"

const unavailable = await PgTest.unavailable

interface PgClient {
  connect: () => Promise<void>
  query: ((text: string) => Promise<unknown>) & ((submittable: Pipeline.Pipeline) => void)
  end: () => Promise<void>
}
// The very `pg` that `@effect/sql-pg` loads (the package does not depend on `pg` itself).
const Pg = createRequire(createRequire(import.meta.url).resolve("@effect/sql-pg/PgClient"))("pg") as {
  Client: new (options: { connectionString: string }) => PgClient
}

const run = (client: PgClient, statements: ReadonlyArray<Pipeline.Statement>) =>
  Effect.async<ReadonlyArray<Pipeline.Result>, unknown>((resume) => {
    client.query(
      new Pipeline.Pipeline(statements, Pipeline.wireValues(statements)!, (error, results) =>
        resume(error === undefined ? Effect.succeed(results!) : Effect.fail(error))
      )
    )
  })

const client = Effect.acquireRelease(
  Effect.flatMap(PgTest.scopedSchema("pipeline"), (url) =>
    Effect.promise(async () => {
      const c = new Pg.Client({ connectionString: url })
      await c.connect()
      return c
    })
  ),
  (c) => Effect.promise(() => c.end())
)

describe.skipIf(unavailable !== undefined && !PgTest.required)("pgPipeline on PostgreSQL", () => {
  it.scoped("statements run in order in one transaction; rows come back as text", () =>
    Effect.gen(function* () {
      const c = yield* client
      yield* Effect.promise(() => c.query("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, b BYTEA)"))
      const insert = "INSERT INTO t VALUES ($1, $2, $3) RETURNING id, n, b IS NULL AS no_bytes"
      const results = yield* run(c, [
        { text: "BEGIN", values: [], name: undefined },
        { text: insert, values: ["a", 7, new Uint8Array([1, 2])], name: "test_insert" },
        { text: insert, values: ["b", null, null], name: "test_insert" },
        { text: "COMMIT", values: [], name: undefined }
      ])
      assert.deepStrictEqual(
        results.map((r) => r.command),
        ["BEGIN", "INSERT", "INSERT", "COMMIT"]
      )
      assert.deepStrictEqual(results[1]!.rows, [{ id: "a", n: "7", no_bytes: "f" }])
      assert.deepStrictEqual(results[2]!.rows, [{ id: "b", n: null, no_bytes: "t" }])
      const stored = (yield* Effect.promise(() =>
        c.query("SELECT encode(b, 'hex') AS hex FROM t WHERE id = 'a'")
      )) as {
        rows: Array<{ hex: string }>
      }
      assert.deepStrictEqual(stored.rows, [{ hex: "0102" }])
    })
  )

  it.scoped("a failing statement skips the rest (no COMMIT) and named statements survive it", () =>
    Effect.gen(function* () {
      const c = yield* client
      yield* Effect.promise(() => c.query("CREATE TABLE u (id TEXT PRIMARY KEY)"))
      const insert = { text: "INSERT INTO u VALUES ($1) RETURNING id", name: "test_u_insert" }
      const divide = { text: "SELECT 1 / $1::int AS q", name: "test_u_divide" }
      // The insert's Parse runs, the division fails: the COMMIT behind it must not run.
      const failed = yield* Effect.flip(
        run(c, [
          { text: "BEGIN", values: [], name: undefined },
          { ...insert, values: ["x"] },
          { ...divide, values: [0] },
          { text: "COMMIT", values: [], name: undefined }
        ])
      )
      assert.strictEqual((failed as { code?: string }).code, "22012")
      yield* Effect.promise(() => c.query("ROLLBACK"))
      // A named statement whose Parse never ran (behind the failure), and the ones that did: all usable.
      const skipped = yield* Effect.flip(
        run(c, [
          { ...divide, values: [0] },
          { text: "SELECT $1::text AS late", values: ["y"], name: "test_u_late" }
        ])
      )
      assert.strictEqual((skipped as { code?: string }).code, "22012")
      const again = yield* run(c, [
        { text: "BEGIN", values: [], name: undefined },
        { ...insert, values: ["x"] },
        { ...divide, values: [1] },
        { text: "SELECT $1::text AS late", values: ["y"], name: "test_u_late" },
        { text: "COMMIT", values: [], name: undefined }
      ])
      assert.deepStrictEqual(
        again.map((r) => r.command),
        ["BEGIN", "INSERT", "SELECT", "SELECT", "COMMIT"]
      )
      assert.deepStrictEqual(again[3]!.rows, [{ late: "y" }])
      const rows = (yield* Effect.promise(() => c.query("SELECT id FROM u"))) as {
        rows: Array<{ id: string }>
      }
      assert.deepStrictEqual(rows.rows, [{ id: "x" }], "only the second transaction committed")
    })
  )
})
