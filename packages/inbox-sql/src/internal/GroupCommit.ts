/**
 * Group commit for SQLite: the deliveries that arrive while one transaction is running share the next one, and
 * its one flushed commit.
 *
 * Why: with `synchronous = FULL` every commit waits for the disk (about 125 µs on the bench machine, most of a
 * delivery's cost), and SQLite has a single writer per file, so deliveries never ran side by side anyway.
 *
 * How: one fiber owns the transactions. It takes what is queued, opens a transaction and hands its connection
 * to each waiting caller in turn; each caller runs its own work in its own fiber (its context, its handler,
 * its interruption) inside a savepoint, and says when it is done; then the fiber commits and tells every
 * caller of the batch how the commit went. A caller answers only after that: `success` still means
 * committed. A failed item rolls back to its savepoint and leaves the others alone; a failed commit fails
 * them all, and each records its delivery again on its own.
 *
 * What sharing a transaction means for handlers: a handler sees the uncommitted writes of the deliveries
 * before it in the same batch (they commit together or not at all). Records (`kind: "record"`, the
 * pre-record of a delivery `notify_verify` confirmed) never share a transaction with handlers' writes, so no
 * handler's failed commit can take them down. A batch stops handing out turns after `MAX_BATCH_MILLIS`, so a
 * slow handler delays the answers of few others; the rest go first into the next transaction.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Inbox from "@witkey/core/Inbox"
import type { Scope } from "effect"
import { Cause, Clock, Context, Effect, Exit, Fiber, FiberRef, Option, Predicate, Queue } from "effect"
import { Signal } from "./signal.js"
import { causeMessage, isBusy, toInboxError } from "./SqlErrors.js"
import { type Exec, recordable, type Runner } from "./unit.js"

type Connection = Context.Tag.Service<typeof SqlClient.TransactionConnection>

/** What the worker does after a turn. */
export type Next = "continue" | "busy" | "lost"

/** `record`: a lone statement that must not share the fate of handlers' writes. `work`: a delivery. */
export type Kind = "record" | "work"

/**
 * One delivery's hand-offs, each a one-shot `Signal` with one reader (`signal.ts`: a `Deferred` costs about
 * 7 µs to make, and every delivery needs three).
 */
interface Slot {
  readonly kind: Kind
  /** Worker to caller: your turn, on this connection; or a failure (the batch could not start, or busy). */
  readonly turn: Signal<Connection, Inbox.InboxError>
  /**
   * Caller to worker: done, and whether to go on: `busy` (the rest of the batch would only wait too), `lost`
   * (the database rolled the transaction back: nothing more can join it).
   */
  readonly finished: Signal<Next>
  /** Worker to caller: the batch's commit. */
  readonly committed: Signal<void, Inbox.InboxError>
}

export interface GroupCommit {
  /**
   * Runs `work` inside the next shared transaction, in the caller's fiber, with the transaction's connection
   * (also provided as `SqlClient.TransactionConnection`, so that the client's statements join the
   * transaction), and returns its exit once that
   * transaction committed. The outer failure is the batch's (it could not begin, busy, the commit failed, or
   * the inbox closed): then nothing `work` wrote is kept. `work` must not fail the transaction itself; use a
   * savepoint (a nested `withTransaction`) for what may fail. Waits for its turn uninterruptibly: an
   * interruption takes effect inside `work`, where the caller restores it.
   */
  readonly run: <A, E, R>(
    work: (connection: SqlConnection.Connection) => Effect.Effect<A, E, R>,
    next: (exit: Exit.Exit<A, E>) => Next,
    kind?: Kind
  ) => Effect.Effect<Exit.Exit<A, E>, Inbox.InboxError, R>
}

/** At most this many deliveries per transaction. */
export const MAX_BATCH = 64
/** No more turns handed out in a transaction that has run this long: its commit waits for no one else. */
export const MAX_BATCH_MILLIS = 50

const sqlErrorOf = (cause: Cause.Cause<unknown>): SqlError | undefined => {
  const failure = Cause.failureOption(cause)
  const value = Option.isSome(failure) ? failure.value : Option.getOrUndefined(Cause.dieOption(cause))
  return Predicate.isTagged(value, "SqlError") ? (value as SqlError) : undefined
}

/** Why a batch failed: at BEGIN (busy: another process writes), at COMMIT, or otherwise. */
const batchError = (cause: Cause.Cause<unknown>): Inbox.InboxError => {
  const e = sqlErrorOf(cause)
  return new Inbox.InboxError({
    reason: e !== undefined && isBusy(e) ? "busy" : "storage",
    message: `inbox transaction: ${e === undefined ? Cause.pretty(cause).split("\n")[0] : causeMessage(e)}`
  })
}

const busy = () =>
  new Inbox.InboxError({
    reason: "busy",
    message: "inbox: the database is busy (another writer holds it); not attempted"
  })
const lost = () =>
  new Inbox.InboxError({
    reason: "lost",
    message: "inbox: not attempted, the database rolled back the transaction it was queued for"
  })

/** The answer to a delivery that came after the inbox closed, or was still waiting when it did. */
const closedError = () => new Inbox.InboxError({ reason: "closed", message: "inbox: closed" })

/** Lets the I/O callbacks of the current event-loop turn enqueue their deliveries before a batch starts. */
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

export const make = (sql: SqlClient.SqlClient): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Slot>()
    /** Offered and not yet settled by the worker: what closing must answer. */
    const pending = new Set<Slot>()
    let closed = false
    /** Taken but not run (a batch that reached its time): first in the next transaction. */
    let carried: Array<Slot> = []

    // Begins the batch's transaction. A connection left inside a transaction (a ROLLBACK that failed after a
    // failed COMMIT) would refuse every BEGIN from then on: it is rolled back, and BEGIN tried once more.
    const begin = (connection: SqlConnection.Connection) =>
      connection.executeRaw("BEGIN IMMEDIATE", []).pipe(
        Effect.catchIf(
          (e) => causeMessage(e).includes("within a transaction"),
          () =>
            Effect.zipRight(
              Effect.ignore(connection.executeRaw("ROLLBACK", [])),
              connection.executeRaw("BEGIN IMMEDIATE", [])
            )
        )
      )

    /**
     * One transaction for `batch`, run here rather than by `withTransaction`: `BEGIN IMMEDIATE` takes the write
     * lock once (a busy database fails the batch at once instead of each delivery waiting in turn), a failed
     * COMMIT (which leaves SQLite's transaction open, e.g. for a deferred constraint) is rolled back before the
     * connection is released, and the savepoint `witkey_batch` around the items proves at the end that the
     * transaction is still the one that began: SQLite rolls a whole transaction back by itself on some errors
     * (`INSERT OR ROLLBACK`, a full disk), and the next SAVEPOINT would silently begin a new one, so that the
     * COMMIT would report success for deliveries whose writes are gone. Returns the slots it did not get to.
     */
    const runTransaction = (batch: ReadonlyArray<Slot>) =>
      Effect.gen(function* () {
        let handed = 0
        let stopped = "continue" as Next
        let outOfTime = false
        const started = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const connection = yield* sql.reserve
              yield* begin(connection)
              const body = yield* Effect.exit(
                Effect.gen(function* () {
                  yield* connection.executeRaw("SAVEPOINT witkey_batch", [])
                  for (const slot of batch) {
                    if (handed > 0 && (yield* Clock.currentTimeMillis) - started >= MAX_BATCH_MILLIS) {
                      outOfTime = true
                      break
                    }
                    handed++
                    slot.turn.succeed([connection, 0] as const)
                    stopped = yield* slot.finished.await
                    if (stopped !== "continue") break
                  }
                  yield* connection.executeRaw("RELEASE SAVEPOINT witkey_batch", [])
                  yield* connection.executeRaw("COMMIT", [])
                })
              )
              if (Exit.isFailure(body)) yield* Effect.ignore(connection.executeRaw("ROLLBACK", []))
              return yield* body
            })
          )
        )
        const outcome: Exit.Exit<void, Inbox.InboxError> = Exit.isSuccess(exit)
          ? Exit.void
          : Exit.fail(batchError(exit.cause))
        const carry: Array<Slot> = []
        for (let i = 0; i < batch.length; i++) {
          const slot = batch[i]!
          if (i < handed) slot.committed.done(outcome)
          else if (outOfTime) {
            // Never touched by this transaction, whatever became of it: the next one runs them first.
            carry.push(slot)
            continue
          } else
            slot.turn.fail(
              stopped === "busy"
                ? busy()
                : stopped === "lost"
                  ? lost()
                  : Exit.isSuccess(exit)
                    ? busy()
                    : batchError(exit.cause)
            )
          pending.delete(slot)
        }
        return carry
      })

    const worker = Effect.uninterruptibleMask((restore) =>
      Effect.forever(
        Effect.gen(function* () {
          let batch: Array<Slot>
          if (carried.length > 0) {
            batch = carried
            carried = []
            for (const slot of yield* Queue.takeUpTo(queue, MAX_BATCH - batch.length)) batch.push(slot)
          } else {
            // The only point where the worker can be interrupted; a slot it took here is still `pending`.
            const first = yield* restore(Queue.take(queue))
            yield* nextTurn
            batch = [first]
            for (const slot of yield* Queue.takeUpTo(queue, MAX_BATCH - 1)) batch.push(slot)
          }
          // Records first, in a transaction of their own, then the deliveries.
          const records = batch.filter((slot) => slot.kind === "record")
          const works = records.length === 0 ? batch : batch.filter((slot) => slot.kind === "work")
          if (records.length > 0) carried.push(...(yield* runTransaction(records)))
          if (works.length > 0) carried.push(...(yield* runTransaction(works)))
        })
      )
    )

    const fiber = yield* Effect.forkDaemon(worker)
    // Closing: nothing more is queued, the running batch finishes (the worker only stops between batches),
    // and whatever is still waiting, even a slot the worker took as it was stopped, is answered `closed`.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        closed = true
        yield* Fiber.interrupt(fiber)
        for (const slot of pending) slot.turn.fail(closedError())
        pending.clear()
      })
    )

    /**
     * The caller's side, in plain combinators (this runs for every delivery): the turn's connection is set in
     * the fiber's context around `work`'s exit and put back after it, which is what `provideService` does in a
     * dozen steps more.
     */
    const run: GroupCommit["run"] = (work, next, kind = "work") =>
      Effect.uninterruptible(
        Effect.suspend(() => {
          // Checked and offered in one synchronous step; closing sets `closed` before it answers `pending`.
          if (closed) return Effect.fail(closedError())
          const slot: Slot = {
            kind,
            turn: new Signal<Connection, Inbox.InboxError>(),
            finished: new Signal<Next>(),
            committed: new Signal<void, Inbox.InboxError>()
          }
          pending.add(slot)
          queue.unsafeOffer(slot)
          return Effect.flatMap(slot.turn.await, (connection) =>
            Effect.withFiberRuntime((fiber) => {
              const context = fiber.getFiberRef(FiberRef.currentContext)
              return Effect.zipRight(
                FiberRef.set(
                  FiberRef.currentContext,
                  Context.add(context, SqlClient.TransactionConnection, connection)
                ),
                Effect.flatMap(
                  // Suspended: a `work` that throws fails here, as a defect, and the worker still hears of it.
                  Effect.exit(Effect.suspend(() => work(connection[0]))),
                  (exit) =>
                    Effect.zipRight(
                      FiberRef.set(FiberRef.currentContext, context),
                      Effect.suspend(() => {
                        slot.finished.succeed(next(exit))
                        return Effect.as(slot.committed.await, exit)
                      })
                    )
                )
              )
            })
          )
        })
      )

    return { run }
  })

/** The reason of an exit's expected `InboxError`, if it failed with one. */
const reasonOf = (exit: Exit.Exit<unknown, unknown>): Inbox.InboxError["reason"] | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  return failure instanceof Inbox.InboxError ? failure.reason : undefined
}

/** What the batch does after an item's exit: stop for a busy store or a lost transaction. */
const nextAfter = (exit: Exit.Exit<unknown, unknown>): Next => {
  const reason = reasonOf(exit)
  return reason === "busy" ? "busy" : reason === "lost" ? "lost" : "continue"
}

/**
 * `effect` inside a savepoint of its own on `connection`, released when it succeeds and rolled back when it
 * fails or is interrupted (`effect` carries the caller's `restore`; the rest runs uninterruptibly). Cached
 * statements instead of a nested `withTransaction` (a span, an unprepared statement, a fresh context): this
 * runs for every delivery of a shared transaction. If the savepoint cannot be released or rolled back, the
 * transaction is no longer the one that began (SQLite rolls a whole transaction back by itself on some
 * errors): the whole transaction is rolled back, so that the batch cannot commit half of this delivery, and
 * this fails with reason `lost`.
 */
export const savepointed = <A, E, R>(
  connection: SqlConnection.Connection,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | SqlError | Inbox.InboxError, R> => {
  const undo = (exit: Exit.Exit<A, E>): Effect.Effect<A, E | SqlError | Inbox.InboxError> =>
    Effect.flatMap(
      Effect.exit(
        Effect.zipRight(
          connection.executeRaw("ROLLBACK TO SAVEPOINT witkey_delivery", []),
          connection.executeRaw("RELEASE SAVEPOINT witkey_delivery", [])
        )
      ),
      (rolledBack): Effect.Effect<A, E | Inbox.InboxError> =>
        Exit.isFailure(rolledBack) || Exit.isSuccess(exit)
          ? Effect.zipRight(
              Effect.ignore(connection.executeRaw("ROLLBACK", [])),
              Effect.fail(
                new Inbox.InboxError({
                  reason: "lost",
                  message:
                    "inbox: the database rolled the shared transaction back; every delivery in it is answered fail"
                })
              )
            )
          : exit
    )
  return Effect.zipRight(
    connection.executeRaw("SAVEPOINT witkey_delivery", []),
    Effect.flatMap(Effect.exit(effect), (exit) =>
      Exit.isSuccess(exit)
        ? // `exit`, not `matchEffect`: a RELEASE that dies (a defect, not a SqlError) is undone as one that fails.
          Effect.flatMap(
            Effect.exit(connection.executeRaw("RELEASE SAVEPOINT witkey_delivery", [])),
            (released) => (Exit.isSuccess(released) ? Effect.succeed(exit.value) : undo(exit))
          )
        : undo(exit)
    )
  )
}

/**
 * A statement run on the turn's connection directly: the same SQL and the same driver call, without the
 * client's per-statement span and connection lookup (about 16 µs of its 22).
 */
const execOn =
  (connection: SqlConnection.Connection): Exec =>
  (what, statement) =>
    Effect.suspend(() => {
      const [text, params] = statement.compile()
      return connection.execute(text, params, undefined) as Effect.Effect<ReadonlyArray<any>, SqlError>
    }).pipe(Effect.mapError(toInboxError(what)))

/**
 * The runner over a group commit: each unit in a savepoint of the next shared transaction. A unit's failure
 * is recorded inside the turn (it commits with the batch); a batch that did not commit is recorded after, on
 * its own, unless busy or closed.
 */
export const runner = (group: GroupCommit): Runner => ({
  // One statement, run uninterruptibly, so that an interruption lands in the unit, which records it.
  record: (effect) =>
    Effect.flatten(
      group.run(
        () => effect,
        (exit) => (reasonOf(exit) === "busy" ? "busy" : "continue"),
        "record"
      )
    ),
  run: (unit, restore, onFailure) =>
    Effect.matchEffect(
      group.run(
        (connection) =>
          Effect.flatMap(
            Effect.exit(
              Effect.mapError(savepointed(connection, restore(unit(execOn(connection)))), (e) =>
                Predicate.isTagged(e, "SqlError") ? toInboxError("savepoint")(e as SqlError) : e
              )
            ),
            (exit) =>
              Exit.isFailure(exit) && recordable(exit.cause)
                ? Effect.as(onFailure(exit.cause), exit)
                : Effect.succeed(exit)
          ),
        (exit) => (Exit.isFailure(exit) ? "continue" : nextAfter(exit.value))
      ),
      {
        onFailure: (error) => {
          // The shared transaction did not commit (or never began): whatever the unit wrote in it is gone.
          const failed = Effect.fail(error)
          return recordable(Cause.fail(error))
            ? Effect.zipRight(onFailure(Cause.fail(error)), failed)
            : failed
        },
        onSuccess: (exit) => Effect.flatten(exit)
      }
    )
})
