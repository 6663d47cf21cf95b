/**
 * The durable notification `Inbox` of `@witkey/core` on `@effect/sql`: SQLite (the embedded default, one file,
 * no server) and PostgreSQL.
 *
 * Exactly once, by construction: each delivery's work is one unit that commits or rolls back whole (two for a
 * first delivery that `notify_verify` confirmed). On PostgreSQL the unit is a transaction of its own. On SQLite,
 * which has one writer per file, it is a savepoint inside a transaction shared with the deliveries queued at
 * the same time (group commit, `internal/GroupCommit.ts`): one flushed commit for all of them, each answered
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
import type * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import type { ConfigError } from "effect/ConfigError"
import type * as Scope from "effect/Scope"
import {
  Cause,
  Clock,
  Config,
  Duration,
  Effect,
  Either,
  Exit,
  Layer,
  Option,
  Predicate,
  Redacted,
  Schema
} from "effect"
import * as GroupCommit from "./internal/GroupCommit.js"
import { causeMessage, isBusy } from "./internal/SqlErrors.js"
import * as Migrations from "./Migrations.js"

export interface Options {
  /** Prefix of the inbox's tables (letters, digits, underscores). Default `witkey_`. */
  readonly tablePrefix?: string | undefined
}

export interface SqliteOptions extends Options {
  /** The database file; created if missing. */
  readonly filename: string
  /** How long to wait for another process's write lock before answering busy. Default 5 seconds. */
  readonly busyTimeout?: Duration.DurationInput | undefined
}

export interface PgOptions extends Options {
  /** `postgres://user@host:port/database`; may carry a password, so it is kept redacted. */
  readonly url: Redacted.Redacted<string> | string
  readonly maxConnections?: number | undefined
}

const ROW_COLUMNS =
  "notify_id, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, first_received_at, last_received_at, deliveries, state, processed_at, last_error, duplicate_of"

// PostgreSQL returns BIGINT as a string; SQLite with safe integers as a bigint.
const Integer = Schema.Union(
  Schema.Number,
  Schema.NumberFromString,
  Schema.transform(Schema.BigIntFromSelf, Schema.Number, { decode: Number, encode: BigInt })
)
const Text = Schema.NullOr(Schema.String)

const Row = Schema.Struct({
  notify_id: Schema.String,
  business_key: Text,
  sub_type: Schema.String,
  outer_task_id: Text,
  outer_transfer_no: Text,
  body: Schema.Uint8ArrayFromSelf,
  content_type: Text,
  first_received_at: Integer,
  last_received_at: Integer,
  deliveries: Integer,
  state: Schema.Literal("pending", "processed", "failed"),
  processed_at: Schema.NullOr(Integer),
  last_error: Text,
  duplicate_of: Text
})

const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

const orUndefined = <A>(value: A | null): A | undefined => (value === null ? undefined : value)

const toEntry = (row: typeof Row.Type): Inbox.Entry => ({
  notifyId: row.notify_id,
  businessKey: orUndefined(row.business_key),
  subType: row.sub_type,
  outerTaskId: orUndefined(row.outer_task_id),
  outerTransferNo: orUndefined(row.outer_transfer_no),
  // A plain copy: drivers hand out Buffers over shared pools.
  body: Uint8Array.from(row.body),
  contentType: orUndefined(row.content_type),
  firstReceivedAt: row.first_received_at,
  lastReceivedAt: row.last_received_at,
  deliveries: row.deliveries,
  state: row.state,
  processedAt: orUndefined(row.processed_at),
  lastError: orUndefined(row.last_error),
  duplicateOf: orUndefined(row.duplicate_of)
})

const toInboxError =
  (what: string) =>
  (e: SqlError): Inbox.InboxError =>
    new Inbox.InboxError({
      reason: isBusy(e) ? "busy" : "storage",
      message: `inbox ${what}: ${causeMessage(e)}`
    })

const isSqlError = (u: unknown): u is SqlError => Predicate.isTagged(u, "SqlError")

const fromExit = <A, E>(exit: Exit.Exit<A, E>): Effect.Effect<A, E> => exit

/** Failed with `TRANSACTION_LOST`. */
const isLostExit = (exit: Exit.Exit<unknown, unknown>): boolean => failureOf(exit) === TRANSACTION_LOST

/**
 * A statement, run on `connection` directly when there is one (a group-commit turn): the same SQL and the same
 * driver call, without the client's per-statement span and connection lookup (about 16 µs of its 22).
 */
const exec = <A extends object>(
  statement: Statement.Statement<A>,
  connection: SqlConnection.Connection | undefined
): Effect.Effect<ReadonlyArray<A>, SqlError> =>
  connection === undefined
    ? statement
    : Effect.suspend(() => {
        const [text, params] = statement.compile()
        return connection.execute(text, params, undefined) as Effect.Effect<ReadonlyArray<A>, SqlError>
      })

/** The shared transaction is gone (SQLite rolled it back by itself): nothing more can join it. */
export const TRANSACTION_LOST: Inbox.InboxError = new Inbox.InboxError({
  reason: "storage",
  message: "inbox: the database rolled the shared transaction back; every delivery in it is answered fail"
})

/**
 * `effect` inside a savepoint of its own on `connection`, released when it succeeds and rolled back when it
 * fails or is interrupted (`effect` carries the caller's `restore`; the rest runs uninterruptibly). Cached
 * statements instead of a nested `withTransaction` (a span, an unprepared statement, a fresh context): this
 * runs for every delivery of a shared transaction. If the savepoint cannot be released or rolled back, the
 * transaction is no longer the one that began (SQLite rolls a whole transaction back by itself on some
 * errors): the whole transaction is rolled back, so that the batch cannot commit half of this delivery, and
 * this fails with `TRANSACTION_LOST`.
 */
const savepointed = <A, E, R>(
  connection: SqlConnection.Connection,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError | Inbox.InboxError, R> =>
  Effect.gen(function* () {
    yield* connection.executeRaw("SAVEPOINT witkey_delivery", [])
    const exit = yield* Effect.exit(effect)
    if (Exit.isSuccess(exit)) {
      const released = yield* Effect.exit(connection.executeRaw("RELEASE SAVEPOINT witkey_delivery", []))
      if (Exit.isSuccess(released)) return exit.value
    }
    const rolledBack = yield* Effect.exit(
      Effect.zipRight(
        connection.executeRaw("ROLLBACK TO SAVEPOINT witkey_delivery", []),
        connection.executeRaw("RELEASE SAVEPOINT witkey_delivery", [])
      )
    )
    if (Exit.isFailure(rolledBack) || Exit.isSuccess(exit)) {
      yield* Effect.ignore(connection.executeRaw("ROLLBACK", []))
      return yield* TRANSACTION_LOST
    }
    return yield* exit
  })

/** Failed with a busy `InboxError`. */
const isBusyExit = (exit: Exit.Exit<unknown, unknown>): boolean => {
  const failure = failureOf(exit)
  return failure instanceof Inbox.InboxError && failure.reason === "busy"
}

/** The expected failure of an exit, if it failed with one. */
const failureOf = (exit: Exit.Exit<unknown, unknown>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/** The two keys of a notification: its business key (if its sub type has one) and the event key it locks. */
interface Keys {
  readonly businessKey: string | undefined
  readonly eventKey: string
}

/** Wraps the handler's own failure inside the transaction, so it is never mistaken for the inbox's. */
class HandlerFailure<E> {
  readonly _tag = "HandlerFailure"
  constructor(readonly error: E) {}
}

const describeCause = (cause: Cause.Cause<unknown>): string =>
  Inbox.describeFailure(cause, (e) => (e instanceof HandlerFailure ? e.error : e))

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
    // SQLite has one writer per file: deliveries share transactions and their flushed commits. PostgreSQL
    // keeps one transaction per delivery: its row locks must be held briefly, and it has writers in parallel.
    const group = dialect === "sqlite" ? yield* GroupCommit.make(sql) : undefined
    const t = Migrations.tables(prefix)
    const N = sql(t.notifications)
    const E = sql(t.events)
    const columns = sql.literal(ROW_COLUMNS)
    // The SQLite client shares one connection and holds its lock only while handing it out, so a lone
    // statement can run inside another fiber's open transaction (and be rolled back with it, or read its
    // uncommitted rows). Its own transaction makes it wait for the connection like a transaction does.
    const alone = <A, E, R>(statement: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
      dialect === "sqlite" ? sql.withTransaction(statement) : statement

    /** The insert of a delivery's row (raw body, first arrival); the statements below say what a conflict does. */
    const deliveryRow = (received: Inbox.Received, keys: Keys, now: number, failure: string | undefined) => {
      const n = received.notification
      const outerTransferNo = n.payload._tag === "Assign" ? n.payload.outerTransferNo : null
      return sql`INSERT INTO ${N} (notify_id, event_key, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, first_received_at, last_received_at, deliveries, state, last_error)
VALUES (${n.notifyId}, ${keys.eventKey}, ${keys.businessKey ?? null}, ${n.payload.subType}, ${n.payload.outerTaskId ?? null}, ${outerTransferNo}, ${received.body}, ${received.contentType ?? null}, ${now}, ${now}, 1, ${failure === undefined ? "pending" : "failed"}, ${failure ?? null})`
    }

    /**
     * The delivery as one upsert: a new notify_id gets its row, a known one counts one more delivery, unless
     * `counted` is false (an earlier statement of the same receive already counted it). The first body is kept:
     * a re-delivery of a notify_id is the same signed notification. `failure` also marks a row that is not
     * processed as failed, with the reason.
     */
    const upsertDelivery = (
      received: Inbox.Received,
      keys: Keys,
      now: number,
      options: { readonly failure: string | undefined; readonly counted: boolean }
    ) => {
      const add = options.counted ? 1 : 0
      const onConflict =
        options.failure === undefined
          ? sql`deliveries = ${N}.deliveries + ${add}, last_received_at = excluded.last_received_at`
          : sql`deliveries = ${N}.deliveries + ${add}, last_received_at = excluded.last_received_at, state = CASE WHEN ${N}.state = 'processed' THEN ${N}.state ELSE 'failed' END, last_error = CASE WHEN ${N}.state = 'processed' THEN ${N}.last_error ELSE excluded.last_error END`
      return sql<{
        state: string
        duplicate_of: string | null
      }>`${deliveryRow(received, keys, now, options.failure)}
ON CONFLICT (notify_id) DO UPDATE SET ${onConflict}
RETURNING state, duplicate_of`
    }

    /**
     * The first delivery of a notify_id that `notify_verify` confirmed, committed on its own before anything
     * else: the gateway may not confirm the id again later (PROTOCOL.md §6), and the receiver skips the check
     * for any notify_id on record, so a crash inside the handler must not take this record with it. True when
     * it inserted the row (the delivery is then counted).
     */
    const preRecord = (received: Inbox.Received, keys: Keys, now: number) =>
      alone(
        sql<{ notify_id: string }>`${deliveryRow(received, keys, now, undefined)}
ON CONFLICT (notify_id) DO NOTHING
RETURNING notify_id`
      ).pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(toInboxError("record delivery"))
      )

    /**
     * After a rolled-back or interrupted attempt: the delivery (which the rollback took with it, unless it was
     * recorded before) and, for a failure, its reason, in a statement of its own. Best effort: if even this
     * fails, a warning is logged; the answer is `fail` either way, and Alipay delivers again.
     */
    const recordAttempt = (
      received: Inbox.Received,
      keys: Keys,
      cause: Cause.Cause<unknown>,
      counted: boolean
    ) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => {
          const record = upsertDelivery(received, keys, now, {
            failure: Cause.isInterruptedOnly(cause) ? undefined : describeCause(cause),
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
    ) =>
      Effect.suspend(() => {
        const n = received.notification
        const notifyId = n.notifyId
        const keys: Keys = { businessKey: Notification.businessKey(n), eventKey: Notification.eventKey(n) }
        const eventKey = keys.eventKey
        // Set once `settle` succeeded: a defect after that can only come from COMMIT.
        let committing = false

        const step = <A extends object>(
          what: string,
          statement: Statement.Statement<A>,
          connection: SqlConnection.Connection | undefined
        ) => Effect.mapError(exec(statement, connection), toInboxError(what))

        // One transaction, one commit: the delivery record, the event's claim, the handler and the mark.
        const settle = (
          counted: boolean,
          connection?: SqlConnection.Connection
        ): Effect.Effect<Inbox.Outcome, Inbox.InboxError | HandlerFailure<E>, R> =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            // Also the notification row's lock on PostgreSQL (an upsert locks the row it updates).
            const entries = yield* step(
              "record delivery",
              upsertDelivery(received, keys, now, { failure: undefined, counted }),
              connection
            )
            const entry = entries[0]
            if (entry === undefined)
              return yield* new Inbox.InboxError({
                reason: "storage",
                message: `inbox: the row of notify_id ${notifyId} vanished inside the transaction`
              })
            // Processed is final (a failure record never undoes it), and an event is only ever marked by a
            // notification marked in the same transaction: this notify_id's own event is settled.
            if (entry.state === "processed")
              return {
                _tag: "Duplicate",
                by: "notify_id",
                processedNotifyId: entry.duplicate_of ?? notifyId
              } satisfies Inbox.Outcome
            // Claim the event: insert it marked with this notify_id, or find it marked by another. The upsert
            // locks an existing row and waits for a concurrent uncommitted insert, and returns the committed
            // mark. Marking before the handler runs is safe: a failure rolls the mark back with the rest.
            const events = yield* step(
              "claim event",
              sql<{
                processed_notify_id: string | null
              }>`INSERT INTO ${E} (event_key, processed_notify_id, processed_at) VALUES (${eventKey}, ${notifyId}, ${now})
ON CONFLICT (event_key) DO UPDATE SET processed_notify_id = COALESCE(${E}.processed_notify_id, excluded.processed_notify_id), processed_at = COALESCE(${E}.processed_at, excluded.processed_at)
RETURNING processed_notify_id`,
              connection
            )
            const processedBy = events[0]?.processed_notify_id
            if (processedBy === undefined || processedBy === null)
              return yield* new Inbox.InboxError({
                reason: "storage",
                message: `inbox: the event row of notify_id ${notifyId} vanished inside the transaction`
              })
            if (processedBy !== notifyId) {
              yield* step(
                "mark duplicate",
                sql`UPDATE ${N} SET state = 'processed', processed_at = ${now}, duplicate_of = ${processedBy}, last_error = NULL WHERE notify_id = ${notifyId}`,
                connection
              )
              return {
                _tag: "Duplicate",
                by: "business_key",
                processedNotifyId: processedBy
              } satisfies Inbox.Outcome
            }
            yield* Effect.mapError(handler(n), (e) => new HandlerFailure(e))
            const done = yield* Clock.currentTimeMillis
            // Only while this transaction's claim still stands: a handler can swallow the error of a statement
            // after which SQLite rolled the whole transaction back (`INSERT OR ROLLBACK`, a trigger's
            // RAISE(ROLLBACK)), and an unconditional mark would then commit on its own, without the claim or
            // the handler's writes.
            const marked = yield* step(
              "mark processed",
              sql<{
                notify_id: string
              }>`UPDATE ${N} SET state = 'processed', processed_at = ${done}, last_error = NULL, duplicate_of = NULL WHERE notify_id = ${notifyId} AND EXISTS (SELECT 1 FROM ${E} WHERE event_key = ${eventKey} AND processed_notify_id = ${notifyId})
RETURNING notify_id`,
              connection
            )
            if (marked.length === 0)
              return yield* connection === undefined
                ? new Inbox.InboxError({
                    reason: "storage",
                    message: `inbox: the transaction of notify_id ${notifyId} was rolled back under the handler`
                  })
                : TRANSACTION_LOST
            return { _tag: "Processed" } satisfies Inbox.Outcome
          }).pipe(Effect.tap(() => Effect.sync(() => void (committing = true))))

        // Only the transaction's body is interruptible: an interruption that arrives while it commits waits
        // for the commit, so a committed delivery is never also recorded as interrupted.
        const transaction = (
          counted: boolean,
          restore: <A, E2, R2>(effect: Effect.Effect<A, E2, R2>) => Effect.Effect<A, E2, R2>
        ) =>
          sql.withTransaction(restore(settle(counted))).pipe(
            // @effect/sql turns a failed COMMIT into a defect; it is a storage failure like any other.
            Effect.catchAllCause((cause) => {
              const defect = Cause.dieOption(cause)
              return committing && Option.isSome(defect) && isSqlError(defect.value)
                ? Effect.fail(toInboxError("commit")(defect.value))
                : Effect.failCause(cause)
            }),
            Effect.mapError((e) => (isSqlError(e) ? toInboxError("begin")(e) : e))
          )

        // The transaction, and after a failure the delivery's record (a busy database would only keep this
        // connection waiting again, to record nothing). Never fails: the transaction's exit is the value.
        // On a group-commit turn (`connection`): a savepoint in the shared transaction instead of a transaction.
        const attempt = (
          counted: boolean,
          restore: <A, E2, R2>(effect: Effect.Effect<A, E2, R2>) => Effect.Effect<A, E2, R2>,
          connection?: SqlConnection.Connection
        ) =>
          Effect.gen(function* () {
            const exit = yield* Effect.exit(
              connection === undefined
                ? transaction(counted, restore)
                : Effect.mapError(savepointed(connection, restore(settle(counted, connection))), (e) =>
                    isSqlError(e) ? toInboxError("savepoint")(e) : e
                  )
            )
            if (Exit.isFailure(exit) && !isBusyExit(exit))
              yield* recordAttempt(received, keys, exit.cause, counted)
            return exit
          })

        const preRecordNow = Effect.flatMap(Clock.currentTimeMillis, (now) => preRecord(received, keys, now))

        // Uninterruptible around the attempt, so that an interrupted one is still recorded (the attempt itself
        // stays interruptible through `restore`).
        return Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            // Inside a transaction of the caller's, the delivery joins it; otherwise SQLite shares commits.
            const outer = yield* Effect.serviceOption(SqlClient.TransactionConnection)
            if (group === undefined || Option.isSome(outer)) {
              const recorded = received.gatewayConfirmed === true ? yield* restore(preRecordNow) : false
              return yield* Effect.flatMap(attempt(!recorded, restore), fromExit)
            }
            // The pre-record commits (with other records only, never with handlers' writes) before the delivery
            // joins a transaction: durable before the handler. One statement, run uninterruptibly, so that an
            // interruption lands in the attempt below, which records the delivery.
            const recorded =
              received.gatewayConfirmed === true
                ? yield* Effect.flatten(
                    group.run(
                      () => preRecordNow,
                      (exit) => (isBusyExit(exit) ? "busy" : "continue"),
                      "record"
                    )
                  )
                : false
            const grouped = yield* Effect.either(
              group.run(
                (connection) => attempt(!recorded, restore, connection),
                (exit) =>
                  Exit.isFailure(exit)
                    ? "continue"
                    : isBusyExit(exit.value)
                      ? "busy"
                      : isLostExit(exit.value)
                        ? "lost"
                        : "continue"
              )
            )
            if (Either.isRight(grouped)) return yield* Effect.flatMap(fromExit(grouped.right), fromExit)
            // The shared transaction did not commit (or never began): whatever this delivery wrote in it is gone.
            const error = grouped.left
            // Busy: it would only wait again. Closed: the database is going away with the inbox.
            if (error.reason !== "busy" && error !== GroupCommit.CLOSED)
              yield* recordAttempt(received, keys, Cause.fail(error), !recorded)
            return yield* error
          })
        ).pipe(Effect.mapError((e): Inbox.InboxError | E => (e instanceof HandlerFailure ? e.error : e)))
      })

    const select = (where: "notify_id" | "outer_task_id", value: string) =>
      alone(
        where === "notify_id"
          ? sql`SELECT ${columns} FROM ${N} WHERE notify_id = ${value}`
          : sql`SELECT ${columns} FROM ${N} WHERE outer_task_id = ${value} ORDER BY first_received_at, id`
      ).pipe(
        Effect.mapError(toInboxError("query")),
        Effect.flatMap((rows) =>
          Effect.mapError(
            decodeRows(rows),
            (e) => new Inbox.InboxError({ reason: "storage", message: `inbox: unreadable row: ${e.message}` })
          )
        ),
        Effect.map((rows) => rows.map(toEntry))
      )

    return Inbox.Inbox.of({
      receive,
      get: (notifyId) =>
        Effect.map(select("notify_id", notifyId), (entries) => Option.fromNullable(entries[0])),
      byTask: (outerTaskId) => select("outer_task_id", outerTaskId)
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

const tablePrefixConfig = Config.string("WITKEY_INBOX_TABLE_PREFIX").pipe(
  Config.withDefault(Migrations.DEFAULT_TABLE_PREFIX)
)

/** `layer` from configuration: `WITKEY_INBOX_TABLE_PREFIX` (default `witkey_`). */
export const layerConfig = (
  config: Config.Config<Options> = Config.all({ tablePrefix: tablePrefixConfig })
): Layer.Layer<Inbox.Inbox, Inbox.InboxError | ConfigError, SqlClient.SqlClient> =>
  Layer.unwrapEffect(Effect.map(config, layer))

/**
 * The drivers are optional peer dependencies: each is loaded when its layer is built, so an application installs
 * only the one it uses (a PostgreSQL-only install never builds better-sqlite3).
 */
const loadDriver = <M>(pkg: string, load: () => Promise<M>): Effect.Effect<M, Inbox.InboxError> =>
  Effect.tryPromise({
    try: load,
    catch: (cause) =>
      new Inbox.InboxError({
        reason: "storage",
        message: `inbox open: cannot load ${pkg} (npm install ${pkg}): ${String(cause instanceof Error ? cause.message : cause).split("\n")[0]}`
      })
  })

/**
 * The embedded default: a SQLite file in WAL mode, with synchronous commits and a busy timeout. Provides the
 * `SqlClient` too, so the handler's writes join the inbox's transaction.
 */
export const layerSqlite = (
  options: SqliteOptions
): Layer.Layer<
  Inbox.Inbox | SqlClient.SqlClient | SqliteClient.SqliteClient,
  Inbox.InboxError | ConfigError
> => {
  const busyMillis = Math.max(0, Math.round(Duration.toMillis(options.busyTimeout ?? Duration.seconds(5))))
  const pragmas = Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // WAL is the SqliteClient's default; FULL makes every commit durable before `success` is answered.
    yield* sql.unsafe(`PRAGMA busy_timeout = ${busyMillis}`)
    yield* sql.unsafe("PRAGMA synchronous = FULL")
  }).pipe(Effect.mapError(toInboxError("open")))
  const driver = Layer.unwrapEffect(
    Effect.map(
      loadDriver("@effect/sql-sqlite-node", () => import("@effect/sql-sqlite-node/SqliteClient")),
      (Sqlite) => Sqlite.layer({ filename: options.filename })
    )
  )
  const client = Layer.effectDiscard(pragmas).pipe(Layer.provideMerge(driver))
  return layer(options).pipe(Layer.provideMerge(client))
}

/** `layerSqlite` from configuration: `WITKEY_INBOX_SQLITE_FILENAME`, `WITKEY_INBOX_TABLE_PREFIX`. */
export const layerSqliteConfig = (
  config: Config.Config<SqliteOptions> = Config.all({
    filename: Config.string("WITKEY_INBOX_SQLITE_FILENAME"),
    tablePrefix: tablePrefixConfig
  })
): Layer.Layer<
  Inbox.Inbox | SqlClient.SqlClient | SqliteClient.SqliteClient,
  Inbox.InboxError | ConfigError
> => Layer.unwrapEffect(Effect.map(config, layerSqlite))

/** PostgreSQL through a connection pool. Provides the `SqlClient` too, for the handler's writes. */
export const layerPg = (
  options: PgOptions
): Layer.Layer<Inbox.Inbox | SqlClient.SqlClient | PgClient.PgClient, Inbox.InboxError> => {
  const url = Redacted.isRedacted(options.url) ? options.url : Redacted.make(options.url)
  const client = Layer.unwrapEffect(
    Effect.map(
      loadDriver("@effect/sql-pg", () => import("@effect/sql-pg/PgClient")),
      (Pg) =>
        Pg.layer({
          url,
          ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
          applicationName: "@witkey/inbox-sql"
        }).pipe(Layer.mapError(toInboxError("connect")))
    )
  )
  return layer(options).pipe(Layer.provideMerge(client))
}

/** `layerPg` from configuration: `WITKEY_INBOX_PG_URL` (redacted), `WITKEY_INBOX_TABLE_PREFIX`. */
export const layerPgConfig = (
  config: Config.Config<PgOptions> = Config.all({
    url: Config.redacted("WITKEY_INBOX_PG_URL"),
    tablePrefix: tablePrefixConfig
  })
): Layer.Layer<Inbox.Inbox | SqlClient.SqlClient | PgClient.PgClient, Inbox.InboxError | ConfigError> =>
  Layer.unwrapEffect(Effect.map(config, layerPg))
