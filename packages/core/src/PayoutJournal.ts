/**
 * The payout journal: what a platform sent, so that a crash between signing and learning the outcome does not
 * lose the knowledge that a payout may have happened (issue 15). Before a signed request is first sent, the
 * journal records it (the byte-identical URL, the task, the serials, the time); each attempt and the outcome
 * follow. `JournaledClient` writes it; after a crash, `JournaledClient.resume` re-sends every payout whose
 * outcome is not settled, byte for byte. `reconcile` (pure) matches the journal with the inbox's ASSIGN
 * notifications, one per paid serial.
 *
 * A payout is identified by its partner, task and serial *set*: preparing the same payout again (a new DSA
 * signature, so a new URL) finds the one on record, whose URL is what gets sent. The same payout with another
 * notify_url, charset or gateway is refused (`conflict`), not sent as the recorded one: its notifications would
 * go elsewhere than the caller asked. Writes on a payout are
 * guarded by a claim (an owner and a lease on Effect's Clock), so two processes resuming at once never send or
 * record one payout concurrently. (Re-sending the identical request would be safe on the wire anyway: the
 * gateway answers `ALREADY_PAID`; the claim keeps the record single.)
 *
 * Implementations: `@witkey/inbox-sql`'s `SqlPayoutJournal` (SQLite, PostgreSQL) and an in-memory one in
 * `@witkey/testkit`, both held to `PayoutJournalSuite`.
 *
 * @since 0.1.0
 */
import type { Option } from "effect"
import { Clock, Context, Duration, Effect, Schema } from "effect"
import * as ConfirmRequest from "./ConfirmRequest.js"
import * as Inbox from "./Inbox.js"
import * as Protocol from "./Protocol.js"
import type * as SignedRequest from "./SignedRequest.js"
import type * as Verifier from "./Verifier.js"

/** Where a payout stands. `Pending`: recorded, no outcome yet (being sent, or the sender died). */
export type Outcome =
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Confirmed"; readonly verifiedBy: Verifier.Match }
  | { readonly _tag: "AlreadyConfirmed"; readonly code: string; readonly afterResend: boolean }
  | { readonly _tag: "Rejected"; readonly code: string }
  | {
      readonly _tag: "Unknown"
      readonly reason: string
      readonly mayHaveReached: boolean
      readonly message: string
    }

export const Outcome: Schema.Schema<Outcome> = Schema.Union(
  Schema.TaggedStruct("Pending", {}),
  Schema.TaggedStruct("Confirmed", {
    verifiedBy: Schema.Struct({ keyId: Schema.String, status: Schema.Literal("active", "retired") })
  }),
  Schema.TaggedStruct("AlreadyConfirmed", { code: Schema.String, afterResend: Schema.Boolean }),
  Schema.TaggedStruct("Rejected", { code: Schema.String }),
  Schema.TaggedStruct("Unknown", {
    reason: Schema.String,
    mayHaveReached: Schema.Boolean,
    message: Schema.String
  })
)

/** Settled: the gateway gave a verifiable answer (paid, paid before, or refused before anything could pay). */
export const isSettled = (outcome: Outcome): boolean =>
  outcome._tag === "Confirmed" || outcome._tag === "AlreadyConfirmed" || outcome._tag === "Rejected"

/** Paid: nothing more to send. A rejected payout may be sent again (the same URL), e.g. once the task exists. */
export const isPaid = (outcome: Outcome): boolean =>
  outcome._tag === "Confirmed" || outcome._tag === "AlreadyConfirmed"

/** One send of the identical request. */
export interface Attempt {
  /** 1, 2, … per payout. */
  readonly n: number
  /** Epoch milliseconds (Effect's Clock) when it started. */
  readonly at: number
  /** What the transport saw (`HTTP 200`, `transport reset: …`); undefined if the sender died during it. */
  readonly result: string | undefined
  /** False only when the request provably never left (a refused connection). */
  readonly mayHaveReached: boolean
}

export interface Entry {
  readonly id: string
  readonly partner: string
  readonly outerTaskId: string
  /** The serials in request order. */
  readonly transfers: ReadonlyArray<string>
  /** The signed request; `request.url` is the byte-identical URL every attempt sends. */
  readonly request: SignedRequest.SignedRequest
  readonly recordedAt: number
  readonly attempts: ReadonlyArray<Attempt>
  readonly outcome: Outcome
  readonly outcomeAt: number | undefined
}

/**
 * `conflict`: the payout is on record with another notify_url, charset or gateway (`record`). `unreadable`: the
 * payout's stored row does not decode (`get`); listings leave such rows out and `unreadable` names them.
 */
export class JournalError extends Schema.TaggedError<JournalError>()("JournalError", {
  reason: Schema.Literal("storage", "busy", "not_found", "conflict", "unreadable"),
  message: Schema.String
}) {}

/**
 * A stored payout that does not decode (edited by hand, written by a newer version, damaged): what could be read
 * of it. It is never re-sent; `reconcile` counts it as an alarm.
 */
export interface Unreadable {
  readonly id: string
  readonly outerTaskId: string
  readonly transfers: ReadonlyArray<string>
  /** The stored outcome's tag as written (`Pending`, `Unknown`, …). */
  readonly outcomeTag: string
  readonly recordedAt: number
  /** What did not decode. */
  readonly problem: string
}

/** Who holds a payout, and until when (epoch milliseconds). */
export interface Claim {
  readonly owner: string
  readonly until: number
}

export interface PayoutJournal {
  /**
   * Records a signed request before it is first sent, claimed by `claim.owner`. If the payout (partner, task,
   * serial set) is on record already, nothing is written: the entry on record is returned, and claimed for
   * the caller if it is not paid and free. `claimed` says whether the caller may send it. Fails `conflict`
   * (nothing written or claimed) when the payout on record differs from `request` in notify_url, charset or
   * gateway (`conflicts`).
   */
  readonly record: (
    request: SignedRequest.SignedRequest,
    claim: Claim
  ) => Effect.Effect<
    { readonly entry: Entry; readonly created: boolean; readonly claimed: boolean },
    JournalError
  >
  /**
   * Claims a payout that is not paid (free, its lease over, or already the owner's). False when it is paid or
   * someone else holds it: only one claim holder at a time sends or writes.
   */
  readonly claim: (id: string, claim: Claim) => Effect.Effect<boolean, JournalError>
  /**
   * Records that the owner starts an attempt now; its number. Fails `busy` if the owner lost the claim or its
   * lease is over: a lease past its time may be taken over by another sender at any moment (`claim`), so an
   * attempt begun on it could run beside that sender's.
   */
  readonly startAttempt: (id: string, owner: string) => Effect.Effect<number, JournalError>
  /** What the transport saw for attempt `n`. */
  readonly finishAttempt: (
    id: string,
    n: number,
    result: { readonly text: string; readonly mayHaveReached: boolean }
  ) => Effect.Effect<void, JournalError>
  /**
   * Writes the outcome and releases the claim; false (nothing written) when the owner no longer holds it, so
   * a sender whose lease ran out cannot overwrite what the next holder records.
   */
  readonly finish: (id: string, owner: string, outcome: Outcome) => Effect.Effect<boolean, JournalError>
  /** Gives up the owner's claim, the outcome untouched; false when the owner does not hold it. */
  readonly release: (id: string, owner: string) => Effect.Effect<boolean, JournalError>
  /** The payout; fails `unreadable` (naming it) when its row does not decode. */
  readonly get: (id: string) => Effect.Effect<Option.Option<Entry>, JournalError>
  /**
   * Every payout of a task, oldest first. Listings leave out rows that do not decode, with a logged warning
   * naming each, so that one damaged row never hides the others: `unreadable` lists them.
   */
  readonly byTask: (outerTaskId: string) => Effect.Effect<ReadonlyArray<Entry>, JournalError>
  /** Every payout whose outcome is not settled (Pending or Unknown), oldest first. */
  readonly unsettled: Effect.Effect<ReadonlyArray<Entry>, JournalError>
  /** Every payout, oldest first. */
  readonly all: Effect.Effect<ReadonlyArray<Entry>, JournalError>
  /** Every stored payout that does not decode, oldest first. */
  readonly unreadable: Effect.Effect<ReadonlyArray<Unreadable>, JournalError>
}

export const PayoutJournal: Context.Tag<PayoutJournal, PayoutJournal> = Context.GenericTag<PayoutJournal>(
  "@witkey/core/PayoutJournal"
)

/** A payout's identity: partner, task and the serial set (sorted; serials hold no whitespace, §2). */
export const payoutId = (request: ConfirmRequest.ConfirmRequest): string =>
  [request.partner, request.outerTaskId, ...[...request.transfers].sort()].join(" ")

/** The endpoint a signed URL goes to: the gateway, without the query. */
const endpoint = (url: string): string => {
  const q = url.indexOf("?")
  return q < 0 ? url : url.slice(0, q)
}

/**
 * How `request` differs from the recorded request of the same payout (same partner, task and serial set), in
 * what the payout's identity leaves out but the gateway acts on: notify_url (where the notifications go),
 * charset, gateway. Empty when sending the recorded URL does what `request` asks. The serials' order and the
 * signature may differ: the gateway pays the same.
 */
export const conflicts = (
  recorded: SignedRequest.SignedRequest,
  request: SignedRequest.SignedRequest
): ReadonlyArray<string> => {
  const a = recorded.request
  const b = request.request
  const differences: Array<string> = []
  if (a.notifyUrl !== b.notifyUrl)
    differences.push(
      `notify_url ${JSON.stringify(a.notifyUrl ?? null)}, not ${JSON.stringify(b.notifyUrl ?? null)}`
    )
  if (a.charset !== b.charset) differences.push(`charset ${a.charset}, not ${b.charset}`)
  if (endpoint(recorded.url) !== endpoint(request.url))
    differences.push(`gateway ${endpoint(recorded.url)}, not ${endpoint(request.url)}`)
  return differences
}

/** `conflict` for a payout on record whose request differs from `request`, if it does. */
export const conflictError = (
  recorded: Entry,
  request: SignedRequest.SignedRequest
): JournalError | undefined => {
  const differences = conflicts(recorded.request, request)
  return differences.length === 0
    ? undefined
    : new JournalError({
        reason: "conflict",
        message: `payout "${recorded.id}" is on record with ${differences.join(", ")}: not sent; send it as recorded, or pay other serials`
      })
}

/** How a signed request is stored: plain data, checked again when read back. */
export const SignedRequestJson = Schema.parseJson(
  Schema.Struct({
    request: ConfirmRequest.ConfirmRequest,
    params: Schema.Array(Schema.Tuple(Schema.String, Schema.String)),
    canonical: Schema.String,
    sign: Schema.String,
    url: Schema.String
  })
)

/** How an outcome is stored. */
export const OutcomeJson = Schema.parseJson(Outcome)

// ---------------------------------------------------------------------------------------------------------
// Reconciliation
// ---------------------------------------------------------------------------------------------------------

/** Alipay's notification window: the first delivery and 7 retries, 24 h 22 min (PROTOCOL.md §6). */
export const NOTIFY_WINDOW: Duration.Duration = Duration.minutes(
  Protocol.NOTIFY_RETRY_DELAYS_MINUTES.reduce((a, b) => a + b, 0)
)

/**
 * What the books say about one serial of a task:
 * - `settled`: requested, and its ASSIGN notification is in the inbox.
 * - `awaiting_notification`: confirmed (or already confirmed), no ASSIGN yet, within the window.
 * - `notification_overdue` (alarm): confirmed, but no ASSIGN arrived within the window.
 * - `unresolved`: sent, outcome unknown (or never written), no ASSIGN; within the window: resume it.
 * - `unknown_expired` (alarm): outcome unknown and no ASSIGN, past the window: Alipay would have told us.
 * - `rejected`: refused with a code; nothing paid, and no ASSIGN says otherwise.
 * - `unrequested` (alarm): an ASSIGN for a serial no journaled payout asked for.
 */
export type SerialState =
  | "settled"
  | "awaiting_notification"
  | "notification_overdue"
  | "unresolved"
  | "unknown_expired"
  | "rejected"
  | "unrequested"

export const ALARMS: ReadonlySet<SerialState> = new Set<SerialState>([
  "notification_overdue",
  "unknown_expired",
  "unrequested"
])

export interface SerialReport {
  readonly outerTaskId: string
  readonly serial: string
  readonly state: SerialState
  readonly alarm: boolean
  /** The payouts that asked for this serial, oldest first. */
  readonly payoutIds: ReadonlyArray<string>
  /** Its ASSIGN notification, if any. */
  readonly notifyId: string | undefined
}

/**
 * PROTOCOL.md §7's caveat: the gateway answers `ALREADY_PAID` when *any* serial was paid before. Flagged when
 * such an answer is not explained by a lost attempt of the same request, or when another payout of the task
 * asked for a different serial set overlapping this one. `unnotified` are this payout's serials with no
 * ASSIGN: those may never have been paid.
 */
export interface AlreadyPaidMismatch {
  readonly outerTaskId: string
  readonly payoutId: string
  readonly transfers: ReadonlyArray<string>
  readonly others: ReadonlyArray<ReadonlyArray<string>>
  readonly unnotified: ReadonlyArray<string>
}

export interface Reconciliation {
  readonly serials: ReadonlyArray<SerialReport>
  readonly alreadyPaidMismatches: ReadonlyArray<AlreadyPaidMismatch>
  readonly counts: Readonly<Record<SerialState, number>>
  /** Stored payouts that do not decode: each an alarm (what they sent and how it ended is not known). */
  readonly unreadable: ReadonlyArray<Unreadable>
  /** Serials in an alarm state, plus flagged ALREADY_PAID answers, plus unreadable payouts. */
  readonly alarms: number
}

export interface ReconcileInput {
  readonly payouts: ReadonlyArray<Entry>
  /** The inbox's entries (any state, any sub type: only ASSIGN notifications count). */
  readonly notifications: ReadonlyArray<Inbox.Entry>
  /** The journal's rows that do not decode (`PayoutJournal.unreadable`); default none. */
  readonly unreadable?: ReadonlyArray<Unreadable> | undefined
  /** Epoch milliseconds. */
  readonly now: number
  /** Default `NOTIFY_WINDOW`. */
  readonly window?: Duration.DurationInput | undefined
}

const lastActivity = (entry: Entry): number =>
  entry.attempts.reduce((latest, a) => Math.max(latest, a.at), entry.outcomeAt ?? entry.recordedAt)

/** Matches payouts with ASSIGN notifications, one per paid serial. Pure; the order of its inputs is irrelevant. */
export const reconcile = (input: ReconcileInput): Reconciliation => {
  const window = Duration.toMillis(Duration.decode(input.window ?? NOTIFY_WINDOW))
  const key = (task: string, serial: string) => `${task}\n${serial}`
  const notified = new Map<string, Inbox.Entry>()
  for (const n of input.notifications) {
    if (
      n.subType !== Protocol.Notify.assign ||
      n.outerTaskId === undefined ||
      n.outerTransferNo === undefined
    )
      continue
    const k = key(n.outerTaskId, n.outerTransferNo)
    const seen = notified.get(k)
    // One event may arrive under several notify_ids; the earliest one stands for it.
    if (seen === undefined || n.firstReceivedAt < seen.firstReceivedAt) notified.set(k, n)
  }
  const payouts = [...input.payouts].sort((a, b) => a.recordedAt - b.recordedAt || (a.id < b.id ? -1 : 1))
  const bySerial = new Map<string, Array<Entry>>()
  for (const p of payouts)
    for (const serial of p.transfers) {
      const k = key(p.outerTaskId, serial)
      const list = bySerial.get(k)
      if (list) list.push(p)
      else bySerial.set(k, [p])
    }

  const serials: Array<SerialReport> = []
  const report = (task: string, serial: string, state: SerialState, ids: ReadonlyArray<string>) =>
    serials.push({
      outerTaskId: task,
      serial,
      state,
      alarm: ALARMS.has(state),
      payoutIds: ids,
      notifyId: notified.get(key(task, serial))?.notifyId
    })
  for (const [k, list] of bySerial) {
    const first = list[0]!
    const serial = k.slice(first.outerTaskId.length + 1)
    const ids = list.map((p) => p.id)
    if (notified.has(k)) {
      report(first.outerTaskId, serial, "settled", ids)
      continue
    }
    const paid = list.filter((p) => p.outcome._tag === "Confirmed" || p.outcome._tag === "AlreadyConfirmed")
    const open = list.filter((p) => !isSettled(p.outcome))
    const expired = (ps: ReadonlyArray<Entry>) => ps.every((p) => input.now - lastActivity(p) > window)
    const state: SerialState =
      paid.length > 0
        ? expired(paid)
          ? "notification_overdue"
          : "awaiting_notification"
        : open.length > 0
          ? expired(open)
            ? "unknown_expired"
            : "unresolved"
          : "rejected"
    report(first.outerTaskId, serial, state, ids)
  }
  for (const [k, n] of notified)
    if (!bySerial.has(k)) report(n.outerTaskId!, n.outerTransferNo!, "unrequested", [])
  serials.sort((a, b) =>
    a.outerTaskId === b.outerTaskId
      ? a.serial < b.serial
        ? -1
        : a.serial > b.serial
          ? 1
          : 0
      : a.outerTaskId < b.outerTaskId
        ? -1
        : 1
  )

  const alreadyPaidMismatches: Array<AlreadyPaidMismatch> = []
  for (const p of payouts) {
    if (p.outcome._tag !== "AlreadyConfirmed") continue
    const mine = new Set(p.transfers)
    const others = payouts
      .filter((o) => o.id !== p.id && o.outerTaskId === p.outerTaskId && o.partner === p.partner)
      .map((o) => o.transfers)
    const overlapping = others.some((t) => t.some((s) => mine.has(s)))
    if (p.outcome.afterResend && !overlapping) continue
    alreadyPaidMismatches.push({
      outerTaskId: p.outerTaskId,
      payoutId: p.id,
      transfers: p.transfers,
      others,
      unnotified: p.transfers.filter((s) => !notified.has(key(p.outerTaskId, s)))
    })
  }

  const counts = {
    settled: 0,
    awaiting_notification: 0,
    notification_overdue: 0,
    unresolved: 0,
    unknown_expired: 0,
    rejected: 0,
    unrequested: 0
  } satisfies Record<SerialState, number>
  for (const s of serials) counts[s.state]++
  const unreadable = input.unreadable ?? []
  return {
    serials,
    alreadyPaidMismatches,
    counts,
    unreadable,
    alarms: serials.filter((s) => s.alarm).length + alreadyPaidMismatches.length + unreadable.length
  }
}

/**
 * `reconcile` over the services in context: the journal's payouts of `outerTaskIds` (default: every task in
 * the journal) and the inbox's notifications of those tasks, at the Clock's time. A notification nobody
 * requested is found only for the tasks looked at: the inbox is queried by task. The journal's unreadable rows
 * (of those tasks) are alarms.
 */
export const reconcileTasks = (
  options: {
    readonly outerTaskIds?: ReadonlyArray<string> | undefined
    readonly window?: Duration.DurationInput
  } = {}
): Effect.Effect<Reconciliation, JournalError | Inbox.InboxError, PayoutJournal | Inbox.Inbox> =>
  Effect.gen(function* () {
    const journal = yield* PayoutJournal
    const inbox = yield* Inbox.Inbox
    const payouts =
      options.outerTaskIds === undefined
        ? yield* journal.all
        : (yield* Effect.forEach(options.outerTaskIds, journal.byTask)).flat()
    const wanted = options.outerTaskIds === undefined ? undefined : new Set(options.outerTaskIds)
    const unreadable = (yield* journal.unreadable).filter(
      (u) => wanted === undefined || wanted.has(u.outerTaskId)
    )
    const tasks = [...new Set(options.outerTaskIds ?? [...payouts, ...unreadable].map((p) => p.outerTaskId))]
    const notifications = (yield* Effect.forEach(tasks, inbox.byTask)).flat()
    return reconcile({
      payouts,
      notifications,
      unreadable,
      now: yield* Clock.currentTimeMillis,
      window: options.window
    })
  })
