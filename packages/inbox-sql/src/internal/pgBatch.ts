/**
 * Group commit for PostgreSQL: the deliveries that wait while the inbox's transactions are busy share the next
 * one, and its bookkeeping runs as multi-row statements, so that N waiting deliveries cost two round trips and
 * two statements in all instead of 2N (`statements.ts`, `batch`): PostgreSQL's CPU per delivery was five times
 * a bare INSERT's, most of it per statement and per transaction, and on a small machine it is taken from the
 * endpoint.
 *
 * How: a dispatcher hands the queued deliveries to at most `MAX_BATCHES` batches at a time (not one per
 * connection: batches only form when deliveries wait). A batch of one runs the single-delivery transaction
 * (`pgTransaction.ts`), exactly as without batches.
 *
 * The size, from what handlers cost: a batch runs its handlers one after another and each holds its row locks
 * until the batch commits, so batching only pays while a handler costs less than the statements and round trips
 * it saves (a few hundred µs of PostgreSQL CPU per delivery). The inbox keeps an estimate of the handlers' wall
 * time (Clock millis, an EWMA with weight 0.2, of every handler run through it, batched or alone): at most
 * `FAST_MILLIS` (1 ms: the bench's no-op handler, an INSERT), batches of up to `MAX_BATCH`; slower,
 * `BUDGET_MILLIS / estimate` deliveries (16 ms of expected handler time per batch, so that a delivery waits
 * at most about that long behind the others of its batch); from 16 ms on, one. Deliveries alone run side by
 * side up to the pool's size (`poolSizeOf`: the client's `maxConnections`, else the inbox's option, else
 * node-postgres's 10), as many as without batches; batches of several at most `MAX_BATCHES` (one semaphore of
 * `pool × MAX_BATCHES` permits: a batch takes `pool`, a delivery alone `MAX_BATCHES`). A handler of 50-200 ms
 * (an I/O call, a lock wait) thus gets the concurrency it had before group commit after its first few runs.
 * The estimate starts at 0 (batching): the first batch of slow handlers is slow once.
 *
 * While handlers are fast, batches also take the fast lane (`FAST_BATCHES`, one): one batch at a time, so that
 * the deliveries that arrive meanwhile make one larger batch, not several small ones (each costs its two
 * statements, a commit and a connection). A batch gives the lane back when it ends, or once it has run
 * `LANE_MILLIS` (16 ms; a fast batch takes a few ms): a handler that hangs (`handlerTimeout` is off by default,
 * and the estimate only learns when a handler ends) then holds its batch and its permits, not the inbox. The
 * next batch runs beside it; it takes `MAX_BATCHES` such handlers in as many batches to stop the inbox (with two
 * fast batches sharing the permits, as before the lane, two did).
 *
 * A batch runs its handlers in a canonical order, by outerTaskId then notify_id, so that handlers writing rows
 * keyed by task (ASSIGN and PLATFORM_PROFIT of one task) lock them in one order across batches. Handlers that
 * lock rows in another order can still deadlock across batches: PostgreSQL then aborts one handler's statement
 * (40P01), that handler fails inside its savepoint (recorded failed, Alipay retries it), and both batches go on;
 * a deadlock on the inbox's own statements (sorted, so not expected) fails its whole batch as below.
 *
 * A batch of several deliveries reserves a connection and
 *
 * 1. sends `BEGIN` + one statement that records every delivery and claims its event (rows in notify_id order,
 *    events in event_key order, so that batches lock in one order; a notify_id or event_key already in the batch
 *    waits for the next one, since ON CONFLICT DO UPDATE cannot touch a row twice in one statement);
 * 2. hands the connection to each delivery whose handler runs, in turn, in the caller's own fiber (its context,
 *    its interruption, its time limit), as `SqlClient.TransactionConnection`. A `SAVEPOINT` is sent before the
 *    handler's first statement only (a handler that sends no SQL costs nothing), released after it, and rolled
 *    back to when the handler fails or is interrupted: its writes go, the batch goes on;
 * 3. sends one statement that marks the processed deliveries (only where the claim still stands, else the whole
 *    batch fails, as the single statement does), the business-key duplicates, and the failed deliveries (state,
 *    reason, count, parking; their claims released, so that a later delivery or a re-issue processes the event),
 *    and writes every attempt row, + `COMMIT`, in one round trip. Every caller is answered after the COMMIT.
 *
 * The semantics of SQLite's group commit (`GroupCommit.ts`): `success` only after the commit; a failed item
 * leaves the others alone; a failed batch (its statements, a savepoint that cannot be released or rolled back,
 * the commit, a lost connection, a deadlock) fails every delivery in it, and each records its delivery again on
 * its own (`onFailure`); handlers see the uncommitted writes of the handlers before them in the batch, and hold
 * their row locks until the batch commits. A batch has no time bound beyond the handler's own limit
 * (`handlerTimeout`): its rows are recorded and claimed before the first handler runs, so a delivery cannot be
 * moved to the next batch without undoing its record.
 *
 * Replays, deliveries inside a transaction of the caller's, and the pre-record of a delivery `notify_verify`
 * confirmed keep their own transactions (`SqlInbox.ts`).
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Inbox from "@witkey/core/Inbox"
import type { Scope } from "effect"
import { Cause, Clock, Context, Effect, Either, Exit, Fiber, FiberRef, Option, Queue, Stream } from "effect"
import * as PgTransaction from "./pgTransaction.js"
import { Signal } from "./signal.js"
import { toInboxError } from "./SqlErrors.js"
import type { AttemptValues, Statements } from "./statements.js"
import * as Unit from "./unit.js"

/** At most this many deliveries per batch (each handler that writes opens a subtransaction). */
export const MAX_BATCH = 32
/**
 * At most this many batches of several deliveries at a time, each on a connection of its own (with a pool
 * smaller than this, the extra batches wait for a connection while holding their permits: slower, never stuck).
 */
export const MAX_BATCHES = 4
/**
 * At most this many batches younger than `LANE_MILLIS` at a time while handlers are fast (`FAST_MILLIS`): fewer,
 * larger batches cost PostgreSQL less CPU per delivery (each batch reserves a connection and runs two statements
 * and a commit). Measured at 16 in flight over HTTP (BENCHMARKS.md, row 7b, issue 17's tenth pass): PostgreSQL's
 * CPU per delivery 147-198 µs in five runs of six (259 in the sixth) against 202-256 µs with two batches sharing
 * the permits, the throughput within the runs' spread (two at a time had been about 70 µs of the endpoint's CPU
 * per delivery cheaper than four). The lane is kept for the hung handler above as much as for that. Slower
 * handlers keep `MAX_BATCHES`: their batches run handlers one after another, and more batches run more handlers
 * side by side.
 */
export const FAST_BATCHES = 1
/**
 * A fast batch that has run this long (ms, Clock, from when it was started, its wait for a connection included)
 * gives its lane to the next one: it is waiting on a slow handler or a slow database, and the deliveries behind
 * it should not. In the bench's rows 7/7b, 1 to 10 % of the batches got there (by endpoint process).
 */
export const LANE_MILLIS = 16
/** Handlers that take at most this long on average (ms) batch in full: they cost less than what a batch saves. */
export const FAST_MILLIS = 1
/** A batch's expected handler time (ms) stays under this: slower handlers make smaller batches. */
export const BUDGET_MILLIS = 16
/** The weight of the latest handler's wall time in the estimate (an exponentially weighted moving average). */
const ALPHA = 0.2
/** `@effect/sql-pg`'s pool size when it is not given (node-postgres's default). */
export const DEFAULT_POOL_SIZE = 10

/** The pool's size: the client's own (`PgClient.config`), else `maxConnections`, else the driver's default. */
export const poolSizeOf = (client: unknown, maxConnections: number | undefined): number => {
  const config = (client as { readonly config?: { readonly maxConnections?: unknown } }).config
  const size =
    typeof config?.maxConnections === "number" ? config.maxConnections : (maxConnections ?? DEFAULT_POOL_SIZE)
  return Math.max(1, Math.floor(size))
}

/**
 * How many deliveries the next batch may take, given the handlers' estimated wall time (ms): all of them while
 * handlers are fast, fewer as they slow down, one from `BUDGET_MILLIS` on.
 */
export const batchLimit = (estimate: number): number =>
  estimate <= FAST_MILLIS ? MAX_BATCH : Math.max(1, Math.min(MAX_BATCH, Math.floor(BUDGET_MILLIS / estimate)))

/** What a failed delivery's record says: its reason, whether it parks the entry, or an interruption. */
export interface FailureRecord {
  readonly error: string | undefined
  readonly parked: boolean
  readonly interrupted: boolean
}

/** What the committed batch recorded for a failed delivery. */
export interface Recorded {
  readonly failures: number
  readonly parked: boolean
}

type Turn =
  /** Run the single-delivery transaction (a batch of one), then say so on `finished`. */
  | { readonly _tag: "Alone" }
  /** Run the handler on this connection, then report on `finished`. */
  | { readonly _tag: "Handler"; readonly connection: SqlConnection.Connection }
  /** Nothing to run: wait for the commit. */
  | { readonly _tag: "Settled" }

interface Report {
  readonly exit: Exit.Exit<void, unknown>
  /** Whether the handler's savepoint was opened (it sent SQL). */
  readonly opened: boolean
  /** When the handler ended (Clock millis). */
  readonly done: number
}

type Committed =
  | { readonly _tag: "Outcome"; readonly outcome: Inbox.Outcome }
  | {
      readonly _tag: "Failed"
      readonly cause: Cause.Cause<unknown>
      readonly recorded: Option.Option<Recorded>
    }

interface Slot {
  readonly delivery: Unit.Delivery<unknown, unknown>
  readonly counted: boolean
  readonly failureOf: (cause: Cause.Cause<unknown>) => FailureRecord
  readonly turn: Signal<Turn, Inbox.InboxError>
  readonly finished: Signal<Report>
  readonly committed: Signal<Committed, Inbox.InboxError>
}

/** What `run` takes: see `PgBatch.run`. */
export interface RunOptions<E, R> {
  readonly delivery: Unit.Delivery<E, R>
  readonly counted: boolean
  readonly restore: <X, E2, R2>(effect: Effect.Effect<X, E2, R2>) => Effect.Effect<X, E2, R2>
  readonly alone: Effect.Effect<
    Inbox.Outcome,
    E | Inbox.InboxError | Unit.HandlerFailure<E | Inbox.HandlerTimeout>,
    R
  >
  readonly failureOf: (cause: Cause.Cause<unknown>) => FailureRecord
  readonly onFailure: (cause: Cause.Cause<unknown>) => Effect.Effect<void>
  readonly onRecorded: (recorded: Recorded) => void
}

export interface PgBatch {
  /** `delivery` with its handler's wall time (Clock) fed to the estimate that sizes the batches. */
  readonly observed: <E, R>(delivery: Unit.Delivery<E, R>) => Unit.Delivery<E, R>
  /**
   * One delivery (source `alipay`) in the next batch. `alone`: the single-delivery transaction, for a batch of
   * one. `onFailure`: the delivery's own failure record, after a batch that did not commit. `onRecorded`: the
   * counts of a failure the batch recorded. Waits uninterruptibly but for the handler (`restore`).
   */
  readonly run: <E, R>(
    options: RunOptions<E, R>
  ) => Effect.Effect<Inbox.Outcome, E | Inbox.InboxError | Unit.HandlerFailure<E | Inbox.HandlerTimeout>, R>
}

/** Offered by closing to wake the dispatcher where it waits for a delivery; never a delivery. */
const STOP = { _tag: "Stop" } as const
const isStop = (item: Slot | typeof STOP): item is typeof STOP => item === STOP

const closedError = () => new Inbox.InboxError({ reason: "closed", message: "inbox: closed" })

const lostBatch = (detail: string) =>
  new Inbox.InboxError({
    reason: "lost",
    message: `inbox: ${detail}; every delivery of its batch is answered fail`
  })

/**
 * Lets the I/O callbacks of the current event-loop turn enqueue their deliveries before a batch starts. No
 * canceler: the dispatcher is never interrupted (Effect wraps an `async` with one in about ten steps).
 */
const nextTurn = Effect.async<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})

const SAVEPOINT: PgTransaction.Step = { text: "SAVEPOINT witkey_delivery", values: [], prepared: false }
const RELEASE: PgTransaction.Step = { text: "RELEASE SAVEPOINT witkey_delivery", values: [], prepared: false }
const ROLLBACK_TO: PgTransaction.Step = {
  text: "ROLLBACK TO SAVEPOINT witkey_delivery",
  values: [],
  prepared: false
}

/**
 * The batch's connection as the handler sees it: the savepoint is opened before its first statement, so a
 * handler that sends no SQL costs no round trip.
 */
export const lazySavepoint = (
  connection: SqlConnection.Connection,
  open: Effect.Effect<void, SqlError>
): { readonly connection: SqlConnection.Connection; readonly opened: () => boolean } => {
  let opened = false
  // One SAVEPOINT, awaited by every statement: a handler's concurrent first statements (`Effect.all` with
  // concurrency) all wait for it, so none can be queued ahead of it and survive the handler's rollback. Set
  // before it is sent: a savepoint that may exist is rolled back to (if it does not, the batch fails, safely).
  // Made at the first statement: most handlers of a fast batch send none, and `Effect.cached` costs a run.
  let once: Effect.Effect<void, SqlError> | undefined = undefined
  const first = Effect.suspend(() => {
    opened = true
    once ??= Effect.runSync(Effect.cached(open))
    return once
  })
  /** The statement, after the savepoint; a transaction command fails instead (`endsTransaction`). */
  const guarded = <A>(text: string, run: () => Effect.Effect<A, SqlError>): Effect.Effect<A, SqlError> =>
    endsTransaction.test(text)
      ? Effect.fail(
          new SqlError({
            cause: text,
            message: `inbox: a handler may not end or begin the inbox's transaction (${text.trim().split(/\s+/)[0]}): the handlers of one batch share it`
          })
        )
      : Effect.zipRight(first, Effect.suspend(run))
  return {
    connection: {
      execute: (text, params, transform) => guarded(text, () => connection.execute(text, params, transform)),
      executeRaw: (text, params) => guarded(text, () => connection.executeRaw(text, params)),
      executeValues: (text, params) => guarded(text, () => connection.executeValues(text, params)),
      executeUnprepared: (text, params, transform) =>
        guarded(text, () => connection.executeUnprepared(text, params, transform)),
      executeStream: (text, params, transform) =>
        Stream.unwrap(guarded(text, () => Effect.succeed(connection.executeStream(text, params, transform))))
    },
    opened: () => opened
  }
}

/**
 * A statement that ends or begins a transaction. A handler that committed the batch's transaction would commit
 * the records and claims of every delivery in it, and the writes of the handlers before it, before they are
 * marked processed: a failed batch would then leave claims that let those handlers run again. (A nested
 * `withTransaction` uses SAVEPOINT / RELEASE / ROLLBACK TO, which pass.) Checked at the start of the text;
 * several statements in one unprepared text are the handler's own responsibility.
 */
const endsTransaction =
  /^\s*(?:COMMIT|END|ABORT|BEGIN|START\s+TRANSACTION|PREPARE\s+TRANSACTION|ROLLBACK(?!\s+(?:WORK\s+|TRANSACTION\s+)?TO\b))\b/i

const byTask = (a: Slot, b: Slot): number => {
  const x = a.delivery.received.notification
  const y = b.delivery.received.notification
  const tx = x.payload.outerTaskId ?? ""
  const ty = y.payload.outerTaskId ?? ""
  if (tx !== ty) return tx < ty ? -1 : 1
  return x.notifyId < y.notifyId ? -1 : x.notifyId > y.notifyId ? 1 : 0
}

/** What a batch's last statement settles, by delivery (`statements.ts`, `batchTexts`, `settle`). */
export interface Settlement {
  readonly done: number
  readonly processed: ReadonlyArray<Unit.Delivery<unknown, unknown>>
  /** Business-key duplicates, with the notify_id that processed their event. */
  readonly duplicates: ReadonlyArray<readonly [Unit.Delivery<unknown, unknown>, string]>
  /** The failed deliveries that count (not interrupted), with their record. */
  readonly counted: ReadonlyArray<readonly [Unit.Delivery<unknown, unknown>, FailureRecord]>
  /** Every failed delivery, interrupted too: its claim is released. */
  readonly released: ReadonlyArray<Unit.Delivery<unknown, unknown>>
  readonly attempts: ReadonlyArray<AttemptValues>
}

/**
 * The batch's last statement with its parameters. Named (its generic plan, kept per connection) only when its
 * parts that select by `= ANY` are empty, so skipped; otherwise planned when it runs, on the tables as they are,
 * whatever plan a connection kept from when they were small (`statements.ts`, `batchTexts`). Failures and
 * duplicates are rare; each such batch costs PostgreSQL one parse and plan.
 */
export const settleStep = (text: string, s: Settlement): PgTransaction.Step => {
  const notifyId = (d: Unit.Delivery<unknown, unknown>) => d.received.notification.notifyId
  return {
    text,
    values: [
      s.done,
      s.processed.map(notifyId),
      s.processed.map((d) => d.keys.eventKey),
      s.duplicates.map(([d]) => notifyId(d)),
      s.duplicates.map(([, by]) => by),
      s.counted.map(([d]) => notifyId(d)),
      s.counted.map(([, r]) => r.error ?? null),
      s.counted.map(([, r]) => r.parked),
      s.released.map((d) => d.keys.eventKey),
      s.released.map(notifyId),
      s.attempts.map((a) => a.notifyId),
      s.attempts.map((a) => a.at),
      s.attempts.map((a) => a.source),
      s.attempts.map((a) => (a.source === "alipay" ? "signature" : "stored")),
      s.attempts.map((a) => a.verifiedBy ?? null),
      s.attempts.map((a) => a.notifyVerify ?? null),
      s.attempts.map((a) => a.outcome),
      s.attempts.map((a) => a.error ?? null),
      s.attempts.map((a) => a.durationMillis),
      s.processed.length
    ],
    prepared: s.duplicates.length === 0 && s.counted.length === 0 && s.released.length === 0
  }
}

export const make = (
  sql: SqlClient.SqlClient,
  statements: Statements,
  naming: PgTransaction.Naming,
  tuning: { readonly poolSize: number }
): Effect.Effect<PgBatch, never, Scope.Scope> =>
  Effect.gen(function* () {
    const texts = statements.batch!
    const queue = yield* Queue.unbounded<Slot | typeof STOP>()
    const poolSize = Math.max(1, tuning.poolSize)
    // A batch of several takes `poolSize` permits (at most MAX_BATCHES of them); a delivery alone takes
    // MAX_BATCHES (at most `poolSize` side by side, as without batches). Closing takes all `total` back.
    const total = poolSize * MAX_BATCHES
    const permits = yield* Effect.makeSemaphore(total)
    // Taken before the permits by a batch weighed while handlers are fast (`inLane`).
    const lane = yield* Effect.makeSemaphore(FAST_BATCHES)
    /** The handlers' recent wall time (ms, EWMA); 0 until one has run. */
    let estimate = 0
    const observe = (millis: number) => {
      estimate += ALPHA * (Math.max(0, millis) - estimate)
    }
    const observed: PgBatch["observed"] = (delivery) => ({
      ...delivery,
      handler: (notification) =>
        Effect.flatMap(Clock.currentTimeMillis, (start) =>
          Effect.ensuring(
            delivery.handler(notification),
            Effect.flatMap(Clock.currentTimeMillis, (end) => Effect.sync(() => observe(end - start)))
          )
        )
    })
    /** Offered and not yet taken into a batch: what closing must answer. */
    const pending = new Set<Slot>()
    let closed = false
    /** Taken but left for the next batch (a notify_id or event_key already in this one). */
    let carried: Array<Slot> = []
    const reserve = Effect.mapError(sql.reserve, toInboxError("begin"))

    /** A round trip on the batch's connection: the steps' results, or the inbox's error. */
    const roundTrip = (send: PgTransaction.Send, steps: ReadonlyArray<PgTransaction.Step>, what: string) =>
      send(steps, what, (results) => Effect.succeed(results))

    const runBatch = (batch: ReadonlyArray<Slot>): Effect.Effect<void> =>
      Effect.gen(function* () {
        if (batch.length === 1) {
          batch[0]!.turn.succeed({ _tag: "Alone" })
          yield* batch[0]!.finished.await
          return
        }
        // Every slot not yet answered gets `error` (before its turn, or at the commit).
        const failAll = (error: Inbox.InboxError) => {
          for (const slot of batch) {
            slot.turn.fail(error)
            slot.committed.fail(error)
          }
        }
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const connection = yield* reserve
              const send = PgTransaction.sender(connection, naming)
              let open = false
              const body = Effect.gen(function* () {
                const now = yield* Clock.currentTimeMillis
                const ds = batch.map((slot) => slot.delivery)
                open = true
                const recorded = yield* roundTrip(
                  send,
                  [
                    PgTransaction.BEGIN,
                    {
                      text: texts.recordAndClaim,
                      values: [
                        ds.map((d) => d.received.notification.notifyId),
                        ds.map((d) => d.keys.eventKey),
                        ds.map((d) => d.keys.businessKey ?? null),
                        ds.map((d) => d.received.notification.payload.subType),
                        ds.map((d) => d.received.notification.payload.outerTaskId ?? null),
                        ds.map((d) => {
                          const p = d.received.notification.payload
                          return p._tag === "Assign" ? p.outerTransferNo : null
                        }),
                        ds.map((d) => d.received.body),
                        ds.map((d) => d.received.contentType ?? null),
                        batch.map((slot) => (slot.counted ? 1 : 0)),
                        now
                      ],
                      prepared: true
                    }
                  ],
                  "record deliveries"
                )
                const rows = new Map<string, Record<string, string | null>>()
                for (const row of recorded[1]!.rows) rows.set(row["notify_id"]!, row)
                // The batch's lists for its last statement.
                const processed: Array<Slot> = []
                const duplicates: Array<readonly [Slot, string]> = []
                const failed: Array<readonly [Slot, FailureRecord]> = []
                const attempts: Array<AttemptValues> = []
                const outcomes = new Map<Slot, Committed>()
                const handlers: Array<Slot> = []
                for (const slot of batch) {
                  const d = slot.delivery
                  const notifyId = d.received.notification.notifyId
                  const row = rows.get(notifyId)
                  if (
                    row === undefined ||
                    (row["state"] !== "processed" && row["parked_at"] === null && row["claimed_by"] === null)
                  )
                    return yield* new Inbox.InboxError({
                      reason: "storage",
                      message: `inbox: the rows of notify_id ${notifyId} vanished inside the transaction`
                    })
                  const settled = Unit.settledByRow("alipay", notifyId, {
                    state: row["state"]!,
                    duplicate_of: row["duplicate_of"] ?? null,
                    parked_at: row["parked_at"] ?? null,
                    last_error: row["last_error"] ?? null
                  })
                  if (settled !== undefined) {
                    attempts.push(Unit.attemptOf(d, settled.attempt, settled.error, now))
                    outcomes.set(slot, { _tag: "Outcome", outcome: settled.outcome })
                  } else if (row["claimed_by"] !== notifyId) {
                    const by = row["claimed_by"]!
                    duplicates.push([slot, by])
                    attempts.push(Unit.attemptOf(d, "duplicate", undefined, now))
                    outcomes.set(slot, {
                      _tag: "Outcome",
                      outcome: { _tag: "Duplicate", by: "business_key", processedNotifyId: by }
                    })
                  } else handlers.push(slot)
                }
                for (const slot of batch) if (outcomes.has(slot)) slot.turn.succeed({ _tag: "Settled" })
                // Canonical order (task, then notify_id): handlers that write rows keyed by task, as
                // ASSIGN and PLATFORM_PROFIT of one task do, lock them in one order across batches.
                handlers.sort(byTask)
                for (const slot of handlers) {
                  slot.turn.succeed({ _tag: "Handler", connection })
                  const report = yield* slot.finished.await
                  let handlerExit = report.exit
                  if (report.opened) {
                    // Released after a success, so that a handler that swallowed a failed statement (the
                    // savepoint aborted) fails alone; rolled back to after a failure. If neither works, the
                    // transaction is not the one that began: the batch fails.
                    const released = Exit.isSuccess(handlerExit)
                      ? yield* Effect.either(roundTrip(send, [RELEASE], "release savepoint"))
                      : Either.left(undefined)
                    if (Either.isLeft(released)) {
                      const rolledBack = yield* Effect.either(
                        roundTrip(send, [ROLLBACK_TO, RELEASE], "roll back savepoint")
                      )
                      // The handlers not yet run are answered with the rest, after the rollback.
                      if (Either.isLeft(rolledBack))
                        return yield* lostBatch(
                          "a handler's savepoint could not be released or rolled back (the transaction it began in is gone)"
                        )
                      if (Exit.isSuccess(handlerExit))
                        handlerExit = Exit.fail(
                          new Inbox.InboxError({
                            reason: "lost",
                            message: `inbox: a statement of the handler failed inside its savepoint (${released.left!.message}); its writes are rolled back, answered fail`
                          })
                        )
                    }
                  }
                  const d = slot.delivery
                  if (Exit.isSuccess(handlerExit)) {
                    processed.push(slot)
                    attempts.push(Unit.attemptOf(d, "processed", undefined, report.done))
                    outcomes.set(slot, { _tag: "Outcome", outcome: { _tag: "Processed" } })
                  } else {
                    const record = slot.failureOf(handlerExit.cause)
                    failed.push([slot, record])
                    attempts.push(
                      Unit.attemptOf(
                        d,
                        record.interrupted ? "interrupted" : record.parked ? "failed_permanent" : "failed",
                        record.error,
                        report.done
                      )
                    )
                    outcomes.set(slot, { _tag: "Failed", cause: handlerExit.cause, recorded: Option.none() })
                  }
                }
                const done = yield* Clock.currentTimeMillis
                const counted = failed.filter(([, r]) => !r.interrupted)
                const released = failed.map(([slot]) => slot.delivery)
                const settled = yield* roundTrip(
                  send,
                  [
                    settleStep(texts.settle, {
                      done,
                      processed: processed.map((s) => s.delivery),
                      duplicates: duplicates.map(([s, by]) => [s.delivery, by] as const),
                      counted: counted.map(([s, r]) => [s.delivery, r] as const),
                      released,
                      attempts
                    }),
                    PgTransaction.COMMIT
                  ],
                  "mark processed and commit"
                )
                open = false
                yield* PgTransaction.committed(settled)
                const counts = new Map<string, Recorded>()
                for (const row of settled[0]!.rows)
                  if (row["notify_id"] !== null)
                    counts.set(row["notify_id"]!, {
                      failures: Number(row["failures"]),
                      parked:
                        (row["parked"] as unknown) === true ||
                        row["parked"] === "t" ||
                        row["parked"] === "true"
                    })
                for (const slot of batch) {
                  const outcome = outcomes.get(slot)!
                  const recorded = Option.fromNullable(
                    counts.get(slot.delivery.received.notification.notifyId)
                  )
                  slot.committed.succeed(outcome._tag === "Failed" ? { ...outcome, recorded } : outcome)
                }
              })
              const result = yield* Effect.exit(body)
              if (Exit.isFailure(result) && open)
                yield* Effect.catchAll(roundTrip(send, [PgTransaction.ROLLBACK], "rollback"), () =>
                  PgTransaction.discard(connection)
                )
              return yield* result
            })
          )
        )
        if (Exit.isFailure(exit)) {
          const failure = Cause.failureOption(exit.cause)
          failAll(
            Option.isSome(failure)
              ? failure.value
              : new Inbox.InboxError({
                  reason: "storage",
                  message: `inbox transaction: ${Cause.pretty(exit.cause).split("\n")[0]}`
                })
          )
        }
      }).pipe(Effect.uninterruptible)

    /**
     * `batch` holding a place in the fast lane (taken): given back when it ends, or after `LANE_MILLIS` by a
     * watch fiber, whichever comes first, once.
     */
    const inLane = (batch: Effect.Effect<void>): Effect.Effect<void> =>
      Effect.suspend(() => {
        let held = true
        const give = Effect.suspend(() => {
          if (!held) return Effect.void
          held = false
          return lane.release(1)
        })
        // Forked from the batch's fiber (uninterruptible, like the dispatcher's loop that forked it), the watch is
        // uninterruptible but for its sleep: `give` runs whole, and `Fiber.interrupt` ends it at once.
        const watch = Effect.zipRight(Effect.interruptible(Effect.sleep(LANE_MILLIS)), give)
        return Effect.flatMap(Effect.forkDaemon(watch), (fiber) =>
          Effect.ensuring(batch, Effect.zipRight(Fiber.interrupt(fiber), give))
        )
      })

    /** Takes the batch after `first` (permits held, and the lane if `fast`) and starts it. */
    const start = (first: Slot, limit: number, weight: number, fast: boolean): Effect.Effect<unknown> =>
      Effect.flatMap(taken(first, limit), (slots): Effect.Effect<unknown> => {
        // One row per notify_id and per event_key in a statement; the rest wait for the next batch.
        const ids = new Set<string>()
        const events = new Set<string>()
        const batch: Array<Slot> = []
        for (const slot of slots) {
          const id = slot.delivery.received.notification.notifyId
          const event = slot.delivery.keys.eventKey
          if (ids.has(id) || events.has(event)) carried.push(slot)
          else {
            ids.add(id)
            events.add(event)
            batch.push(slot)
            pending.delete(slot)
          }
        }
        batch.sort((a, b) =>
          a.delivery.received.notification.notifyId < b.delivery.received.notification.notifyId ? -1 : 1
        )
        return Effect.forkDaemon(
          Effect.ensuring(fast ? inLane(runBatch(batch)) : runBatch(batch), permits.release(weight))
        )
      })
    /** `first` and up to `limit - 1` more: those carried over first, then the queue's. */
    const taken = (first: Slot, limit: number): Effect.Effect<ReadonlyArray<Slot>> => {
      const slots: Array<Slot> = [first]
      while (slots.length < limit && carried.length > 0) slots.push(carried.shift()!)
      if (slots.length >= limit) return Effect.succeed(slots)
      return Effect.map(Queue.takeUpTo(queue, limit - slots.length), (more) => {
        // `STOP` is there when closing began while this batch waited for the event loop's turn: dropped (the
        // dispatcher sees `closed` at its next turn).
        for (const slot of more) if (!isStop(slot)) slots.push(slot)
        return slots
      })
    }

    // A loop of plain combinators (no generator, and none of `Effect.forever`'s yield per turn: every turn
    // waits for a delivery or for permits anyway). Never interrupted: closing sets `closed` and wakes it with
    // `STOP`, and it ends at its next turn. An interruption would have to land between a semaphore's count and
    // its answer to be safe, and one landing there (after an operation budget's yield) would keep the permits
    // taken and closing waiting for them for ever.
    const turn: Effect.Effect<boolean> = Effect.suspend(() =>
      closed
        ? Effect.succeed(false)
        : Effect.flatMap(
            carried.length > 0 ? Effect.succeed(carried.shift()!) : Queue.take(queue),
            (first) => {
              // A slot left waiting here stays `pending`, and closing answers it.
              if (isStop(first) || closed) return Effect.succeed(false)
              // Weighed from the estimate when a delivery is there to run, and sized again once the permits are
              // there: handlers that turned slow while this waited (the batches before it measured them) make a
              // smaller batch, not one of `MAX_BATCH` run one after another. Never a larger one: the weight
              // stays what was taken, and a batch of several on a lone delivery's weight would let more than
              // `MAX_BATCHES` batches run at once.
              const weighed = batchLimit(estimate)
              const weight = weighed === 1 ? MAX_BATCHES : poolSize
              // One order, lane then permits, taken by this loop only; batches only give back.
              const fast = estimate <= FAST_MILLIS
              const acquire = fast
                ? Effect.zipRight(lane.take(1), permits.take(weight))
                : permits.take(weight)
              return Effect.flatMap(acquire, () => {
                if (closed)
                  return Effect.as(
                    fast
                      ? Effect.zipRight(permits.release(weight), lane.release(1))
                      : permits.release(weight),
                    false
                  )
                const limit = Math.min(weighed, batchLimit(estimate))
                // A delivery alone does not wait for others to join it.
                return Effect.as(
                  limit > 1 && carried.length === 0
                    ? Effect.zipRight(
                        nextTurn,
                        Effect.suspend(() => start(first, limit, weight, fast))
                      )
                    : start(first, limit, weight, fast),
                  true
                )
              })
            }
          )
    )
    const loop: Effect.Effect<void> = Effect.flatMap(turn, (more) => (more ? loop : Effect.void))

    const fiber = yield* Effect.forkDaemon(Effect.uninterruptible(loop))
    // Closing: nothing more is queued, the dispatcher ends (once the running batches give back the permits it
    // may be waiting for), the running batches finish, and whatever still waits is answered `closed`.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        closed = true
        queue.unsafeOffer(STOP)
        yield* Fiber.await(fiber)
        yield* permits.take(total)
        for (const slot of pending) slot.turn.fail(closedError())
        pending.clear()
        for (const slot of carried) slot.turn.fail(closedError())
        carried = []
      })
    )

    // The caller's side in plain combinators, few steps: with the batch's, it ran about 150 fiber steps per
    // delivery, most of the inbox's CPU on PostgreSQL (BENCHMARKS.md, row 7b).
    const run: PgBatch["run"] = <E, R>(options: RunOptions<E, R>) =>
      Effect.uninterruptible(
        Effect.suspend(() => {
          if (closed) return Effect.fail(closedError())
          const slot: Slot = {
            delivery: options.delivery as Unit.Delivery<unknown, unknown>,
            counted: options.counted,
            failureOf: options.failureOf,
            turn: new Signal<Turn, Inbox.InboxError>(),
            finished: new Signal<Report>(),
            committed: new Signal<Committed, Inbox.InboxError>()
          }
          pending.add(slot)
          queue.unsafeOffer(slot)
          type Result = Effect.Effect<
            Inbox.Outcome,
            E | Inbox.InboxError | Unit.HandlerFailure<E | Inbox.HandlerTimeout>,
            R
          >
          /** After the batch's commit (or its failure): the delivery's outcome. */
          const settled = (handlerCause: Cause.Cause<unknown> | undefined): Result =>
            Effect.matchEffect(slot.committed.await, {
              onFailure: (error) => {
                // The batch did not commit: whatever the delivery wrote in it is gone.
                const cause = handlerCause ?? Cause.fail(error)
                const failed = Effect.failCause(cause as Cause.Cause<Inbox.InboxError>)
                return Unit.recordable(cause) ? Effect.zipRight(options.onFailure(cause), failed) : failed
              },
              onSuccess: (result): Result => {
                if (result._tag === "Outcome") return Effect.succeed(result.outcome)
                if (Option.isSome(result.recorded)) options.onRecorded(result.recorded.value)
                return Effect.failCause(result.cause as Cause.Cause<Inbox.InboxError>)
              }
            })
          /**
           * The handler, in this fiber, on the batch's connection: the connection is set in the fiber's context
           * and put back after the exit (the region is uninterruptible but for the handler), which is what
           * `provideService` does in a dozen steps more; the handler's wall time feeds the estimate.
           */
          const handle = (connection: SqlConnection.Connection): Result =>
            Effect.withFiberRuntime((fiber) => {
              const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
              const start = clock.unsafeCurrentTimeMillis()
              const context = fiber.getFiberRef(FiberRef.currentContext)
              const wrapped = lazySavepoint(
                connection,
                Effect.asVoid(connection.executeRaw(SAVEPOINT.text, []))
              )
              return Effect.zipRight(
                FiberRef.set(
                  FiberRef.currentContext,
                  Context.add(context, SqlClient.TransactionConnection, [wrapped.connection, 0] as const)
                ),
                Effect.flatMap(
                  Effect.exit(
                    options.restore(
                      // Suspended: a handler that throws before it returns an Effect fails here, as a defect,
                      // instead of killing this fiber before it reports to its batch.
                      Effect.mapError(
                        Effect.suspend(() => Unit.timed(options.delivery)),
                        (e) => new Unit.HandlerFailure(e)
                      )
                    )
                  ),
                  (exit) =>
                    Effect.zipRight(
                      FiberRef.set(FiberRef.currentContext, context),
                      // Nothing here may throw before `finished` is signalled: the batch waits on it,
                      // uninterruptibly, with its connection and permits held.
                      Effect.suspend(() => {
                        const done = clock.unsafeCurrentTimeMillis()
                        observe(done - start)
                        slot.finished.succeed({ exit, opened: wrapped.opened(), done })
                        return settled(Exit.isFailure(exit) ? exit.cause : undefined)
                      })
                    )
                )
              )
            })
          return Effect.matchEffect(slot.turn.await, {
            onFailure: (error): Result => {
              const failed = Effect.fail(error)
              return Unit.recordable(Cause.fail(error))
                ? Effect.zipRight(options.onFailure(Cause.fail(error)), failed)
                : failed
            },
            onSuccess: (turn): Result => {
              switch (turn._tag) {
                case "Alone":
                  return Effect.flatMap(Effect.exit(options.alone), (exit) => {
                    slot.finished.succeed({ exit: Exit.void, opened: false, done: 0 })
                    return exit
                  })
                case "Handler":
                  return handle(turn.connection)
                case "Settled":
                  return settled(undefined)
              }
            }
          })
        })
      )

    return { observed, run }
  })
