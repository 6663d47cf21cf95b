/**
 * The notification inbox contract: Alipay delivers each notification up to 8 times and a receiver can die at
 * any moment, so handling goes through an inbox that records every verified delivery and runs the user's
 * handler exactly once per event. Implementations: `@witkey/inbox-sql` (SQLite, PostgreSQL), and an in-memory
 * one in `@witkey/testkit`.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { Cause, Context, Option, Predicate, Schema } from "effect"
import type * as Notification from "./Notification.js"

/** A verified notification with the exact bytes it arrived as, kept for the audit trail. */
export interface Received {
  readonly notification: Notification.Notification
  readonly body: Uint8Array
  readonly contentType: string | undefined
  /**
   * True when the gateway's `notify_verify` confirmed this notify_id for this delivery. A durable inbox then
   * records the delivery before it runs the handler, in a commit of its own: the gateway may not confirm the
   * id again later (PROTOCOL.md §6), and the receiver skips `notify_verify` for any notify_id on record, so a
   * crash inside the handler must not lose the only proof that the gateway sent it.
   */
  readonly gatewayConfirmed?: boolean | undefined
}

export type State = "pending" | "processed" | "failed"

/** One notification as the inbox remembers it: what a support person queries by task. */
export interface Entry {
  readonly notifyId: string
  readonly businessKey: string | undefined
  readonly subType: string
  readonly outerTaskId: string | undefined
  readonly outerTransferNo: string | undefined
  readonly body: Uint8Array
  readonly contentType: string | undefined
  /** Epoch milliseconds, from Effect's Clock. */
  readonly firstReceivedAt: number
  readonly lastReceivedAt: number
  readonly deliveries: number
  readonly state: State
  readonly processedAt: number | undefined
  readonly lastError: string | undefined
  /** Set when this notify_id reported an event already processed under another notify_id. */
  readonly duplicateOf: string | undefined
}

export type Outcome =
  | { readonly _tag: "Processed" }
  | {
      readonly _tag: "Duplicate"
      readonly by: "notify_id" | "business_key"
      readonly processedNotifyId: string
    }

/**
 * Why the inbox could not settle a delivery: `storage` (the store failed), `busy` (another writer holds the
 * store; worth another delivery), `lost` (the store rolled back the transaction the delivery was in, or was
 * queued for: nothing of it is kept), `closed` (the inbox is shutting down).
 */
export class InboxError extends Schema.TaggedError<InboxError>()("InboxError", {
  reason: Schema.Literal("storage", "busy", "lost", "closed"),
  message: Schema.String
}) {}

export interface Inbox {
  /**
   * Records the delivery, then runs `handler` unless the event was already processed (by notify_id or by
   * business key). The handler's effects and the record commit together where the storage allows (the SQL
   * inbox runs the handler inside its transaction). If the handler fails, nothing is marked processed and the
   * failure is returned, so the next delivery runs it again.
   */
  readonly receive: <E, R>(
    received: Received,
    handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
  ) => Effect.Effect<Outcome, InboxError | E, R>
  readonly get: (notifyId: string) => Effect.Effect<Option.Option<Entry>, InboxError>
  /** Every notification of a task, oldest first. */
  readonly byTask: (outerTaskId: string) => Effect.Effect<ReadonlyArray<Entry>, InboxError>
}

export const Inbox: Context.Tag<Inbox, Inbox> = Context.GenericTag<Inbox>("@witkey/core/Inbox")

/** How long `Entry.lastError` may be. */
export const MAX_ERROR_TEXT = 2000

const describeError = (e: unknown): string => {
  if (Predicate.isString(e)) return e
  if (Predicate.hasProperty(e, "message") && Predicate.isString(e.message)) {
    const tag = Predicate.hasProperty(e, "_tag") && Predicate.isString(e._tag) ? e._tag : undefined
    const name = tag ?? (e instanceof Error ? e.name : undefined)
    const text = name === undefined || e.message.startsWith(name) ? e.message : `${name}: ${e.message}`
    // SqlError and friends say "Failed to execute statement"; the driver's reason is in `cause`.
    const cause = Predicate.hasProperty(e, "cause") ? e.cause : undefined
    return cause instanceof Error ? `${text.trimEnd()}: ${cause.message}` : text
  }
  try {
    return JSON.stringify(e) ?? String(e)
  } catch {
    return String(e)
  }
}

/**
 * The text an implementation stores as `lastError` for a failed handler: the failure's tag and message (or
 * the defect's), bounded. `unwrap` lets an implementation strip its own wrapper from the failure first.
 */
export const describeFailure = (
  cause: Cause.Cause<unknown>,
  unwrap: (e: unknown) => unknown = (e) => e
): string => {
  const failure = Cause.failureOption(cause)
  const text = Option.isSome(failure)
    ? describeError(unwrap(failure.value))
    : Option.match(Cause.dieOption(cause), {
        onNone: () => Cause.pretty(cause).split("\n")[0] ?? "failed",
        onSome: (defect) => `defect: ${describeError(defect)}`
      })
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text
}
