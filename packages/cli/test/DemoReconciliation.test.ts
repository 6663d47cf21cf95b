// The demo's reconciliation is pure: one task with one winner, told consistently by the sandbox's ledger, the
// inbox, the handler's rows and the journal, agrees; each way one of them can disagree is a problem.
import { assert, describe, it } from "@effect/vitest"
import type * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import type * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import type * as Sandbox from "@witkey/testkit/Sandbox"
import { BigDecimal } from "effect"
import * as DemoReconciliation from "../src/DemoReconciliation.js"

const task = "demo-task-001"
const serial = `${task}-w1`
const key = Notification.businessKeyOf(Protocol.Notify.assign, task, serial)

const transfer: Sandbox.LedgerEntry = {
  _tag: "Transfer",
  partner: "2088101012352995",
  outerTaskId: task,
  serial,
  payeeUserId: "2088102122524333",
  amount: BigDecimal.unsafeFromString("12.34"),
  paidAt: 1_000,
  gmtTransfer: "20261125103000"
}

const entry: Inbox.Entry = {
  notifyId: "n-1",
  businessKey: key,
  subType: Protocol.Notify.assign,
  outerTaskId: task,
  outerTransferNo: serial,
  body: new Uint8Array(1),
  contentType: undefined,
  firstReceivedAt: 2_000,
  lastReceivedAt: 2_000,
  deliveries: 1,
  state: "processed",
  processedAt: 2_000,
  lastError: undefined,
  duplicateOf: undefined,
  status: "processed",
  failures: 0,
  parkedAt: undefined,
  resolvedAt: undefined,
  resolution: undefined,
  bodyRemovedAt: undefined
}

const payout: PayoutJournal.Entry = {
  id: `2088101012352995 ${task} ${serial}`,
  partner: "2088101012352995",
  outerTaskId: task,
  transfers: [serial],
  request: {
    request: { partner: "2088101012352995", outerTaskId: task, transfers: [serial] } as never,
    params: [],
    canonical: "",
    sign: "",
    url: "http://gateway/"
  },
  recordedAt: 500,
  attempts: [{ n: 1, at: 600, result: "HTTP 200", mayHaveReached: true }],
  outcome: { _tag: "Confirmed", verifiedBy: { keyId: "k", status: "active" } },
  outcomeAt: 700
}

// Only the notify_id and the delivery state are read.
const record = (notifyId: string, state: Sandbox.DeliveryState) =>
  ({ notifyId, state }) as unknown as Sandbox.NotificationRecord

const consistent: DemoReconciliation.Input = {
  tasks: [
    {
      partner: "2088101012352995",
      outerTaskId: task,
      transfers: [{ serial, payeeUserId: "2088102122524333", amount: "12.34" }],
      serviceFee: "0.00",
      platformAccount: "2088102122524333"
    }
  ],
  ledger: [transfer],
  notifications: [record("n-1", "acknowledged")],
  rows: [{ business_key: key, amount: "12.34" }],
  entries: [entry],
  payouts: [payout],
  swept: [],
  replayed: [],
  now: 10_000,
  deliveriesFinished: true
}

describe("DemoReconciliation", () => {
  it("agrees when the four records tell one story", () => {
    const result = DemoReconciliation.reconcile(consistent)
    assert.deepStrictEqual(result.problems, [])
    assert.strictEqual(result.journalSettled, 1)
    assert.strictEqual(result.reconciliation.counts.settled, 1)
  })

  it("a payout in the ledger twice is paid twice", () => {
    const result = DemoReconciliation.reconcile({ ...consistent, ledger: [transfer, transfer] })
    assert.strictEqual(result.paidTwice, 1)
    assert.isTrue(result.problems.some((p) => p.includes("paid 2 times")))
  })

  it("a row for another amount, or a second row, disagrees", () => {
    const other = DemoReconciliation.reconcile({
      ...consistent,
      rows: [{ business_key: key, amount: "12.35" }]
    })
    assert.isTrue(other.problems.some((p) => p.includes("amount 12.34 in the ledger, 12.35 processed")))
    const twice = DemoReconciliation.reconcile({
      ...consistent,
      rows: [...consistent.rows, ...consistent.rows]
    })
    assert.isTrue(twice.problems.some((p) => p.includes("processed 2 times")))
  })

  it("a payout the journal does not know as paid disagrees", () => {
    const pending = DemoReconciliation.reconcile({
      ...consistent,
      payouts: [{ ...payout, outcome: { _tag: "Pending" } }]
    })
    assert.strictEqual(pending.journalSettled, 0)
    assert.isTrue(pending.problems.some((p) => p.includes("Pending in the journal")))
    const missing = DemoReconciliation.reconcile({ ...consistent, payouts: [] })
    assert.isTrue(missing.problems.some((p) => p.includes("0 payouts in the journal")))
  })

  it("what Alipay gave up on must be swept and replayed", () => {
    const exhausted = { ...consistent, notifications: [record("n-1", "exhausted")] }
    assert.isTrue(
      DemoReconciliation.reconcile(exhausted).problems.some((p) =>
        p.includes("the inbox's sweep did not find it")
      )
    )
    const notReplayed = DemoReconciliation.reconcile({ ...exhausted, swept: ["n-1"] })
    assert.deepStrictEqual(notReplayed.problems, ["n-1: Alipay gave up on it and it was not replayed"])
    assert.deepStrictEqual(
      DemoReconciliation.reconcile({ ...exhausted, swept: ["n-1"], replayed: ["n-1"] }).problems,
      []
    )
  })

  it("an entry left unsettled in the inbox disagrees", () => {
    const failing = DemoReconciliation.reconcile({
      ...consistent,
      entries: [
        entry,
        { ...entry, notifyId: "n-2", state: "failed", status: "exhausted", processedAt: undefined }
      ]
    })
    assert.isTrue(failing.problems.some((p) => p.includes("n-2: left exhausted")))
  })
})
