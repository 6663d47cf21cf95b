/**
 * The notification inbox contract: Alipay delivers each notification up to 8 times and a receiver can die at
 * any moment, so handling goes through an inbox that records every verified delivery and runs the user's
 * handler exactly once per event. Implementations: `@witkey/inbox-sql` (SQLite, PostgreSQL), and an in-memory
 * one in `@witkey/testkit`.
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Option, Predicate, Schema } from "effect"
import type * as Charset from "./Charset.js"
import * as Notification from "./Notification.js"
import * as Protocol from "./Protocol.js"
import * as Verifier from "./Verifier.js"

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

/** What the store says: `pending` (recorded, handler not finished), `processed`, `failed` (last run failed). */
export type State = "pending" | "processed" | "failed"

/**
 * What an operator needs to know of an entry:
 * - `processed`: the handler ran (or the event was processed under another notify_id: `duplicateOf`);
 * - `failing`: the handler has not succeeded yet, and Alipay is still retrying;
 * - `exhausted`: the same, past Alipay's last retry (`exhaustedAfter` from the first delivery): only a
 *   `replay` or a `resolve` settles it now;
 * - `resolved`: settled by hand (`resolve`), with a note;
 * - `failed_permanent`: the handler failed with a permanent failure; Alipay was answered `success` and the
 *   entry is parked until a `replay` or a `resolve`.
 */
export type Status = "processed" | "failing" | "exhausted" | "resolved" | "failed_permanent"

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
  /** Computed when read, from the stored state and the Clock. */
  readonly status: Status
  /** Failed runs of the handler (deliveries and replays). */
  readonly failures: number
  /** When it was parked as `failed_permanent`. */
  readonly parkedAt: number | undefined
  readonly resolvedAt: number | undefined
  /** The operator's note given to `resolve`. */
  readonly resolution: string | undefined
  /** When its body was pruned or erased (`body` is then empty; the keys that de-duplicate stay). */
  readonly bodyRemovedAt: number | undefined
}

/** The stored facts `status` is computed from. */
export interface StatusFacts {
  readonly state: State
  readonly firstReceivedAt: number
  readonly parkedAt: number | undefined
  readonly resolvedAt: number | undefined
}

/**
 * By default an entry is `exhausted` this long after its first delivery: Alipay's retry window
 * (`Protocol.NOTIFY_RETRY_WINDOW_MILLIS`, 24 h 22 min) plus 30 minutes for late retries. The first delivery the
 * inbox saw may be later than Alipay's first (one refused before the inbox, e.g. `notify_verify` failing), so
 * this errs late, never early.
 */
export const DEFAULT_EXHAUSTED_AFTER: Duration.Duration = Duration.millis(
  Protocol.NOTIFY_RETRY_WINDOW_MILLIS + 30 * 60_000
)

/** The operator's status of an entry at `now`. */
export const statusOf = (
  facts: StatusFacts,
  now: number,
  exhaustedAfter: Duration.DurationInput = DEFAULT_EXHAUSTED_AFTER
): Status =>
  facts.resolvedAt !== undefined
    ? "resolved"
    : facts.state === "processed"
      ? "processed"
      : facts.parkedAt !== undefined
        ? "failed_permanent"
        : now - facts.firstReceivedAt >= Duration.toMillis(exhaustedAfter)
          ? "exhausted"
          : "failing"

/** Where an attempt came from: a delivery by Alipay, an operator's replay or resolve. */
export type AttemptSource = "alipay" | "replay" | "resolve"

export type AttemptOutcome =
  "processed" | "duplicate" | "failed" | "failed_permanent" | "interrupted" | "resolved" | "already_processed"

/** One attempt at an entry: the timeline `witkey inbox show` prints. */
export interface Attempt {
  readonly notifyId: string
  /** Epoch milliseconds when it started, from the Clock. */
  readonly at: number
  readonly source: AttemptSource
  /**
   * `signature`: the delivery's signature verified on arrival (the inbox only sees verified deliveries);
   * `stored`: the stored bytes, verified when they first arrived.
   */
  readonly verification: "signature" | "stored"
  /** Which key verified it, when the verifier says (a trust list of Alipay keys). */
  readonly verifiedBy: string | undefined
  /** `true`: `notify_verify` confirmed it for this delivery; `not_asked`: skipped (known id, or turned off). */
  readonly notifyVerify: "true" | "not_asked" | undefined
  readonly outcome: AttemptOutcome
  readonly error: string | undefined
  readonly durationMillis: number
}

export type Outcome =
  | { readonly _tag: "Processed" }
  | {
      readonly _tag: "Duplicate"
      readonly by: "notify_id" | "business_key"
      readonly processedNotifyId: string
    }
  /**
   * The handler failed permanently (`Policy.isPermanent`): its writes were rolled back, the entry is parked
   * as `failed_permanent`, and Alipay is answered `success` (retrying would fail the same way).
   */
  | { readonly _tag: "Parked"; readonly error: string }

/** What `replay` did. */
export type ReplayOutcome =
  | Outcome
  /** Nothing: the entry is processed (or resolved) already. */
  | { readonly _tag: "AlreadyProcessed"; readonly processedNotifyId: string }
  | { readonly _tag: "NotFound" }
  /** Its body was erased or pruned: nothing to replay. */
  | { readonly _tag: "BodyRemoved" }

/** What `resolve` did. */
export type ResolveOutcome =
  | { readonly _tag: "Resolved" }
  | { readonly _tag: "AlreadyProcessed"; readonly processedNotifyId: string }
  | { readonly _tag: "NotFound" }

/**
 * A handler failure that retrying cannot fix (a payout for an unknown task, a rule of the platform's books):
 * the inbox answers `success`, rolls the handler's writes back and parks the entry as `failed_permanent`
 * for an operator. Any other failure is transient: `fail`, and Alipay retries.
 */
export class PermanentFailure extends Schema.TaggedError<PermanentFailure>()("PermanentFailure", {
  message: Schema.String
}) {}

/** The handler ran longer than `Policy.handlerTimeout`: interrupted, rolled back, transient. */
export class HandlerTimeout extends Schema.TaggedError<HandlerTimeout>()("HandlerTimeout", {
  message: Schema.String
}) {}

/**
 * What an application sets on an inbox (every implementation takes it). The hooks run after the fact,
 * outside the inbox's transaction; a hook's failure is logged and ignored.
 */
export interface Policy {
  /** Runs once per entry, after its `after`-th failed run of the handler (default 1). */
  readonly onFailing?:
    | {
        readonly after?: number | undefined
        readonly run: (entry: Entry) => Effect.Effect<void>
      }
    | undefined
  /**
   * Runs once per entry when `Operations.sweep` finds it exhausted. Nothing happens at the moment an entry
   * becomes exhausted (no delivery arrives then): run `sweep` periodically, e.g. every few minutes.
   */
  readonly onExhausted?: ((entry: Entry) => Effect.Effect<void>) | undefined
  /** Which handler failures are permanent; default: a `PermanentFailure`. */
  readonly isPermanent?: ((error: unknown) => boolean) | undefined
  /** The handler's time limit (on the Clock); past it, a transient `HandlerTimeout`. Default none. */
  readonly handlerTimeout?: Duration.DurationInput | undefined
  /** When an unsettled entry counts as exhausted, from its first delivery; default `DEFAULT_EXHAUSTED_AFTER`. */
  readonly exhaustedAfter?: Duration.DurationInput | undefined
}

/** Whether a handler failure is permanent under `policy`. */
export const isPermanent = (policy: Policy, error: unknown): boolean =>
  policy.isPermanent !== undefined ? policy.isPermanent(error) : error instanceof PermanentFailure

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
  ) => Effect.Effect<Outcome, InboxError | HandlerTimeout | E, R>
  readonly get: (notifyId: string) => Effect.Effect<Option.Option<Entry>, InboxError>
  /** Every notification of a task, oldest first. */
  readonly byTask: (outerTaskId: string) => Effect.Effect<ReadonlyArray<Entry>, InboxError>
}

export const Inbox: Context.Tag<Inbox, Inbox> = Context.GenericTag<Inbox>("@witkey/core/Inbox")

/** How many entries a listing returns when `Query.limit` is not given. */
export const DEFAULT_LIST_LIMIT = 1000

export interface Query {
  readonly status?: Status | undefined
  readonly outerTaskId?: string | undefined
  /** At most this many; default `DEFAULT_LIST_LIMIT` (1000). */
  readonly limit?: number | undefined
  /**
   * `oldest` first (by first arrival; the default) or `newest` first: an inbox only grows, and a view of the
   * latest entries needs the newest ones, not the first `limit` ever received. Without a filter, a store may
   * order by when it recorded each entry (the SQL inboxes do, by primary key, so that the listing reads
   * `limit` rows rather than the whole table): the same order but for milliseconds where clocks disagree (a
   * clock that steps back, receivers with skewed clocks, concurrent PostgreSQL batches that read the time
   * before they insert).
   */
  readonly order?: "oldest" | "newest" | undefined
}

/**
 * What an operator does with an inbox: see what failed, replay or resolve it, keep the store small. Provided
 * by the same layers as `Inbox`, over the same store.
 */
export interface Operations {
  /** Entries by status and/or task, oldest first unless `query.order` says `newest`. */
  readonly list: (query?: Query) => Effect.Effect<ReadonlyArray<Entry>, InboxError>
  /** The entry's attempts, oldest first. */
  readonly attempts: (notifyId: string) => Effect.Effect<ReadonlyArray<Attempt>, InboxError>
  /**
   * Runs `handler` on the stored bytes (verified when they arrived; decoded again, not verified again) in
   * the same exactly-once unit as a delivery: the handler runs at most once per event, whoever races it (a
   * delivery, another replay). A processed or resolved entry is left alone: `AlreadyProcessed`. A failure is
   * recorded as a replay attempt and returned. `charset` must be the one the body arrived in: a decode that
   * names another event than the recorded one (other ids) is refused (`InboxError`), never run.
   */
  readonly replay: <E, R>(
    notifyId: string,
    handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>,
    options?: { readonly charset?: Charset.Charset | undefined }
  ) => Effect.Effect<ReplayOutcome, InboxError | HandlerTimeout | E, R>
  /** Settles an entry handled outside the inbox: its event counts as processed from now on. */
  readonly resolve: (notifyId: string, note: string) => Effect.Effect<ResolveOutcome, InboxError>
  /**
   * Settles as duplicates the unsettled entries whose event another notify_id processed (a re-issue), then
   * finds the entries newly exhausted, runs `Policy.onExhausted` once for each, and returns them.
   */
  readonly sweep: Effect.Effect<ReadonlyArray<Entry>, InboxError>
  /**
   * Deletes attempts older than `olderThan` and empties the bodies of settled entries (processed, resolved)
   * last delivered before it. The rows stay, so de-duplication is unchanged.
   */
  readonly prune: (options: {
    readonly olderThan: Duration.DurationInput
  }) => Effect.Effect<{ readonly bodies: number; readonly attempts: number }, InboxError>
  /**
   * Erases a task's personal data on request: the bodies (payee ids) of its entries, their last errors and
   * operators' resolution notes (free text that may name a payee), and its attempts' error texts. The keys, states
   * and times stay (a resolved entry stays resolved), so a late delivery is still recognised (its body is not
   * stored again).
   * Returns how many entries it erased.
   */
  readonly erase: (outerTaskId: string) => Effect.Effect<number, InboxError>
}

export const Operations: Context.Tag<Operations, Operations> = Context.GenericTag<Operations>(
  "@witkey/core/InboxOperations"
)

/**
 * The key that verified a notification, once verifiers report it (`verifiedBy`, a trust list of Alipay
 * keys); `undefined` before, or when the verifier does not say.
 */
export const verifiedByOf = (n: Notification.Notification): string | undefined => n.verifiedBy?.keyId

/** Accepts any signature: for bytes the inbox verified when they arrived, and only for them. */
const storedBytes = Verifier.make(() => Effect.succeed(true))

/**
 * Decodes an entry's stored bytes for a replay: the same decoder as a delivery, over bytes verified when they
 * arrived (so not verified again: the key may have been rotated since).
 */
export const decodeStored = (
  entry: { readonly notifyId: string; readonly body: Uint8Array; readonly contentType: string | undefined },
  charset?: Charset.Charset | undefined
): Effect.Effect<Notification.Notification, InboxError> =>
  Notification.decodeWith(
    storedBytes,
    { body: entry.body, contentType: entry.contentType },
    charset === undefined ? {} : { charset }
  ).pipe(
    Effect.mapError(
      (e) =>
        new InboxError({
          reason: "storage",
          message: `inbox: the stored body of ${entry.notifyId} does not decode: ${e.message}`
        })
    )
  )

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
