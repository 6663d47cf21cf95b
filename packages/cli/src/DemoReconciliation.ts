/**
 * The demo's reconciliation, pure: the sandbox gateway's ledger, the receiver's inbox, the rows its handler
 * wrote and the platform's payout journal must tell one story. Every ledger entry processed exactly once and
 * for its amount, nothing processed that was not paid, nothing paid twice, every payout in the journal settled
 * and matched with its ASSIGN notification by core's `PayoutJournal.reconcile`, and every notification Alipay
 * gave up on found by the inbox's sweep and replayed.
 *
 * @since 0.2.0
 */
import type * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import type * as Sandbox from "@witkey/testkit/Sandbox"
import * as BigDecimal from "effect/BigDecimal"

export interface Input {
  readonly tasks: ReadonlyArray<Sandbox.TaskRegistration>
  readonly ledger: ReadonlyArray<Sandbox.LedgerEntry>
  /** The sandbox's notifications, with their delivery states. */
  readonly notifications: ReadonlyArray<Sandbox.NotificationRecord>
  /** The rows the receiver's handler wrote. */
  readonly rows: ReadonlyArray<{ readonly business_key: string; readonly amount: string }>
  /** The inbox's entries of the demo's tasks. */
  readonly entries: ReadonlyArray<Inbox.Entry>
  readonly payouts: ReadonlyArray<PayoutJournal.Entry>
  /** The notify_ids the inbox's sweep found exhausted, and those a replay settled. */
  readonly swept: ReadonlyArray<string>
  readonly replayed: ReadonlyArray<string>
  /** Epoch milliseconds, on the clock the journal was written with. */
  readonly now: number
  readonly deliveriesFinished: boolean
}

export interface Result {
  readonly inboxProcessed: number
  /** Journal payouts with a settled outcome. */
  readonly journalSettled: number
  /** Ledger entries for a payout the ledger holds already (must be none). */
  readonly paidTwice: number
  readonly reconciliation: PayoutJournal.Reconciliation
  /** Why they do not agree; empty when they do. */
  readonly problems: ReadonlyArray<string>
}

/** The business key of a ledger entry: core's, the one the handler's rows and the inbox are keyed by. */
export const businessKeyOf = (entry: Sandbox.LedgerEntry): string =>
  entry._tag === "Transfer"
    ? Notification.businessKeyOf(Protocol.Notify.assign, entry.outerTaskId, entry.serial)
    : Notification.businessKeyOf(Protocol.Notify.platformProfit, entry.outerTaskId)

const countBy = <A>(items: Iterable<A>, key: (a: A) => string) => {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  return counts
}

export const reconcile = (input: Input): Result => {
  const problems: Array<string> = []
  if (!input.deliveriesFinished) problems.push("deliveries were still running at the end")

  // The ledger: each payout once.
  const ledgerCounts = countBy(input.ledger, businessKeyOf)
  let paidTwice = 0
  for (const [key, n] of ledgerCounts)
    if (n > 1) {
      paidTwice += n - 1
      problems.push(`${key}: paid ${n} times by the gateway`)
    }

  // The handler's rows: each ledger entry processed exactly once, for its amount.
  const expected = new Map(input.ledger.map((entry) => [businessKeyOf(entry), entry.amount] as const))
  const recorded = new Map<string, Array<string>>()
  for (const row of input.rows)
    recorded.set(row.business_key, [...(recorded.get(row.business_key) ?? []), row.amount])
  for (const [key, amount] of expected) {
    const amounts = recorded.get(key) ?? []
    if (amounts.length !== 1)
      problems.push(`${key}: paid once by the gateway, processed ${amounts.length} times`)
    else if (!BigDecimal.equals(BigDecimal.unsafeFromString(amounts[0]!), amount))
      problems.push(`${key}: amount ${BigDecimal.format(amount)} in the ledger, ${amounts[0]} processed`)
  }
  for (const key of recorded.keys())
    if (!expected.has(key)) problems.push(`${key}: processed, but the gateway's ledger has no such payout`)

  // The inbox: one processed notification per ledger entry.
  const inboxProcessed = input.entries.filter((e) => e.state === "processed" && e.duplicateOf === undefined)
  const inboxKeys = new Set(inboxProcessed.map((e) => e.businessKey ?? e.notifyId))
  for (const key of expected.keys())
    if (!inboxKeys.has(key)) problems.push(`${key}: no processed notification in the inbox`)
  if (inboxProcessed.length !== expected.size)
    problems.push(
      `${inboxProcessed.length} processed notifications in the inbox, ${expected.size} ledger entries`
    )
  const unsettled = input.entries.filter((e) => e.state !== "processed" && e.resolvedAt === undefined)
  for (const e of unsettled) problems.push(`${e.notifyId}: left ${e.status} in the inbox`)

  // Every serial paid.
  const paidSerials = new Set(input.ledger.flatMap((e) => (e._tag === "Transfer" ? [e.serial] : [])))
  for (const task of input.tasks)
    for (const t of task.transfers)
      if (!paidSerials.has(t.serial))
        problems.push(`${t.serial}: never paid (the confirm did not go through)`)

  // What Alipay gave up on: found by the sweep, every one replayed.
  const exhausted = new Set(input.notifications.filter((r) => r.state === "exhausted").map((r) => r.notifyId))
  const swept = new Set(input.swept)
  const replayed = new Set(input.replayed)
  for (const id of exhausted) {
    if (!swept.has(id)) problems.push(`${id}: Alipay gave up on it, the inbox's sweep did not find it`)
    if (!replayed.has(id)) problems.push(`${id}: Alipay gave up on it and it was not replayed`)
  }
  for (const id of swept)
    if (!exhausted.has(id)) problems.push(`${id}: swept as exhausted, but Alipay did not give up`)

  // The journal: one settled payout per task, every serial matched with its ASSIGN notification.
  const journalSettled = input.payouts.filter((p) => PayoutJournal.isSettled(p.outcome)).length
  const byTask = countBy(input.payouts, (p) => p.outerTaskId)
  for (const task of input.tasks) {
    const n = byTask.get(task.outerTaskId) ?? 0
    if (n !== 1) problems.push(`${task.outerTaskId}: ${n} payouts in the journal`)
  }
  for (const p of input.payouts)
    if (!PayoutJournal.isPaid(p.outcome)) problems.push(`${p.outerTaskId}: ${p.outcome._tag} in the journal`)
  const reconciliation = PayoutJournal.reconcile({
    payouts: input.payouts,
    notifications: input.entries,
    now: input.now
  })
  const serials = input.tasks.reduce((n, t) => n + t.transfers.length, 0)
  if (reconciliation.counts.settled !== serials)
    problems.push(
      `${reconciliation.counts.settled} of ${serials} serials settled in the journal's reconciliation`
    )
  for (const s of reconciliation.serials)
    if (s.state !== "settled")
      problems.push(`${s.outerTaskId} ${s.serial}: ${s.state} in the journal's reconciliation`)
  for (const m of reconciliation.alreadyPaidMismatches)
    problems.push(`${m.payoutId}: ALREADY_PAID not explained by a re-send of the same request`)

  return { inboxProcessed: inboxProcessed.length, journalSettled, paidTwice, reconciliation, problems }
}
