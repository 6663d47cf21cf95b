import { assert, describe, it } from "@effect/vitest"
import { Duration, Either, FastCheck as fc } from "effect"
import * as ConfirmRequest from "../src/ConfirmRequest.js"
import type * as Inbox from "../src/Inbox.js"
import * as PayoutJournal from "../src/PayoutJournal.js"
import * as Protocol from "../src/Protocol.js"

const PARTNER = "2088101012352995"
const HOUR = 3_600_000
const WINDOW = Duration.toMillis(PayoutJournal.NOTIFY_WINDOW)

const payout = (
  task: string,
  transfers: ReadonlyArray<string>,
  outcome: PayoutJournal.Outcome,
  at = 0
): PayoutJournal.Entry => ({
  id: `${PARTNER} ${task} ${[...transfers].sort().join(" ")}`,
  partner: PARTNER,
  outerTaskId: task,
  transfers,
  request: {
    request: Either.getOrThrow(ConfirmRequest.validate({ partner: PARTNER, outerTaskId: task, transfers })),
    params: [],
    canonical: "",
    sign: "",
    url: `https://gateway.invalid/?${task}`
  },
  recordedAt: at,
  attempts: [{ n: 1, at, result: "HTTP 200", mayHaveReached: true }],
  outcome,
  outcomeAt: outcome._tag === "Pending" ? undefined : at
})

const assign = (
  task: string,
  serial: string,
  at = 0,
  subType: string = Protocol.Notify.assign
): Inbox.Entry => ({
  notifyId: `n-${task}-${serial}-${at}`,
  businessKey: `${subType}|${task}|${serial}`,
  subType,
  outerTaskId: task,
  outerTransferNo: serial,
  body: new Uint8Array(0),
  contentType: undefined,
  firstReceivedAt: at,
  lastReceivedAt: at,
  deliveries: 1,
  state: "processed",
  processedAt: at,
  lastError: undefined,
  duplicateOf: undefined,
  status: "processed",
  failures: 0,
  parkedAt: undefined,
  resolvedAt: undefined,
  resolution: undefined,
  bodyRemovedAt: undefined
})

const confirmed: PayoutJournal.Outcome = { _tag: "Confirmed", verifiedBy: { keyId: "k", status: "active" } }
const pending: PayoutJournal.Outcome = { _tag: "Pending" }
const unknown: PayoutJournal.Outcome = {
  _tag: "Unknown",
  reason: "transport",
  mayHaveReached: true,
  message: "reset"
}
const alreadyPaid = (afterResend: boolean): PayoutJournal.Outcome => ({
  _tag: "AlreadyConfirmed",
  code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID",
  afterResend
})

const states = (r: PayoutJournal.Reconciliation) =>
  r.serials.map((s) => `${s.outerTaskId}/${s.serial}: ${s.state}`)

describe("PayoutJournal.reconcile", () => {
  it("sorts every serial into its category, with alarms for the three that need a person", () => {
    const now = 30 * HOUR
    const r = PayoutJournal.reconcile({
      payouts: [
        payout("a", ["1", "2"], confirmed, now - HOUR),
        payout("b", ["1"], confirmed, now - HOUR),
        payout("c", ["1"], confirmed, 0),
        payout("d", ["1"], unknown, now - HOUR),
        payout("e", ["1"], pending, 0),
        payout("f", ["1"], { _tag: "Rejected", code: "WITKEY_TASK_NOT_EXIST" }, now - HOUR)
      ],
      notifications: [
        assign("a", "1", now - HOUR),
        assign("a", "2", now - HOUR),
        assign("g", "9", now - HOUR),
        // Not ASSIGN: the service fee says nothing about a serial.
        assign("b", "1", now - HOUR, Protocol.Notify.platformProfit)
      ],
      now
    })
    assert.deepStrictEqual(states(r), [
      "a/1: settled",
      "a/2: settled",
      "b/1: awaiting_notification",
      "c/1: notification_overdue",
      "d/1: unresolved",
      "e/1: unknown_expired",
      "f/1: rejected",
      "g/9: unrequested"
    ])
    assert.deepStrictEqual(
      r.serials.filter((s) => s.alarm).map((s) => s.state),
      ["notification_overdue", "unknown_expired", "unrequested"]
    )
    assert.strictEqual(r.alarms, 3)
    assert.strictEqual(r.serials[0]!.notifyId, `n-a-1-${now - HOUR}`)
    assert.deepStrictEqual(r.serials[0]!.payoutIds, [`${PARTNER} a 1 2`])
    assert.strictEqual(r.counts.settled, 2)
  })

  it("the window is Alipay's 24 h 22 min from the payout's last attempt", () => {
    assert.strictEqual(WINDOW, (24 * 60 + 22) * 60_000)
    const at = 5 * HOUR
    const within = PayoutJournal.reconcile({
      payouts: [payout("t", ["1"], unknown, at)],
      notifications: [],
      now: at + WINDOW
    })
    assert.deepStrictEqual(states(within), ["t/1: unresolved"])
    const past = PayoutJournal.reconcile({
      payouts: [payout("t", ["1"], unknown, at)],
      notifications: [],
      now: at + WINDOW + 1
    })
    assert.deepStrictEqual(states(past), ["t/1: unknown_expired"])
  })

  it("flags ALREADY_PAID for serials that differ from an earlier request, or not explained by a lost attempt", () => {
    const r = PayoutJournal.reconcile({
      payouts: [
        payout("t", ["1", "2"], confirmed, 0),
        // The earlier request paid 1 and 2; this one asks for 2 and 3 and hears ALREADY_PAID: 3 was never paid.
        payout("t", ["2", "3"], alreadyPaid(true), HOUR),
        // A lost attempt of this very request explains it: not flagged.
        payout("u", ["1"], alreadyPaid(true), HOUR),
        // No lost attempt: some other call paid, which the journal does not know.
        payout("v", ["1"], alreadyPaid(false), HOUR)
      ],
      notifications: [assign("t", "1"), assign("t", "2"), assign("u", "1"), assign("v", "1")],
      now: 2 * HOUR
    })
    assert.deepStrictEqual(
      r.alreadyPaidMismatches.map((m) => [m.outerTaskId, m.transfers, m.others, m.unnotified]),
      [
        ["t", ["2", "3"], [["1", "2"]], ["3"]],
        ["v", ["1"], [], []]
      ]
    )
    assert.deepStrictEqual(states(r), [
      "t/1: settled",
      "t/2: settled",
      "t/3: awaiting_notification",
      "u/1: settled",
      "v/1: settled"
    ])
    assert.strictEqual(r.alarms, 2)
  })

  const task = fc.constantFrom("t1", "t2", "t3")
  const serial = fc.constantFrom("1", "2", "3", "4")
  const outcome = fc.constantFrom(confirmed, pending, unknown, alreadyPaid(true), alreadyPaid(false), {
    _tag: "Rejected" as const,
    code: "X"
  })
  const payouts = fc.array(
    fc.tuple(
      task,
      fc.uniqueArray(serial, { minLength: 1, maxLength: 3 }),
      outcome,
      fc.nat({ max: 60 * HOUR })
    ),
    { maxLength: 6 }
  )
  const notifications = fc.array(fc.tuple(task, serial, fc.nat({ max: 60 * HOUR })), { maxLength: 8 })

  it.prop(
    "every requested or notified serial is reported once; settled exactly when both; order of inputs is irrelevant",
    [payouts, notifications, fc.nat({ max: 80 * HOUR })],
    ([ps, ns, now]) => {
      // One payout per serial set, as the journal keys them.
      const entries = [
        ...new Map(ps.map(([t, s, o, at]) => [`${t} ${[...s].sort()}`, payout(t, s, o, at)])).values()
      ]
      const inbox = ns.map(([t, s, at]) => assign(t, s, at))
      const r = PayoutJournal.reconcile({ payouts: entries, notifications: inbox, now })
      const requested = new Set(entries.flatMap((e) => e.transfers.map((s) => `${e.outerTaskId}/${s}`)))
      const notified = new Set(inbox.map((n) => `${n.outerTaskId}/${n.outerTransferNo}`))
      const reported = r.serials.map((s) => `${s.outerTaskId}/${s.serial}`)
      assert.strictEqual(new Set(reported).size, reported.length)
      assert.deepStrictEqual(new Set(reported), new Set([...requested, ...notified]))
      for (const s of r.serials) {
        const k = `${s.outerTaskId}/${s.serial}`
        assert.strictEqual(s.state === "settled", requested.has(k) && notified.has(k))
        assert.strictEqual(s.state === "unrequested", !requested.has(k))
        assert.strictEqual(s.alarm, PayoutJournal.ALARMS.has(s.state))
      }
      assert.strictEqual(r.alarms, r.serials.filter((s) => s.alarm).length + r.alreadyPaidMismatches.length)
      const reversed = PayoutJournal.reconcile({
        payouts: [...entries].reverse(),
        notifications: [...inbox].reverse(),
        now
      })
      assert.deepStrictEqual(states(reversed), states(r))
    }
  )
})
