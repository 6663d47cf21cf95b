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
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Inbox from "@witkey/core/Inbox"
import type { Context, Scope } from "effect"
import { Cause, Deferred, Effect, Exit, Option, Predicate, Queue } from "effect"

type Connection = Context.Tag.Service<typeof SqlClient.TransactionConnection>

interface Slot {
  /** Worker to caller: your turn, on this connection; or a failure (the batch could not start, or busy). */
  readonly turn: Deferred.Deferred<Connection, Inbox.InboxError>
  /** Caller to worker: done; true when it met a busy database (the rest of the batch would only wait too). */
  readonly finished: Deferred.Deferred<boolean>
  /** Worker to caller: the batch's commit. */
  readonly committed: Deferred.Deferred<void, Inbox.InboxError>
}

export interface GroupCommit {
  /**
   * Runs `work` inside the next shared transaction, in the caller's fiber, and returns its exit once that
   * transaction committed. The outer failure is the batch's (it could not begin, busy, or the commit
   * failed): then nothing `work` wrote is kept. `work` must not fail the transaction itself; use a savepoint
   * (a nested `withTransaction`) for what may fail. Waits for its turn uninterruptibly: an interruption takes
   * effect inside `work`, where the caller restores it.
   */
  readonly run: <A, E, R>(
    work: Effect.Effect<A, E, R>,
    busy: (exit: Exit.Exit<A, E>) => boolean
  ) => Effect.Effect<Exit.Exit<A, E>, Inbox.InboxError, R>
}

/** At most this many deliveries per transaction, so one commit never waits on a very long batch. */
export const MAX_BATCH = 64

const BUSY_CODES: ReadonlySet<string> = new Set(["SQLITE_BUSY", "SQLITE_BUSY_SNAPSHOT", "SQLITE_LOCKED"])

const sqlErrorOf = (cause: Cause.Cause<unknown>): SqlError | undefined => {
  const failure = Cause.failureOption(cause)
  const value = Option.isSome(failure) ? failure.value : Option.getOrUndefined(Cause.dieOption(cause))
  return Predicate.isTagged(value, "SqlError") ? (value as SqlError) : undefined
}

/** Why a batch failed: at BEGIN (busy: another process writes), at COMMIT, or otherwise. */
const batchError = (cause: Cause.Cause<unknown>): Inbox.InboxError => {
  const e = sqlErrorOf(cause)
  const code = e !== undefined && Predicate.hasProperty(e.cause, "code") ? e.cause.code : undefined
  const detail =
    e === undefined
      ? Cause.pretty(cause).split("\n")[0]
      : e.cause instanceof Error
        ? e.cause.message
        : e.message
  return new Inbox.InboxError({
    reason: Predicate.isString(code) && BUSY_CODES.has(code) ? "busy" : "storage",
    message: `inbox transaction: ${detail}`
  })
}

const BUSY = new Inbox.InboxError({
  reason: "busy",
  message: "inbox: the database is busy (another writer holds it); not attempted"
})
const CLOSED = new Inbox.InboxError({ reason: "storage", message: "inbox: closed" })

/** Lets the I/O callbacks of the current event-loop turn enqueue their deliveries before a batch starts. */
const nextTurn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

export const make = (sql: SqlClient.SqlClient): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<Slot>()
    let closed = false

    // The batch's transaction is run here rather than by `withTransaction`: `BEGIN IMMEDIATE` takes the write
    // lock once for the whole batch (a busy database fails the batch at once instead of each delivery waiting
    // in turn), and a failed COMMIT (which leaves SQLite's transaction open, e.g. for a deferred constraint) is
    // rolled back before the connection is released.
    const runBatch = (batch: ReadonlyArray<Slot>) =>
      Effect.gen(function* () {
        let handed = 0
        let stoppedBusy = false
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const connection = yield* sql.reserve
              yield* connection.executeRaw("BEGIN IMMEDIATE", [])
              const body = yield* Effect.exit(
                Effect.gen(function* () {
                  for (const slot of batch) {
                    handed++
                    yield* Deferred.succeed(slot.turn, [connection, 0] as const)
                    if (yield* Deferred.await(slot.finished)) {
                      stoppedBusy = true
                      break
                    }
                  }
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
        const unrun = Exit.isSuccess(exit) || stoppedBusy ? BUSY : batchError(exit.cause)
        for (let i = 0; i < batch.length; i++) {
          const slot = batch[i]!
          if (i < handed) yield* Deferred.done(slot.committed, outcome)
          else yield* Deferred.fail(slot.turn, unrun)
        }
      })

    const worker = Effect.uninterruptibleMask((restore) =>
      Effect.forever(
        Effect.gen(function* () {
          const first = yield* restore(Queue.take(queue))
          yield* nextTurn
          const rest = yield* Queue.takeUpTo(queue, MAX_BATCH - 1)
          yield* runBatch([first, ...rest])
        })
      )
    )

    yield* Effect.forkScoped(
      worker.pipe(
        Effect.ensuring(
          Effect.suspend(() => {
            closed = true
            return Effect.flatMap(Queue.takeAll(queue), (slots) =>
              Effect.forEach(slots, (slot) => Deferred.fail(slot.turn, CLOSED), { discard: true })
            )
          })
        )
      )
    )

    const run: GroupCommit["run"] = (work, busy) =>
      Effect.uninterruptible(
        Effect.gen(function* () {
          const slot: Slot = {
            turn: yield* Deferred.make<Connection, Inbox.InboxError>(),
            finished: yield* Deferred.make<boolean>(),
            committed: yield* Deferred.make<void, Inbox.InboxError>()
          }
          // Checked and offered in one synchronous step: the worker's shutdown drains the queue in one too.
          if (closed || !queue.unsafeOffer(slot)) return yield* CLOSED
          const connection = yield* Deferred.await(slot.turn)
          const exit = yield* Effect.exit(
            Effect.provideService(work, SqlClient.TransactionConnection, connection)
          )
          yield* Deferred.succeed(slot.finished, busy(exit))
          yield* Deferred.await(slot.committed)
          return exit
        })
      )

    return { run }
  })
