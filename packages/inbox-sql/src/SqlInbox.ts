/**
 * The durable notification `Inbox` of `@witkey/core` over any SQLite or PostgreSQL `SqlClient` of `@effect/sql`.
 * `SqliteInbox` (the embedded default, one file, no server) and `PgInbox` bring their driver; this module
 * loads neither.
 *
 * Exactly once, by construction: each delivery's work is one unit that commits or rolls back whole (two for a
 * first delivery that `notify_verify` confirmed). On PostgreSQL the unit is a transaction of its own. On SQLite,
 * which has one writer per file, it is a savepoint inside a transaction shared with the deliveries queued at
 * the same time (group commit, `internal/GroupCommit.ts`; the unit itself is `internal/unit.ts`, its
 * statements `internal/statements.ts`): one flushed commit for all of them, each answered
 * only after it. A failing delivery rolls back to its savepoint and leaves the others alone; a failed commit
 * fails them all, and each records its delivery again on its own.
 *
 * 1. Record the delivery (an upsert of the notification row: raw body, first/last arrival, count); unless
 *    this notify_id is already processed, claim the event (an upsert that marks it with this notify_id, or
 *    finds it marked by another: a duplicate by business key); run the user's handler; mark the notification
 *    processed; commit. A handler using the same `SqlClient` writes inside this transaction, so the business
 *    write, the processed mark and the delivery record commit together or not at all; core's
 *    `NotificationReceiver` answers `success` only after `receive` succeeds, i.e. after the commit.
 * 2. If anything in it fails (the handler, a statement, the commit) or it is interrupted, the unit rolls
 *    back, and the delivery is recorded again in a statement of its own, with the failure, so the audit
 *    trail keeps it; the next delivery runs the handler again. (Not on a busy database: that would only wait
 *    for the lock a second time, to record nothing.)
 * 3. A delivery that `notify_verify` confirmed (`Received.gatewayConfirmed`) is first recorded in a commit of
 *    its own, before the transaction: the receiver skips `notify_verify` for any notify_id on record, and the
 *    gateway may not confirm it again later, so a process killed inside the handler must not take the record
 *    with it. Any other delivery killed mid-transaction leaves no trace; it was never answered, and Alipay
 *    delivers it again, verified by its signature (and `notify_verify`) as the first time.
 *
 * The locks: every notification maps to an event key (its business key, or its notify_id for unknown sub
 * types). The transaction upserts the notification row, then claims the event row (`INSERT … ON CONFLICT DO
 * UPDATE … RETURNING`, PostgreSQL in READ COMMITTED); each upsert locks the row it finds. Two receivers on one
 * database that get the same event at the same time queue on those rows: on a new row the second insert waits
 * for the first transaction's uncommitted one, on an existing row the row lock does. The second then sees the
 * committed state: processed, so it reports a duplicate; or rolled back, so it runs the handler itself. Every
 * transaction locks the notification row first and the event row second, so there is no lock cycle. (A unique
 * constraint alone, with the loser rolled back on conflict, would still run the user's handler twice, and its
 * effects outside the database with it.) On SQLite the transaction's first statement is a write (the delivery
 * upsert) or the shared transaction's `BEGIN IMMEDIATE`: the write lock is taken right away, waiting with the
 * busy handler, and two processes on one file serialize instead of failing on a stale read snapshot.
 *
 * Notes: `@effect/sql` routes every client's queries inside `withTransaction` to the transaction's connection,
 * so the handler should only use the inbox's database. On a group-commit turn the inbox's own statements go to
 * the turn's connection directly (the same SQL and driver call, without the client's per-statement span), so
 * a `Statement` transformer the application installs sees the handler's statements but not the inbox's. If `receive` itself runs inside an outer transaction,
 * the delivery record joins that transaction. One SQLite client per file per process: better-sqlite3 waits for
 * a lock synchronously.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import type { ConfigError } from "effect/ConfigError"
import type * as Scope from "effect/Scope"
import { Cause, Clock, Config, Effect, Layer, Option } from "effect"
import * as GroupCommit from "./internal/GroupCommit.js"
import * as PerTransaction from "./internal/perTransaction.js"
import { causeMessage, toInboxError } from "./internal/SqlErrors.js"
import * as Statements from "./internal/statements.js"
import * as Unit from "./internal/unit.js"
import * as Migrations from "./Migrations.js"

export interface Options {
  /** Prefix of the inbox's tables (letters, digits, underscores). Default `witkey_`. */
  readonly tablePrefix?: string | undefined
}

/**
 * The inbox over the `SqlClient` in context. The tables must exist: `layer` runs `Migrations.run` first.
 * Fails for an invalid table prefix or a client that is neither SQLite nor PostgreSQL. On SQLite it runs a
 * fiber in the `Scope` that commits deliveries in groups (see the module's notes).
 */
export const make = (
  options: Options = {}
): Effect.Effect<Inbox.Inbox, Inbox.InboxError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function* () {
    // Our own statements use our own column names, whatever name transforms the user's client has.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const prefix = options.tablePrefix ?? Migrations.DEFAULT_TABLE_PREFIX
    if (!Migrations.TABLE_PREFIX_PATTERN.test(prefix))
      return yield* new Inbox.InboxError({
        reason: "storage",
        message: `invalid table prefix ${JSON.stringify(prefix)}: use letters, digits and underscores (at most 40)`
      })
    const dialect = Migrations.dialectOf(sql)
    if (dialect === undefined)
      return yield* new Inbox.InboxError({
        reason: "storage",
        message: "the SQL inbox supports SQLite and PostgreSQL clients only"
      })
    const statements = Statements.make(sql, Migrations.tables(prefix))
    // SQLite has one writer per file: deliveries share transactions and their flushed commits. PostgreSQL
    // keeps one transaction per delivery: its row locks must be held briefly, and it has writers in parallel.
    const perTransaction = PerTransaction.make(sql)
    const grouped = dialect === "sqlite" ? GroupCommit.runner(yield* GroupCommit.make(sql)) : undefined
    // The SQLite client shares one connection and holds its lock only while handing it out, so a lone
    // statement can run inside another fiber's open transaction (and be rolled back with it, or read its
    // uncommitted rows). Its own transaction makes it wait for the connection like a transaction does.
    const alone = <A, E, R>(statement: Effect.Effect<A, E, R>) =>
      dialect === "sqlite" ? sql.withTransaction(statement) : statement

    /**
     * The first delivery of a notify_id that `notify_verify` confirmed, committed on its own before anything
     * else: the gateway may not confirm the id again later (PROTOCOL.md §6), and the receiver skips the check
     * for any notify_id on record, so a crash inside the handler must not take this record with it. True when
     * it inserted the row (the delivery is then counted).
     */
    const preRecord = (received: Inbox.Received, keys: Statements.Keys) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => alone(statements.preRecord(received, keys, now))),
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(toInboxError("record delivery"))
      )

    /**
     * After a rolled-back or interrupted attempt: the delivery (which the rollback took with it, unless it was
     * recorded before) and, for a failure, its reason, in a statement of its own. Best effort: if even this
     * fails, a warning is logged; the answer is `fail` either way, and Alipay delivers again.
     */
    const recordFailure = (
      received: Inbox.Received,
      keys: Statements.Keys,
      cause: Cause.Cause<unknown>,
      counted: boolean
    ) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => {
          const record = statements.upsertDelivery(received, keys, now, {
            failure: Cause.isInterruptedOnly(cause) ? undefined : Unit.describeCause(cause),
            counted
          })
          // It runs uninterruptibly, after the fact: on PostgreSQL it must not wait long behind another
          // delivery of the same notify_id that holds the row (SQLite waits at most its busy timeout).
          return dialect === "pg"
            ? sql.withTransaction(Effect.zipRight(sql`SET LOCAL lock_timeout = '2s'`, record))
            : alone(record)
        }),
        Effect.asVoid,
        // A driver that throws (a closed database) is as much a failure to record as a SqlError.
        Effect.catchAllCause((cause) => {
          const failure = Cause.failureOption(cause)
          return Effect.logWarning("witkey inbox: could not record a failed delivery").pipe(
            Effect.annotateLogs({
              notify_id: received.notification.notifyId,
              detail: Option.isSome(failure)
                ? causeMessage(failure.value)
                : Cause.pretty(cause).split("\n")[0]!
            })
          )
        })
      )

    const receive: Inbox.Inbox["receive"] = <E, R>(
      received: Inbox.Received,
      handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
    ) => {
      const delivery: Unit.Delivery<E, R> = {
        received,
        keys: Statements.keysOf(received.notification),
        handler
      }
      // Uninterruptible around the unit, so that an interrupted one is still recorded (the unit itself stays
      // interruptible through `restore`).
      return Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          // Inside a transaction of the caller's, the delivery joins it; otherwise SQLite shares commits.
          const outer = yield* Effect.serviceOption(SqlClient.TransactionConnection)
          const runner = grouped === undefined || Option.isSome(outer) ? perTransaction : grouped
          // The pre-record commits (with other records only, never with handlers' writes) before the
          // delivery's unit: durable before the handler.
          const recorded =
            received.gatewayConfirmed === true
              ? yield* runner.record(preRecord(received, delivery.keys), restore)
              : false
          return yield* runner.run(
            (exec) => Unit.settle(statements, exec, delivery, !recorded),
            restore,
            (cause) => recordFailure(received, delivery.keys, cause, !recorded)
          )
        })
      ).pipe(Effect.mapError((e) => Unit.unwrapHandlerFailure(e) as Inbox.InboxError | E))
    }

    const select = (statement: Effect.Effect<ReadonlyArray<object>, SqlError>) =>
      alone(statement).pipe(
        Effect.mapError(toInboxError("query")),
        Effect.flatMap((rows) =>
          Effect.mapError(
            Statements.decodeRows(rows),
            (e) => new Inbox.InboxError({ reason: "storage", message: `inbox: unreadable row: ${e.message}` })
          )
        ),
        Effect.map((rows) => rows.map(Statements.toEntry))
      )

    return Inbox.Inbox.of({
      receive,
      get: (notifyId) =>
        Effect.map(select(statements.byNotifyId(notifyId)), (entries) => Option.fromNullable(entries[0])),
      byTask: (outerTaskId) => select(statements.byTask(outerTaskId))
    })
  })

/** The inbox over any SQLite or PostgreSQL `SqlClient`, migrating its tables first. */
export const layer = (
  options: Options = {}
): Layer.Layer<Inbox.Inbox, Inbox.InboxError, SqlClient.SqlClient> =>
  Layer.scoped(
    Inbox.Inbox,
    Effect.zipRight(Migrations.run(options.tablePrefix ?? Migrations.DEFAULT_TABLE_PREFIX), make(options))
  )

/** `WITKEY_INBOX_TABLE_PREFIX` (default `witkey_`): shared by the drivers' `layerConfig`. */
export const tablePrefixConfig: Config.Config<string> = Config.string("WITKEY_INBOX_TABLE_PREFIX").pipe(
  Config.withDefault(Migrations.DEFAULT_TABLE_PREFIX)
)

/** `layer` from configuration: `WITKEY_INBOX_TABLE_PREFIX` (default `witkey_`). */
export const layerConfig = (
  config: Config.Config<Options> = Config.all({ tablePrefix: tablePrefixConfig })
): Layer.Layer<Inbox.Inbox, Inbox.InboxError | ConfigError, SqlClient.SqlClient> =>
  Layer.unwrapEffect(Effect.map(config, layer))
