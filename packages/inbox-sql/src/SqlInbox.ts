/**
 * The durable notification `Inbox` of `@witkey/core` over any SQLite or PostgreSQL `SqlClient` of `@effect/sql`.
 * `SqliteInbox` (the embedded default, one file, no server) and `PgInbox` bring their driver; this module
 * loads neither.
 *
 * Exactly once, by construction: each delivery's work is one unit that commits or rolls back whole (two for a
 * first delivery that `notify_verify` confirmed). On SQLite, which has one writer per file, it is a savepoint
 * inside a transaction shared with the deliveries queued at the same time (group commit,
 * `internal/GroupCommit.ts`; the unit itself is `internal/unit.ts`, its statements `internal/statements.ts`):
 * one flushed commit for all of them, each answered only after it. A failing delivery rolls back to its
 * savepoint and leaves the others alone; a failed commit fails them all, and each records its delivery again on
 * its own. On PostgreSQL a delivery that finds the inbox's transactions busy shares the next one with the others
 * that wait, with the same rules, and the batch's bookkeeping runs as two multi-row statements
 * (`internal/pgBatch.ts`); a delivery that does not wait, a replay, or a batch of one is a transaction of its
 * own (`internal/pgTransaction.ts`).
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
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import type { ConfigError } from "effect/ConfigError"
import type * as Scope from "effect/Scope"
import type * as Charset from "@witkey/core/Charset"
import { Cause, Clock, Config, Context, Duration, Effect, Either, Layer, Option } from "effect"
import * as GroupCommit from "./internal/GroupCommit.js"
import * as Operations from "./internal/operations.js"
import * as PerTransaction from "./internal/perTransaction.js"
import * as PgBatch from "./internal/pgBatch.js"
import * as PgTransaction from "./internal/pgTransaction.js"
import { causeMessage, toInboxError } from "./internal/SqlErrors.js"
import * as Statements from "./internal/statements.js"
import * as Unit from "./internal/unit.js"
import * as Migrations from "./Migrations.js"

export interface Options extends Inbox.Policy {
  /** Prefix of the inbox's tables (letters, digits, underscores). Default `witkey_`. */
  readonly tablePrefix?: string | undefined
  /**
   * PostgreSQL: the inbox's own statements parsed once per connection under a name (prepared statements of
   * the extended protocol), then only bound and executed. Default true: parsing and planning its statements
   * on each use about doubled PostgreSQL's CPU time per delivery (BENCHMARKS.md, row 7b). Either way every
   * value is a bound parameter, never SQL text, and a transaction (of one delivery, or of a batch of them)
   * costs two round trips (`BEGIN` and `COMMIT` travel with the inbox's first and last statement). Set it to false behind a pooler that does not keep
   * prepared statements (PgBouncer in transaction mode before 1.21, or with `max_prepared_statements = 0`); if
   * PostgreSQL ever reports a statement gone, the inbox fails that delivery, logs a warning and goes on
   * without names.
   */
  readonly preparedStatements?: boolean | undefined
  /**
   * PostgreSQL: the deliveries that wait share a transaction (group commit), as many as the handlers' recent
   * wall time allows (`internal/pgBatch.ts`). Default true. False: one transaction per delivery whatever
   * happens, up to the pool's size side by side.
   */
  readonly groupCommit?: boolean | undefined
  /**
   * PostgreSQL: the size of the client's connection pool, when the client does not say it (`PgInbox` passes
   * its own on). How many single-delivery transactions run side by side when handlers are slow. Default: the
   * client's, else 10 (`@effect/sql-pg`'s default).
   */
  readonly maxConnections?: number | undefined
}

/** The inbox and its operations, over one store. */
export type SqlInbox = Inbox.Inbox & Inbox.Operations

/**
 * The inbox over the `SqlClient` in context. The tables must exist: `layer` runs `Migrations.run` first.
 * Fails for an invalid table prefix or a client that is neither SQLite nor PostgreSQL. On SQLite it runs a
 * fiber in the `Scope` that commits deliveries in groups (see the module's notes).
 */
export const make = (
  options: Options = {}
): Effect.Effect<SqlInbox, Inbox.InboxError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function* () {
    // Our own statements use our own column names, whatever name transforms the user's client has.
    const client = yield* SqlClient.SqlClient
    const sql = client.withoutTransforms()
    const prefix = options.tablePrefix ?? Migrations.DEFAULT_TABLE_PREFIX
    const dialect = yield* Migrations.check(sql, prefix, "SQL inbox").pipe(
      Effect.mapError((message) => new Inbox.InboxError({ reason: "storage", message }))
    )
    const statements = Statements.make(sql, Migrations.tables(prefix), dialect)
    // SQLite has one writer per file: deliveries share transactions and their flushed commits. PostgreSQL has
    // writers in parallel: a transaction per delivery, or per batch of the deliveries that wait (`batch`).
    const perTransaction = PerTransaction.make(sql)
    const naming: PgTransaction.Naming = { named: options.preparedStatements !== false }
    const grouped =
      dialect === "sqlite"
        ? GroupCommit.runner(yield* GroupCommit.make(sql))
        : PgTransaction.make(sql, naming)
    // PostgreSQL: the deliveries that wait share a transaction and multi-row statements (`pgBatch.ts`).
    const batch =
      dialect === "pg" && options.groupCommit !== false
        ? yield* PgBatch.make(sql, statements, naming, {
            poolSize: PgBatch.poolSizeOf(client, options.maxConnections)
          })
        : undefined
    // The SQLite client shares one connection and holds its lock only while handing it out, so a lone
    // statement can run inside another fiber's open transaction (and be rolled back with it, or read its
    // uncommitted rows). Its own transaction makes it wait for the connection like a transaction does.
    const alone = <A, E, R>(statement: Effect.Effect<A, E, R>) =>
      dialect === "sqlite" ? sql.withTransaction(statement) : statement
    const operations = Operations.make({ sql, statements, policy: options, alone })
    const handlerTimeout =
      options.handlerTimeout === undefined ? undefined : Duration.decode(options.handlerTimeout)
    const failingAfter = Math.max(1, options.onFailing?.after ?? 1)

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

    /** The handler's own failure in a unit's cause, if that is how it failed. */
    const handlerFailureOf = (cause: Cause.Cause<unknown>): Option.Option<unknown> =>
      Option.flatMap(Cause.failureOption(cause), (e) =>
        e instanceof Unit.HandlerFailure ? Option.some(e.error) : Option.none()
      )
    const isPermanentCause = (cause: Cause.Cause<unknown>) =>
      Option.exists(handlerFailureOf(cause), (e) => Inbox.isPermanent(options, e))

    /**
     * After a rolled-back or interrupted attempt: the delivery (which the rollback took with it, unless it was
     * recorded before) and, for a failure, its reason and the attempt's row, in a transaction of its own; a
     * permanent failure parks the entry. Best effort: if even this fails, a warning is logged and the answer
     * is `fail` either way (also for a permanent failure), and Alipay delivers again. Returns the entry's
     * failure count, if it recorded one.
     */
    const recordFailure = <E, R>(
      delivery: Unit.Delivery<E, R>,
      cause: Cause.Cause<unknown>,
      counted: boolean
    ): Effect.Effect<Option.Option<{ readonly failures: number; readonly parked: boolean }>> =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => {
          const interrupted = Cause.isInterruptedOnly(cause)
          const failure = interrupted ? undefined : Unit.describeCause(cause)
          const parked = isPermanentCause(cause)
          const record = Effect.zipLeft(
            statements.upsertDelivery(delivery.received, delivery.keys, now, {
              failure,
              counted,
              arrived: delivery.source === "alipay",
              parked
            }),
            statements.insertAttempt(
              Unit.attemptOf(
                delivery,
                interrupted ? "interrupted" : parked ? "failed_permanent" : "failed",
                failure,
                now
              )
            )
          )
          // It runs uninterruptibly, after the fact: on PostgreSQL it must not wait long behind another
          // delivery of the same notify_id that holds the row (SQLite waits at most its busy timeout).
          return (
            dialect === "pg"
              ? sql.withTransaction(Effect.zipRight(sql`SET LOCAL lock_timeout = '2s'`, record))
              : sql.withTransaction(record)
          ).pipe(
            Effect.map((rows) =>
              interrupted || rows[0] === undefined
                ? Option.none()
                : Option.some({ failures: Number(rows[0].failures), parked: rows[0].parked_at !== null })
            )
          )
        }),
        // A driver that throws (a closed database) is as much a failure to record as a SqlError.
        Effect.catchAllCause((cause) => {
          const failure = Cause.failureOption(cause)
          return Effect.as(
            Effect.logWarning("witkey inbox: could not record a failed delivery").pipe(
              Effect.annotateLogs({
                notify_id: delivery.received.notification.notifyId,
                detail: Option.isSome(failure)
                  ? causeMessage(failure.value)
                  : Cause.pretty(cause).split("\n")[0]!
              })
            ),
            Option.none()
          )
        })
      )

    // Inside a transaction of the caller's, the unit joins it; otherwise SQLite shares commits, and PostgreSQL
    // runs a transaction of its own with BEGIN and COMMIT sent beside the unit's statements (a delivery of
    // Alipay's goes through `batch`, which runs it so when it does not wait).
    const currentRunner = Effect.map(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
      Option.isSome(outer) ? perTransaction : grouped
    )

    /** One delivery or replay through its runner; `recorded`: a pre-record already counted the delivery. */
    const run = <E, R>(
      runner: Unit.Runner,
      delivery: Unit.Delivery<E, R>,
      restore: Restore,
      recorded: boolean
    ): Effect.Effect<
      Inbox.Outcome,
      E | Inbox.InboxError | Unit.HandlerFailure<E | Inbox.HandlerTimeout>,
      R
    > => {
      // Plain combinators, not a generator: this runs on every delivery. The last failure record that committed
      // (the group commit may record twice: in the turn, and again on its own if the batch's commit failed).
      let recordedFailure = Option.none<{ readonly failures: number; readonly parked: boolean }>()
      const counted = !recorded && delivery.source === "alipay"
      const batched = batch !== undefined && runner === grouped && delivery.source === "alipay"
      const onFailure = (cause: Cause.Cause<unknown>) =>
        Effect.map(recordFailure(delivery, cause, counted), (r) => void (recordedFailure = r))
      const single = (unit: Unit.Delivery<E, R>) =>
        runner.run((exec) => Unit.settle(statements, exec, unit, counted), restore, onFailure)
      const attempt = batched
        ? batch!.run({
            // The batch times the handlers it runs itself; a delivery that runs alone is timed here (`observed`),
            // so that the estimate that sizes the batches sees every handler.
            delivery,
            counted,
            restore,
            alone: Effect.suspend(() => single(batch!.observed(delivery))),
            failureOf: (cause) => {
              const interrupted = Cause.isInterruptedOnly(cause)
              return {
                interrupted,
                error: interrupted ? undefined : Unit.describeCause(cause),
                parked: !interrupted && isPermanentCause(cause)
              }
            },
            onFailure,
            onRecorded: (r) => void (recordedFailure = Option.some(r))
          })
        : single(delivery)
      return Effect.catchAllCause(attempt, (cause) =>
        Effect.gen(function* () {
          const handlerError = handlerFailureOf(cause)
          if (Option.isSome(recordedFailure) && Option.isSome(handlerError)) {
            const { failures, parked } = recordedFailure.value
            // Parked and committed: Alipay is answered success (retrying would fail the same way).
            if (parked && Inbox.isPermanent(options, handlerError.value))
              return { _tag: "Parked", error: Unit.describeCause(cause) } satisfies Inbox.Outcome
            const onFailing = options.onFailing
            if (onFailing !== undefined && failures === failingAfter) {
              const entry = yield* Effect.either(operations.get(delivery.received.notification.notifyId))
              if (Either.isRight(entry) && Option.isSome(entry.right))
                yield* Operations.runHook("onFailing", onFailing.run(entry.right.value))
            }
          }
          return yield* Effect.failCause(cause)
        })
      )
    }

    const receive: Inbox.Inbox["receive"] = <E, R>(
      received: Inbox.Received,
      handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
    ) =>
      // Uninterruptible around the unit, so that an interrupted one is still recorded (the unit itself stays
      // interruptible through `restore`).
      Effect.uninterruptibleMask((restore) =>
        // One step reads the Clock and whether the caller has a transaction open.
        Effect.withFiberRuntime<
          Inbox.Outcome,
          E | Inbox.InboxError | Unit.HandlerFailure<E | Inbox.HandlerTimeout>,
          R
        >((fiber) => {
          const delivery: Unit.Delivery<E, R> = {
            source: "alipay",
            received,
            keys: Statements.keysOf(received.notification),
            handler,
            handlerTimeout,
            started: Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
          }
          // Inside a transaction of the caller's, the unit joins it.
          const runner =
            Context.getOption(fiber.currentContext, SqlClient.TransactionConnection)._tag === "Some"
              ? perTransaction
              : grouped
          // The pre-record commits (with other records only, never with handlers' writes) before the
          // delivery's unit: durable before the handler.
          return received.gatewayConfirmed === true
            ? Effect.flatMap(runner.record(preRecord(received, delivery.keys), restore), (recorded) =>
                run(runner, delivery, restore, recorded)
              )
            : run(runner, delivery, restore, false)
        })
      ).pipe(
        Effect.mapError((e) => Unit.unwrapHandlerFailure(e) as Inbox.InboxError | Inbox.HandlerTimeout | E)
      )

    const replay: Inbox.Operations["replay"] = <E, R>(
      notifyId: string,
      handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>,
      replayOptions: { readonly charset?: Charset.Charset | undefined } = {}
    ) =>
      Effect.gen(function* () {
        const found = yield* operations.get(notifyId)
        if (Option.isNone(found)) return { _tag: "NotFound" } satisfies Inbox.ReplayOutcome
        const entry = found.value
        if (entry.state === "processed")
          return {
            _tag: "AlreadyProcessed",
            processedNotifyId: entry.duplicateOf ?? notifyId
          } satisfies Inbox.ReplayOutcome
        if (entry.bodyRemovedAt !== undefined) return { _tag: "BodyRemoved" } satisfies Inbox.ReplayOutcome
        const notification = yield* Inbox.decodeStored(entry, replayOptions.charset)
        const outcome = yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            const delivery: Unit.Delivery<E, R> = {
              source: "replay",
              received: { notification, body: entry.body, contentType: entry.contentType },
              keys: Statements.keysOf(notification),
              handler,
              handlerTimeout,
              started: yield* Clock.currentTimeMillis
            }
            return yield* run(yield* currentRunner, delivery, restore, false)
          })
        ).pipe(
          Effect.mapError((e) => Unit.unwrapHandlerFailure(e) as Inbox.InboxError | Inbox.HandlerTimeout | E)
        )
        // Another replay (or a delivery) got there first.
        return outcome._tag === "Duplicate" && outcome.by === "notify_id"
          ? ({
              _tag: "AlreadyProcessed",
              processedNotifyId: outcome.processedNotifyId
            } satisfies Inbox.ReplayOutcome)
          : outcome
      })

    return {
      receive,
      get: operations.get,
      byTask: (outerTaskId) => operations.select(statements.byTask(outerTaskId)),
      list: operations.list,
      attempts: operations.attempts,
      replay,
      resolve: operations.resolve,
      sweep: operations.sweep,
      prune: operations.prune,
      erase: operations.erase
    }
  })

type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/** The inbox over any SQLite or PostgreSQL `SqlClient`, migrating its tables first. */
export const layer = (
  options: Options = {}
): Layer.Layer<Inbox.Inbox | Inbox.Operations, Inbox.InboxError, SqlClient.SqlClient> =>
  Layer.scopedContext(
    Effect.zipRight(
      Migrations.run(options.tablePrefix ?? Migrations.DEFAULT_TABLE_PREFIX),
      make(options)
    ).pipe(Effect.map((inbox) => Context.make(Inbox.Inbox, inbox).pipe(Context.add(Inbox.Operations, inbox))))
  )

/** `WITKEY_INBOX_TABLE_PREFIX` (default `witkey_`): shared by the drivers' `layerConfig`. */
export const tablePrefixConfig: Config.Config<string> = Config.string("WITKEY_INBOX_TABLE_PREFIX").pipe(
  Config.withDefault(Migrations.DEFAULT_TABLE_PREFIX)
)

/** `layer` from configuration: `WITKEY_INBOX_TABLE_PREFIX` (default `witkey_`). */
export const layerConfig = (
  config: Config.Config<Options> = Config.all({ tablePrefix: tablePrefixConfig })
): Layer.Layer<Inbox.Inbox | Inbox.Operations, Inbox.InboxError | ConfigError, SqlClient.SqlClient> =>
  Layer.unwrapEffect(Effect.map(config, layer))
