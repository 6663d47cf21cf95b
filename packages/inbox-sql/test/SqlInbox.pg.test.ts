import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as InboxOperationsSuite from "@witkey/testkit/InboxOperationsSuite"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import { Cause, ConfigProvider, Context, Effect, Exit, Layer, Option, Redacted } from "effect"
import * as PgInbox from "../src/PgInbox.js"
import * as PgTest from "./PgTest.js"
import { behaviour, Database } from "./SqlBehaviour.js"

const unavailable = await PgTest.unavailable

describe("SqlInbox on PostgreSQL: configuration without a server", () => {
  it.effect("a connection failure is an InboxError that does not show the password", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Layer.build(PgInbox.layer({ url: Redacted.make("postgres://app:s3cr3t-pw@127.0.0.1:1/none") })).pipe(
          Effect.scoped
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = Option.getOrThrow(Cause.failureOption(exit.cause))
        assert.instanceOf(error, Inbox.InboxError)
        assert.notInclude(Cause.pretty(exit.cause), "s3cr3t-pw")
      }
    })
  )
})

if (unavailable !== undefined) {
  // Without a server only the warning says what did not run (the test above needs none). CI sets
  // WITKEY_PG_REQUIRED=1: there, an absent server is a failure.
  console.warn(PgTest.skipMessage(unavailable))
  if (PgTest.required)
    describe("SqlInbox on PostgreSQL", () => {
      it("PostgreSQL is required (WITKEY_PG_REQUIRED=1) but unreachable", () => {
        assert.fail(unavailable)
      })
    })
} else {
  InboxSuite.suite(
    "SqlInbox on PostgreSQL",
    PgTest.inSchema("suite", (url) => PgInbox.layer({ url }))
  )

  InboxOperationsSuite.suite("SqlInbox on PostgreSQL", (policy) =>
    PgTest.inSchema("ops", (url) => PgInbox.layer({ ...policy, url, maxConnections: 4 }))
  )

  behaviour(
    "PostgreSQL",
    PgTest.inSchema("behaviour", (url) =>
      Layer.succeed(Database, {
        open: (options = {}) => PgInbox.layer({ ...options, url, maxConnections: 4 })
      })
    )
  )

  describe("SqlInbox on PostgreSQL", () => {
    it.scoped("two receivers (two pools) on one database process each event exactly once", () =>
      Effect.gen(function* () {
        const url = yield* PgTest.scopedSchema("pools")
        // Both start at once: the migrations must serialize, not collide.
        const [a, b] = yield* Effect.all(
          [Layer.build(PgInbox.layer({ url })), Layer.build(PgInbox.layer({ url }))],
          { concurrency: "unbounded" }
        )
        const sqlA = Context.get(a, SqlClient.SqlClient)
        yield* sqlA`CREATE TABLE payouts (event_key TEXT NOT NULL, notify_id TEXT NOT NULL, receiver TEXT NOT NULL)`
        const handler = (receiver: string) => (n: Notification.Notification) =>
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            // A slow business write widens the window in which a second receiver could slip in.
            sql`SELECT pg_sleep(0.02)`.pipe(
              Effect.zipRight(
                sql`INSERT INTO payouts VALUES (${n.payload.outerTaskId ?? ""}, ${n.notifyId}, ${receiver})`
              )
            )
          )
        const events = 6
        const deliveries = yield* Effect.forEach(
          Array.from({ length: events }, (_, i) => i),
          (i) =>
            Effect.forEach([1, 2, 3], (alias) =>
              InboxSuite.received({
                notifyId: `pools-${i}-${alias}`,
                payload: InboxSuite.assign(`pools-${i}`, "s-1")
              })
            )
        )
        const receive =
          (context: Context.Context<Inbox.Inbox | SqlClient.SqlClient>, name: string) =>
          (r: Inbox.Received) =>
            Effect.flatMap(Inbox.Inbox, (inbox) => inbox.receive(r, handler(name))).pipe(
              Effect.provide(context)
            )
        // Half of the events have an unprocessed event row already (as a crash between an older version's
        // statements could leave): there the insert-if-absent does not block, only the row lock does.
        for (let i = 0; i < events; i += 2)
          yield* sqlA`INSERT INTO witkey_inbox_events (event_key) VALUES (${Notification.businessKey(deliveries[i]![0]!.notification)!})`
        // Every notification to both receivers at the same time, twice.
        const outcomes = yield* Effect.forEach(
          deliveries
            .flat()
            .flatMap((r) => [receive(a, "a")(r), receive(b, "b")(r), receive(a, "a")(r), receive(b, "b")(r)]),
          (effect) => effect,
          { concurrency: "unbounded" }
        )
        assert.strictEqual(outcomes.filter((o) => o._tag === "Processed").length, events)
        const rows = yield* sqlA<{
          event_key: string
          n: string
        }>`SELECT event_key, COUNT(*) AS n FROM payouts GROUP BY event_key ORDER BY event_key`
        assert.deepStrictEqual(
          rows.map((r) => [r.event_key, Number(r.n)]),
          Array.from({ length: events }, (_, i) => [`pools-${i}`, 1])
        )
        const entries = yield* Effect.forEach(deliveries.flat(), (r) =>
          Effect.flatMap(Inbox.Inbox, (inbox) => inbox.get(r.notification.notifyId)).pipe(Effect.provide(b))
        )
        for (const entry of entries) {
          const e = Option.getOrThrow(entry)
          assert.strictEqual(e.state, "processed")
          assert.strictEqual(e.deliveries, 4)
        }
      })
    )

    // The transaction's BEGIN and COMMIT travel beside the inbox's first and last statements: a COMMIT that
    // PostgreSQL answers with ROLLBACK (the transaction was aborted under the handler), or a mark that finds
    // its claim gone, must never be taken for a commit.
    it.scoped(
      "a transaction aborted or rolled back under the handler is answered fail and commits nothing",
      () =>
        Effect.gen(function* () {
          const url = yield* PgTest.scopedSchema("aborted")
          for (const preparedStatements of [true, false]) {
            const context = yield* Layer.build(PgInbox.layer({ url, maxConnections: 2, preparedStatements }))
            const sql = Context.get(context, SqlClient.SqlClient)
            const inbox = Context.get(context, Inbox.Inbox)
            yield* sql`CREATE TABLE IF NOT EXISTS payouts (id TEXT NOT NULL)`
            const pay = (r: Inbox.Received) => sql`INSERT INTO payouts VALUES (${r.notification.notifyId})`
            const handlers = {
              // A failed statement whose error the handler swallows: PostgreSQL aborts the transaction.
              swallowed: (r: Inbox.Received) => Effect.zipRight(pay(r), Effect.ignore(sql`SELECT 1 / 0`)),
              // The handler ends the inbox's transaction and opens another: the claim is gone.
              restarted: (r: Inbox.Received) =>
                Effect.zipRight(sql.unsafe("ROLLBACK"), Effect.zipRight(sql.unsafe("BEGIN"), pay(r)))
            }
            for (const [name, handler] of Object.entries(handlers)) {
              const r = yield* InboxSuite.received({
                notifyId: `aborted-${name}-${preparedStatements}`,
                payload: InboxSuite.assign(`aborted-${name}-${preparedStatements}`, "s-1")
              })
              const id = r.notification.notifyId
              const exit = yield* Effect.exit(inbox.receive(r, () => handler(r)))
              assert.isTrue(Exit.isFailure(exit), `${name}: answered fail`)
              const paid = () => sql<{ id: string }>`SELECT id FROM payouts WHERE id = ${id}`
              assert.deepStrictEqual(yield* paid(), [], `${name}: nothing of the handler committed`)
              const entry = Option.getOrThrow(yield* inbox.get(id))
              assert.notStrictEqual(entry.state, "processed", name)
              assert.strictEqual(entry.deliveries, 1, `${name}: the failed delivery is on record`)
              assert.deepStrictEqual(yield* inbox.receive(r, () => pay(r)), { _tag: "Processed" })
              assert.deepStrictEqual(
                (yield* paid()).map((row) => row.id),
                [id],
                `${name}: paid once, on the next delivery`
              )
              assert.deepStrictEqual(yield* inbox.receive(r, () => pay(r)), {
                _tag: "Duplicate",
                by: "notify_id",
                processedNotifyId: id
              })
            }
          }
        })
    )

    // Named statements (the default) that PostgreSQL forgot, as behind a pooler that does not keep them: that
    // delivery fails and commits nothing, and the inbox goes on with unnamed statements.
    it.scoped(
      "prepared statements that PostgreSQL forgot fail one delivery, then the inbox goes on without",
      () =>
        Effect.gen(function* () {
          const url = yield* PgTest.scopedSchema("forgot")
          const context = yield* Layer.build(PgInbox.layer({ url, maxConnections: 1 }))
          const sql = Context.get(context, SqlClient.SqlClient)
          const inbox = Context.get(context, Inbox.Inbox)
          yield* sql`CREATE TABLE payouts (id TEXT NOT NULL)`
          const [a, b] = yield* Effect.all([
            InboxSuite.received({ notifyId: "forgot-a", payload: InboxSuite.assign("forgot-a", "s-1") }),
            InboxSuite.received({ notifyId: "forgot-b", payload: InboxSuite.assign("forgot-b", "s-1") })
          ])
          const pay = (r: Inbox.Received) => sql`INSERT INTO payouts VALUES (${r.notification.notifyId})`
          // The one connection now holds the inbox's statements.
          assert.deepStrictEqual(yield* inbox.receive(a, () => pay(a)), { _tag: "Processed" })
          const forget = Effect.zipRight(sql.unsafe("DEALLOCATE ALL"), pay(b))
          const exit = yield* Effect.exit(inbox.receive(b, () => forget))
          assert.isTrue(Exit.isFailure(exit), "answered fail")
          const paid = sql<{ id: string }>`SELECT id FROM payouts ORDER BY id`
          assert.deepStrictEqual(
            (yield* paid).map((row) => row.id),
            ["forgot-a"],
            "nothing of b committed"
          )
          assert.deepStrictEqual(yield* inbox.receive(b, () => forget), { _tag: "Processed" })
          assert.deepStrictEqual(yield* inbox.receive(b, () => pay(b)), {
            _tag: "Duplicate",
            by: "notify_id",
            processedNotifyId: "forgot-b"
          })
          assert.deepStrictEqual(
            (yield* paid).map((row) => row.id),
            ["forgot-a", "forgot-b"]
          )
        })
    )

    it.scoped("a handler's nested transaction is a savepoint of the delivery's", () =>
      Effect.gen(function* () {
        const url = yield* PgTest.scopedSchema("nested")
        const context = yield* Layer.build(PgInbox.layer({ url, maxConnections: 2 }))
        const sql = Context.get(context, SqlClient.SqlClient)
        const inbox = Context.get(context, Inbox.Inbox)
        yield* sql`CREATE TABLE payouts (id TEXT NOT NULL)`
        const [b, c] = yield* Effect.all([
          InboxSuite.received({ notifyId: "nested-b", payload: InboxSuite.assign("nested-b", "s-1") }),
          InboxSuite.received({ notifyId: "nested-c", payload: InboxSuite.assign("nested-c", "s-1") })
        ])
        // B: an inner transaction that fails and is caught, then one that succeeds; the delivery succeeds.
        const outcome = yield* inbox.receive(b, () =>
          Effect.zipRight(
            Effect.ignore(
              sql.withTransaction(
                Effect.zipRight(sql`INSERT INTO payouts VALUES ('b-undone')`, Effect.fail("no"))
              )
            ),
            sql.withTransaction(sql`INSERT INTO payouts VALUES ('b')`)
          )
        )
        assert.deepStrictEqual(outcome, { _tag: "Processed" })
        // C: an inner transaction that succeeds, then the handler fails: all of C is rolled back.
        const failed = yield* Effect.exit(
          inbox.receive(c, () =>
            Effect.zipRight(
              sql.withTransaction(sql`INSERT INTO payouts VALUES ('c')`),
              Effect.fail("c fails")
            )
          )
        )
        assert.isTrue(Exit.isFailure(failed))
        const rows = yield* sql<{ id: string }>`SELECT id FROM payouts ORDER BY id`
        assert.deepStrictEqual(
          rows.map((row) => row.id),
          ["b"]
        )
      })
    )

    it.scoped("layerPgConfig reads WITKEY_INBOX_PG_URL and WITKEY_INBOX_TABLE_PREFIX", () =>
      Effect.gen(function* () {
        const url = yield* PgTest.scopedSchema("config")
        const config = Layer.setConfigProvider(
          ConfigProvider.fromMap(
            new Map([
              ["WITKEY_INBOX_PG_URL", url],
              ["WITKEY_INBOX_TABLE_PREFIX", "cfg_"]
            ])
          )
        )
        const context = yield* Layer.build(PgInbox.layerConfig().pipe(Layer.provide(config)))
        const r = yield* InboxSuite.received({ notifyId: "cfg-1", payload: InboxSuite.assign("cfg", "s-1") })
        yield* Effect.flatMap(Inbox.Inbox, (i) => i.receive(r, () => Effect.void)).pipe(
          Effect.provide(context)
        )
        const sql = Context.get(context, SqlClient.SqlClient)
        const rows = yield* sql<{ state: string }>`SELECT state FROM cfg_inbox WHERE notify_id = 'cfg-1'`
        assert.deepStrictEqual(
          rows.map((r) => r.state),
          ["processed"]
        )
      })
    )
  })
}
