/**
 * The operator's side of the SQL inbox, but for `replay` (which runs the delivery unit, in `SqlInbox.ts`):
 * queries by status and task, the attempts, `resolve`, `sweep`, `prune` and `erase`. Each is one statement
 * or one short transaction of its own.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Inbox from "@witkey/core/Inbox"
import { Cause, Clock, Duration, Effect, Option } from "effect"
import { toInboxError } from "./SqlErrors.js"
import * as Statements from "./statements.js"

export interface Deps {
  readonly sql: SqlClient.SqlClient
  readonly statements: Statements.Statements
  readonly policy: Inbox.Policy
  /** A lone statement (or a transaction) that waits for the connection like a transaction does. */
  readonly alone: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
}

const unreadable = (e: { readonly message: string }) =>
  new Inbox.InboxError({ reason: "storage", message: `inbox: unreadable row: ${e.message}` })

/** Runs a hook after the fact: its failure is logged, never the operation's. */
export const runHook = (name: string, run: Effect.Effect<void>) =>
  Effect.catchAllCause(run, (cause) =>
    Effect.logWarning(`witkey inbox: the ${name} hook failed`).pipe(
      Effect.annotateLogs({ detail: Cause.pretty(cause).split("\n")[0] ?? "" })
    )
  )

export const make = (deps: Deps) => {
  const { alone, policy, sql, statements } = deps
  const exhaustedAfter = Duration.decode(policy.exhaustedAfter ?? Inbox.DEFAULT_EXHAUSTED_AFTER)

  /** Rows of `statement` as entries, their status computed now. */
  const select = (statement: Effect.Effect<ReadonlyArray<object>, SqlError>) =>
    alone(statement).pipe(
      Effect.mapError(toInboxError("query")),
      Effect.flatMap((rows) => Effect.mapError(Statements.decodeRows(rows), unreadable)),
      Effect.flatMap((rows) =>
        Effect.map(Clock.currentTimeMillis, (now) =>
          rows.map((row) => Statements.toEntry(row, now, exhaustedAfter))
        )
      )
    )

  const get = (notifyId: string) =>
    Effect.map(select(statements.byNotifyId(notifyId)), (entries) => Option.fromNullable(entries[0]))

  const window = Effect.map(Clock.currentTimeMillis, (now) => ({
    now,
    exhaustedAfterMillis: Duration.toMillis(exhaustedAfter)
  }))

  const list: Inbox.Operations["list"] = (query = {}) =>
    Effect.flatMap(window, (w) =>
      select(statements.list(query, w, Math.max(0, Math.floor(query.limit ?? Inbox.DEFAULT_LIST_LIMIT))))
    )

  const attempts: Inbox.Operations["attempts"] = (notifyId) =>
    alone(statements.attempts(notifyId)).pipe(
      Effect.mapError(toInboxError("query")),
      Effect.flatMap((rows) => Effect.mapError(Statements.decodeAttempts(rows), unreadable)),
      Effect.map((rows) => rows.map(Statements.toAttempt))
    )

  // The entry's row lock first, then the event's: the order every delivery takes, so no lock cycle.
  const resolve: Inbox.Operations["resolve"] = (notifyId, note) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* statements.lockRow(notifyId)
      const row = rows[0]
      if (row === undefined) return { _tag: "NotFound" } satisfies Inbox.ResolveOutcome
      if (row.state === "processed")
        return {
          _tag: "AlreadyProcessed",
          processedNotifyId: row.duplicate_of ?? notifyId
        } satisfies Inbox.ResolveOutcome
      const claimed = yield* statements.claimEvent(row.event_key, notifyId, now)
      const processedBy = claimed[0]?.processed_notify_id ?? notifyId
      yield* statements.markResolved(notifyId, processedBy, note, now)
      yield* statements.insertAttempt({
        notifyId,
        at: now,
        source: "resolve",
        verifiedBy: undefined,
        notifyVerify: undefined,
        outcome: "resolved",
        error: note,
        durationMillis: 0
      })
      return { _tag: "Resolved" } satisfies Inbox.ResolveOutcome
    }).pipe(sql.withTransaction, Effect.mapError(toInboxError("resolve")))

  // First settles the entries whose event another notify_id processed (no false alarm for a re-issue that
  // succeeded). Then claims each exhausted entry once by an update (row locks serialize two sweepers), and
  // runs the hook after the commit: at most once per entry, even with several processes sweeping.
  const sweep: Inbox.Operations["sweep"] = Effect.gen(function* () {
    const w = yield* window
    const noticed = yield* Effect.zipRight(
      statements.settleDuplicates(w.now),
      statements.noticeExhausted(w)
    ).pipe(sql.withTransaction, Effect.mapError(toInboxError("sweep")))
    const found: Array<Inbox.Entry> = []
    for (const { notify_id } of noticed) {
      const entry = yield* get(notify_id)
      if (Option.isSome(entry)) found.push(entry.value)
    }
    found.sort((a, b) => a.firstReceivedAt - b.firstReceivedAt)
    const onExhausted = policy.onExhausted
    if (onExhausted !== undefined)
      for (const entry of found) yield* runHook("onExhausted", onExhausted(entry))
    return found
  })

  const prune: Inbox.Operations["prune"] = (options) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const cutoff = now - Duration.toMillis(Duration.decode(options.olderThan))
      const removed = yield* statements.pruneAttempts(cutoff)
      const bodies = yield* statements.pruneBodies(cutoff, now)
      return { bodies: bodies.length, attempts: removed.length }
    }).pipe(sql.withTransaction, Effect.mapError(toInboxError("prune")))

  const erase: Inbox.Operations["erase"] = (outerTaskId) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const erased = yield* statements.eraseTask(outerTaskId, now)
      yield* statements.eraseAttempts(outerTaskId)
      return erased.length
    }).pipe(sql.withTransaction, Effect.mapError(toInboxError("erase")))

  return { select, get, list, attempts, resolve, sweep, prune, erase }
}
