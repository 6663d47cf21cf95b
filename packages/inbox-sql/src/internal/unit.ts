/**
 * The unit of work for one delivery, whatever runs it: record the delivery, claim its event, run the user's
 * handler, mark the notification processed. A runner (`perTransaction.ts`, `GroupCommit.ts`) wraps it in
 * something that commits or rolls back whole, and hands it an `exec` that runs a statement there.
 *
 * @internal
 */
import type * as Statement from "@effect/sql/Statement"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import { Cause, Clock, Duration, Effect, Option } from "effect"
import type { AttemptValues, Keys, Statements } from "./statements.js"

/**
 * Runs one statement where the unit runs (a transaction, a savepoint of a shared one). `commit`: the unit's
 * last statement, which fails when its claim does not stand; a runner that owns the transaction may commit
 * right behind it, and then answers only after that commit.
 */
export type Exec = <A extends object>(
  what: string,
  statement: Statement.Statement<A>,
  options?: { readonly commit?: boolean }
) => Effect.Effect<ReadonlyArray<A>, Inbox.InboxError>

/** Wraps the handler's own failure inside the unit, so it is never mistaken for the inbox's. */
export class HandlerFailure<E> {
  readonly _tag = "HandlerFailure"
  constructor(readonly error: E) {}
}

export const unwrapHandlerFailure = (e: unknown): unknown => (e instanceof HandlerFailure ? e.error : e)

/** The text recorded as `lastError` for a failed unit. */
export const describeCause = (cause: Cause.Cause<unknown>): string =>
  Inbox.describeFailure(cause, unwrapHandlerFailure)

/** One run of the unit: a delivery by Alipay, or an operator's replay of the stored bytes. */
export interface Delivery<E, R> {
  readonly source: "alipay" | "replay"
  readonly received: Inbox.Received
  readonly keys: Keys
  readonly handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
  /** The handler's time limit, if any. */
  readonly handlerTimeout: Duration.Duration | undefined
  /** When the attempt began (Clock millis): its duration is measured from here. */
  readonly started: number
}

/** The attempt row of a delivery, but for its outcome. */
export const attemptOf = <E, R>(
  delivery: Delivery<E, R>,
  outcome: Inbox.AttemptOutcome,
  error: string | undefined,
  now: number
): AttemptValues => ({
  notifyId: delivery.received.notification.notifyId,
  at: delivery.started,
  source: delivery.source,
  verifiedBy: Inbox.verifiedByOf(delivery.received.notification),
  notifyVerify:
    delivery.source === "alipay"
      ? delivery.received.gatewayConfirmed === true
        ? "true"
        : "not_asked"
      : undefined,
  outcome,
  error,
  durationMillis: Math.max(0, now - delivery.started)
})

/** The user's handler under its time limit, if any. */
export const timed = <E, R>(delivery: Delivery<E, R>): Effect.Effect<void, E | Inbox.HandlerTimeout, R> => {
  const run = delivery.handler(delivery.received.notification)
  const limit = delivery.handlerTimeout
  return limit === undefined
    ? run
    : Effect.timeoutFail(run, {
        duration: limit,
        onTimeout: () =>
          new Inbox.HandlerTimeout({ message: `the handler ran longer than ${Duration.format(limit)}` })
      })
}

/**
 * How units are run: each in something that commits or rolls back whole. `unit` gets the runner's `exec`;
 * the result is the unit's, once committed. After a failure, whatever the unit wrote is gone, and `onFailure`
 * runs, where a record of the failure belongs; not for a busy store (it would only wait for the lock again,
 * to record nothing) or a closed inbox. The failure may be the runner's own (`busy`, `lost`, `closed`, a
 * failed commit). `restore` is the caller's: only the unit is interruptible.
 */
export interface Runner {
  /** A lone statement, committed on its own, never with handlers' writes. */
  readonly record: <A>(
    effect: Effect.Effect<A, Inbox.InboxError>,
    restore: <X, E2, R2>(effect: Effect.Effect<X, E2, R2>) => Effect.Effect<X, E2, R2>
  ) => Effect.Effect<A, Inbox.InboxError>
  readonly run: <A, E, R>(
    unit: (exec: Exec) => Effect.Effect<A, E, R>,
    restore: <X, E2, R2>(effect: Effect.Effect<X, E2, R2>) => Effect.Effect<X, E2, R2>,
    onFailure: (cause: Cause.Cause<unknown>) => Effect.Effect<void>
  ) => Effect.Effect<A, E | Inbox.InboxError, R>
}

/** Whether a failure is worth recording: not busy (it would only wait again), not closed (going away). */
export const recordable = (cause: Cause.Cause<unknown>): boolean => {
  const failure = Option.getOrUndefined(Cause.failureOption(cause))
  return !(failure instanceof Inbox.InboxError && (failure.reason === "busy" || failure.reason === "closed"))
}

/** What a recorded row reads as, before the event is claimed (`settledByRow`). */
export interface RowState {
  readonly state: string
  readonly duplicate_of: string | null
  readonly parked_at: unknown
  readonly last_error: string | null
}

/**
 * The outcome a delivery's recorded row settles without its handler, and its attempt row; `undefined`: go on
 * and claim the event. The one rule for both runners (`settle`, and a PostgreSQL batch in `pgBatch.ts`).
 */
export const settledByRow = (
  source: Delivery<unknown, unknown>["source"],
  notifyId: string,
  row: RowState
):
  | {
      readonly outcome: Inbox.Outcome
      readonly attempt: Inbox.AttemptOutcome
      readonly error: string | undefined
    }
  | undefined => {
  // Processed is final (a failure record never undoes it), and an event is only ever marked by a
  // notification marked in the same transaction: this notify_id's own event is settled.
  if (row.state === "processed")
    return {
      outcome: { _tag: "Duplicate", by: "notify_id", processedNotifyId: row.duplicate_of ?? notifyId },
      attempt: source === "alipay" ? "duplicate" : "already_processed",
      error: undefined
    }
  // Alipay was answered `success` for a parked entry: only a replay runs its handler again.
  if (row.parked_at !== null && source === "alipay") {
    const error = row.last_error ?? "failed permanently"
    return { outcome: { _tag: "Parked", error }, attempt: "failed_permanent", error }
  }
  return undefined
}

/**
 * One delivery's work. `counted` is false when an earlier statement of the same receive (the pre-record)
 * counted the delivery already.
 */
export const settle = <E, R>(
  statements: Statements,
  exec: Exec,
  delivery: Delivery<E, R>,
  counted: boolean
): Effect.Effect<Inbox.Outcome, Inbox.InboxError | HandlerFailure<E | Inbox.HandlerTimeout>, R> =>
  Effect.gen(function* () {
    const { keys, received } = delivery
    const n = received.notification
    const notifyId = n.notifyId
    const now = yield* Clock.currentTimeMillis
    // One attempt row per run, in the same transaction as its outcome (a failure's is written with the
    // failure's record, after the rollback).
    const attempt = (outcome: Inbox.AttemptOutcome, error: string | undefined, at: number) =>
      exec("record attempt", statements.insertAttempt(attemptOf(delivery, outcome, error, at)))
    // PostgreSQL records the delivery and claims its event in one statement.
    const recordAndClaim = delivery.source === "alipay" ? statements.recordAndClaim : undefined
    const entries: ReadonlyArray<{
      readonly state: string
      readonly duplicate_of: string | null
      readonly parked_at: unknown
      readonly last_error: string | null
      readonly event_key?: string
      readonly claimed_by?: string | null
    }> = yield* recordAndClaim !== undefined
      ? exec("record delivery", recordAndClaim(received, keys, now, counted))
      : delivery.source === "alipay"
        ? exec(
            "record delivery",
            statements.upsertDelivery(received, keys, now, { failure: undefined, counted })
          )
        : exec("lock entry", statements.lockRow(notifyId))
    const entry = entries[0]
    if (entry === undefined)
      return yield* new Inbox.InboxError({
        reason: "storage",
        message: `inbox: the row of notify_id ${notifyId} vanished inside the transaction`
      })
    // A replay decodes the stored bytes again, in the charset the operator names: a decode that reads other
    // ids than the delivery did would claim another event, and run the handler for an event already processed
    // (by a re-issue) or not this notification's at all. The key the delivery recorded is the one it locks.
    if (entry.event_key !== undefined && entry.event_key !== keys.eventKey)
      return yield* new Inbox.InboxError({
        reason: "storage",
        message: `inbox: the stored body of notify_id ${notifyId}, decoded again, names another event (${JSON.stringify(keys.eventKey)}) than the one recorded (${JSON.stringify(entry.event_key)}): replay it in the charset it arrived in`
      })
    const settled = settledByRow(delivery.source, notifyId, entry)
    if (settled !== undefined) {
      yield* attempt(settled.attempt, settled.error, now)
      return settled.outcome
    }
    // Marking before the handler runs is safe: a failure rolls the mark back with the rest.
    const processedBy =
      recordAndClaim !== undefined
        ? entry.claimed_by
        : (yield* exec("claim event", statements.claimEvent(keys.eventKey, notifyId, now)))[0]
            ?.processed_notify_id
    if (processedBy === undefined || processedBy === null)
      return yield* new Inbox.InboxError({
        reason: "storage",
        message: `inbox: the event row of notify_id ${notifyId} vanished inside the transaction`
      })
    if (processedBy !== notifyId) {
      yield* exec("mark duplicate", statements.markDuplicate(notifyId, processedBy, now))
      yield* attempt("duplicate", undefined, now)
      return { _tag: "Duplicate", by: "business_key", processedNotifyId: processedBy } satisfies Inbox.Outcome
    }
    yield* Effect.mapError(timed(delivery), (e) => new HandlerFailure(e))
    // Uninterruptible from here: the mark may carry the commit, and a committed unit must return its outcome
    // (an interruption landing after the commit would have it recorded as interrupted).
    return yield* Effect.uninterruptible(
      Effect.gen(function* () {
        const done = yield* Clock.currentTimeMillis
        const combined = statements.markProcessedWithAttempt
        const marked = yield* combined === undefined
          ? exec("mark processed", statements.markProcessed(notifyId, keys.eventKey, done))
          : exec(
              "mark processed",
              combined(notifyId, keys.eventKey, done, attemptOf(delivery, "processed", undefined, done)),
              { commit: true }
            )
        if (marked.length === 0)
          return yield* new Inbox.InboxError({
            reason: "lost",
            message: `inbox: the database rolled back the transaction of notify_id ${notifyId} under the handler; every delivery in it is answered fail`
          })
        if (combined === undefined) yield* attempt("processed", undefined, done)
        return { _tag: "Processed" } satisfies Inbox.Outcome
      })
    )
  })
