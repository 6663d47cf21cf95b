// What the SQL inbox promises beyond the conformance suite, for any dialect: the handler's writes share the
// inbox's transaction, failures roll them back while the delivery record stays, state survives a restart,
// migrations are idempotent and the table prefix isolates.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, layer } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import { Cause, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Schema } from "effect"
import * as Migrations from "../src/Migrations.js"
import type * as SqlInbox from "../src/SqlInbox.js"

export class Database extends Context.Tag("inbox-sql/test/Database")<
  Database,
  {
    /** A fresh inbox (and its SqlClient) over the test database; build it as often as needed. */
    readonly open: (
      options?: SqlInbox.Options
    ) => Layer.Layer<Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient, unknown>
  }
>() {}

class Refused extends Schema.TaggedError<Refused>()("Refused", { message: Schema.String }) {}

let tables = 0
const businessTable = (sql: SqlClient.SqlClient) =>
  Effect.gen(function* () {
    const name = `payouts_${process.pid}_${++tables}`
    yield* sql.unsafe(`CREATE TABLE "${name}" (event_key TEXT NOT NULL, notify_id TEXT NOT NULL)`)
    const insert = (n: Notification.Notification, suffix = "") =>
      sql`INSERT INTO ${sql(name)} (event_key, notify_id) VALUES (${`${n.payload.outerTaskId}${suffix}`}, ${n.notifyId})`
    const rows = sql<{ notify_id: string }>`SELECT notify_id FROM ${sql(name)}`.pipe(
      Effect.map((rows) => rows.map((r) => r.notify_id))
    )
    return { name, insert, rows }
  })

const fresh = (label: string) => `${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

export const behaviour = (name: string, database: Layer.Layer<Database, unknown>) =>
  layer(database, { timeout: "60 seconds" })(`SqlInbox on ${name}`, (it) => {
    it.effect("the handler's writes commit with the processed mark; a failed handler rolls them back", () =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const sql = yield* SqlClient.SqlClient
        const table = yield* businessTable(sql)
        const task = fresh("tx")
        const r = yield* InboxSuite.received({
          notifyId: `${task}-1`,
          payload: InboxSuite.assign(task, "s-1")
        })
        const failing = (n: Notification.Notification) =>
          Effect.zipRight(table.insert(n), Effect.fail(new Refused({ message: "balance check failed" })))
        const error = yield* Effect.flip(inbox.receive(r, failing))
        assert.strictEqual(error._tag, "Refused")
        assert.deepStrictEqual(yield* table.rows, [], "the handler's insert was rolled back")
        const failed = Option.getOrThrow(yield* inbox.get(r.notification.notifyId))
        assert.strictEqual(failed.state, "failed")
        assert.strictEqual(failed.deliveries, 1, "the delivery record survived the rollback")
        assert.include(failed.lastError ?? "", "balance check failed")
        assert.deepStrictEqual(yield* inbox.receive(r, table.insert), { _tag: "Processed" })
        assert.deepStrictEqual(yield* inbox.receive(r, table.insert), {
          _tag: "Duplicate",
          by: "notify_id",
          processedNotifyId: r.notification.notifyId
        })
        assert.deepStrictEqual(yield* table.rows, [r.notification.notifyId])
      }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(Database, (db) => db.open()))))
    )

    it.effect("a permanent failure rolls the handler's writes back, parks the entry and answers Parked", () =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const ops = yield* Inbox.Operations
        const sql = yield* SqlClient.SqlClient
        const table = yield* businessTable(sql)
        const task = fresh("park")
        const r = yield* InboxSuite.received({
          notifyId: `${task}-1`,
          payload: InboxSuite.assign(task, "s-1")
        })
        const outcome = yield* inbox.receive(r, (n) =>
          Effect.zipRight(
            table.insert(n),
            Effect.fail(new Inbox.PermanentFailure({ message: "unknown task" }))
          )
        )
        assert.strictEqual(outcome._tag, "Parked")
        assert.deepStrictEqual(yield* table.rows, [], "the handler's insert was rolled back")
        const parked = Option.getOrThrow(yield* inbox.get(r.notification.notifyId))
        assert.strictEqual(parked.status, "failed_permanent")
        assert.strictEqual(parked.deliveries, 1)
        assert.deepStrictEqual(
          (yield* ops.attempts(r.notification.notifyId)).map((a) => a.outcome),
          ["failed_permanent"]
        )
        assert.deepStrictEqual(yield* ops.replay(r.notification.notifyId, table.insert), {
          _tag: "Processed"
        })
        assert.deepStrictEqual(yield* table.rows, [r.notification.notifyId])
      }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(Database, (db) => db.open()))))
    )

    it.effect("a handler whose own SQL fails gets its SqlError back, not an InboxError", () =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const sql = yield* SqlClient.SqlClient
        const task = fresh("sqlfail")
        const r = yield* InboxSuite.received({
          notifyId: `${task}-1`,
          payload: InboxSuite.platformProfit(task)
        })
        const error = yield* Effect.flip(
          inbox.receive(r, () => sql`INSERT INTO no_such_table_here (x) VALUES (1)`)
        )
        assert.strictEqual(error._tag, "SqlError")
        const failed = Option.getOrThrow(yield* inbox.get(r.notification.notifyId))
        assert.strictEqual(failed.state, "failed")
        assert.match(failed.lastError ?? "", /no_such_table_here/)
        // The inbox itself is fine: the next delivery goes through.
        assert.deepStrictEqual(yield* inbox.receive(r, () => Effect.void), { _tag: "Processed" })
      }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(Database, (db) => db.open()))))
    )

    it.effect("a handler's own transaction nests inside the inbox's (a savepoint)", () =>
      Effect.gen(function* () {
        const inbox = yield* Inbox.Inbox
        const sql = yield* SqlClient.SqlClient
        const table = yield* businessTable(sql)
        const task = fresh("nested")
        const r = yield* InboxSuite.received({
          notifyId: `${task}-1`,
          payload: InboxSuite.assign(task, "s-1")
        })
        const handler = (n: Notification.Notification) =>
          Effect.gen(function* () {
            // An inner unit of work that fails and is rolled back to its savepoint; the handler carries on.
            yield* sql
              .withTransaction(
                Effect.zipRight(table.insert(n, "-inner"), Effect.fail(new Refused({ message: "inner" })))
              )
              .pipe(Effect.ignore)
            yield* table.insert(n)
          })
        assert.deepStrictEqual(yield* inbox.receive(r, handler), { _tag: "Processed" })
        assert.deepStrictEqual(yield* table.rows, [r.notification.notifyId])
      }).pipe(Effect.provide(Layer.unwrapEffect(Effect.map(Database, (db) => db.open()))))
    )

    // The receiver skips notify_verify for any notify_id on record, and the gateway may not confirm an id
    // again later: a delivery it confirmed must be durable before the handler runs, so that a process killed
    // inside the handler does not lose it. Seen here from a second connection while the handler still runs.
    it.effect("a delivery notify_verify confirmed is committed before its handler runs, others with it", () =>
      Effect.gen(function* () {
        const db = yield* Database
        const receiver = yield* Layer.build(db.open())
        const other = yield* Layer.build(db.open())
        const get = (notifyId: string) =>
          Effect.flatMap(Inbox.Inbox, (inbox) => inbox.get(notifyId)).pipe(Effect.provide(other))
        for (const confirmed of [true, false]) {
          const task = fresh(confirmed ? "confirmed" : "unconfirmed")
          const r: Inbox.Received = {
            ...(yield* InboxSuite.received({
              notifyId: `${task}-1`,
              payload: InboxSuite.assign(task, "s-1")
            })),
            gatewayConfirmed: confirmed
          }
          const started = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const fiber = yield* Effect.fork(
            Effect.flatMap(Inbox.Inbox, (inbox) =>
              inbox.receive(r, () =>
                Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release))
              )
            ).pipe(Effect.provide(receiver))
          )
          yield* Deferred.await(started)
          // Whatever the check finds, the handler is let go, so a failure does not hold the transaction open.
          const during = yield* get(r.notification.notifyId).pipe(
            Effect.ensuring(Deferred.succeed(release, undefined))
          )
          assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Processed" })
          if (confirmed) {
            const e = Option.getOrThrow(during)
            assert.strictEqual(e.deliveries, 1)
            assert.strictEqual(e.state, "pending")
          } else
            assert.isTrue(Option.isNone(during), "without the gateway's word, it commits with the handler")
          const after = Option.getOrThrow(yield* get(r.notification.notifyId))
          assert.strictEqual(after.state, "processed")
          assert.strictEqual(after.deliveries, 1, "one delivery, counted once")
        }
      }).pipe(Effect.scoped)
    )

    it.effect("what was recorded survives a restart, and the next delivery after it is de-duplicated", () =>
      Effect.gen(function* () {
        const db = yield* Database
        const task = fresh("restart")
        const r = yield* InboxSuite.received({
          notifyId: `${task}-1`,
          payload: InboxSuite.assign(task, "s-1")
        })
        const again = yield* InboxSuite.received({
          notifyId: `${task}-2`,
          payload: InboxSuite.assign(task, "s-1")
        })
        const withInbox = <A, E>(f: (inbox: Inbox.Inbox) => Effect.Effect<A, E>) =>
          Effect.flatMap(Inbox.Inbox, f).pipe(Effect.provide(db.open()))
        yield* withInbox((inbox) => Effect.flip(inbox.receive(r, () => new Refused({ message: "down" }))))
        const afterCrash = Option.getOrThrow(yield* withInbox((inbox) => inbox.get(r.notification.notifyId)))
        assert.strictEqual(afterCrash.state, "failed")
        assert.deepStrictEqual(yield* withInbox((inbox) => inbox.receive(r, () => Effect.void)), {
          _tag: "Processed"
        })
        assert.deepStrictEqual(yield* withInbox((inbox) => inbox.receive(again, () => Effect.void)), {
          _tag: "Duplicate",
          by: "business_key",
          processedNotifyId: r.notification.notifyId
        })
        const trail = yield* withInbox((inbox) => inbox.byTask(task))
        assert.deepStrictEqual(
          trail.map((e) => [e.notifyId, e.state, e.deliveries, e.duplicateOf]),
          [
            [`${task}-1`, "processed", 2, undefined],
            [`${task}-2`, "processed", 1, `${task}-1`]
          ]
        )
      })
    )

    it.effect("migrations are idempotent and the table prefix isolates inboxes", () =>
      Effect.gen(function* () {
        const db = yield* Database
        const prefix = `p${Math.random().toString(36).slice(2, 8)}_`
        const task = fresh("prefix")
        const r = yield* InboxSuite.received({
          notifyId: `${task}-1`,
          payload: InboxSuite.assign(task, "s-1")
        })
        // Twice, concurrently: both must come up.
        yield* Effect.all(
          [1, 2].map(() => Layer.build(db.open({ tablePrefix: prefix })).pipe(Effect.scoped)),
          { concurrency: "unbounded" }
        )
        const applied = yield* Effect.all([Migrations.run(prefix), Migrations.run()]).pipe(
          Effect.provide(db.open({ tablePrefix: prefix }))
        )
        assert.deepStrictEqual(applied, [[], []])
        yield* Effect.flatMap(Inbox.Inbox, (inbox) => inbox.receive(r, () => Effect.void)).pipe(
          Effect.provide(db.open())
        )
        const elsewhere = yield* Effect.flatMap(Inbox.Inbox, (inbox) =>
          inbox.get(r.notification.notifyId)
        ).pipe(Effect.provide(db.open({ tablePrefix: prefix })))
        assert.isTrue(Option.isNone(elsewhere))
        const tablesThere = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM ${sql(`${prefix}inbox_migrations`)}`
        ).pipe(Effect.provide(db.open({ tablePrefix: prefix })))
        assert.strictEqual(Number(tablesThere[0]!.n), Migrations.migrations.length)
      })
    )

    it.effect("an invalid table prefix is refused before any SQL runs", () =>
      Effect.gen(function* () {
        const db = yield* Database
        const exit = yield* Effect.exit(
          Layer.build(db.open({ tablePrefix: 'x"; DROP TABLE witkey_inbox; --' })).pipe(Effect.scoped)
        )
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit)
          ? Option.getOrUndefined(Cause.failureOption(exit.cause))
          : undefined
        assert.instanceOf(error, Inbox.InboxError)
        assert.include((error as Inbox.InboxError).message, "invalid table prefix")
      })
    )

    it.effect("a broken store is an InboxError, recorded on the notification", () =>
      Effect.gen(function* () {
        const db = yield* Database
        const prefix = `b${Math.random().toString(36).slice(2, 8)}_`
        const task = fresh("broken")
        const r = yield* InboxSuite.received({
          notifyId: `${task}-1`,
          payload: InboxSuite.assign(task, "s-1")
        })
        const error = yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe(`DROP TABLE "${prefix}inbox_events"`)
          const inbox = yield* Inbox.Inbox
          return yield* Effect.flip(inbox.receive(r, () => Effect.void))
        }).pipe(Effect.provide(db.open({ tablePrefix: prefix })))
        assert.instanceOf(error, Inbox.InboxError)
        assert.strictEqual(error.reason, "storage")
        const entry = yield* Effect.flatMap(Inbox.Inbox, (inbox) => inbox.get(r.notification.notifyId)).pipe(
          Effect.provide(db.open({ tablePrefix: prefix }))
        )
        assert.strictEqual(Option.getOrThrow(entry).state, "failed")
        assert.include(Option.getOrThrow(entry).lastError ?? "", "InboxError")
      })
    )
  })
