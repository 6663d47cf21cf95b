// The sandbox's ledger: who was paid what, when, and which serials and service fees are paid. `pay` is the
// gateway's check-and-pay, one synchronous step: nothing can run between the check and the payout, so
// concurrent calls (a client's re-sends racing a slow first attempt) never pay a serial twice, and a call that
// is refused pays nothing.
import * as Protocol from "@witkey/core/Protocol"
import { BigDecimal } from "effect"
import type { LedgerEntry, TaskRecord } from "../Sandbox.js"
import { key, type Task } from "./Registry.js"

export type Payment =
  | { readonly _tag: "Refused"; readonly code: string }
  /** What this call paid, in the order of the request's serials, the service fee last. */
  | { readonly _tag: "Paid"; readonly entries: ReadonlyArray<LedgerEntry> }

export interface Ledger {
  /**
   * Pays `serials` of `task` (undefined: not registered) at `now` (`gmtTransfer`: the same instant as
   * Alipay writes it), and the service fee with the task's last outstanding transfer.
   */
  readonly pay: (
    task: Task | undefined,
    serials: ReadonlyArray<string>,
    now: number,
    gmtTransfer: string
  ) => Payment
  readonly entries: () => ReadonlyArray<LedgerEntry>
  /** The serials of `task` paid so far. */
  readonly paidSerials: (task: Task) => ReadonlyArray<string>
  /** The task as registered, with what is paid so far. */
  readonly record: (task: Task) => TaskRecord
}

export const make = (): Ledger => {
  const entries: Array<LedgerEntry> = []
  const paid = new Set<string>()
  const profitPaid = new Set<string>()

  const pay: Ledger["pay"] = (task, serials, now, gmtTransfer) => {
    if (task === undefined) return { _tag: "Refused", code: "WITKEY_TASK_NOT_EXIST" }
    if (serials.some((s) => !task.transfers.has(s)))
      return { _tag: "Refused", code: "WITKEY_TRANSFER_NOT_EXIST" }
    if (serials.some((s) => paid.has(key(task.partner, s))))
      return { _tag: "Refused", code: Protocol.ALREADY_PAID_CODE }
    const made: Array<LedgerEntry> = []
    for (const serial of serials) {
      const transfer = task.transfers.get(serial)!
      paid.add(key(task.partner, serial))
      made.push({
        _tag: "Transfer",
        partner: task.partner,
        outerTaskId: task.outerTaskId,
        serial,
        payeeUserId: transfer.payeeUserId,
        amount: transfer.amount,
        paidAt: now,
        gmtTransfer
      })
    }
    const taskKey = key(task.partner, task.outerTaskId)
    const complete = [...task.transfers.keys()].every((s) => paid.has(key(task.partner, s)))
    if (complete && !profitPaid.has(taskKey) && BigDecimal.isPositive(task.serviceFee)) {
      profitPaid.add(taskKey)
      made.push({
        _tag: "PlatformProfit",
        partner: task.partner,
        outerTaskId: task.outerTaskId,
        payeeUserId: task.platformAccount,
        amount: task.serviceFee,
        serviceCharge: task.serviceCharge,
        paidAt: now,
        gmtTransfer
      })
    }
    entries.push(...made)
    return { _tag: "Paid", entries: made }
  }

  const record = (task: Task): TaskRecord => ({
    partner: task.partner,
    outerTaskId: task.outerTaskId,
    transfers: [...task.transfers.values()].map((t) => ({
      ...t,
      paid: paid.has(key(task.partner, t.serial))
    })),
    serviceFee: task.serviceFee,
    serviceCharge: task.serviceCharge,
    platformAccount: task.platformAccount,
    serviceFeePaid: profitPaid.has(key(task.partner, task.outerTaskId)),
    registeredAt: task.registeredAt
  })

  return {
    pay,
    record,
    entries: () => [...entries],
    paidSerials: (task) => [...task.transfers.keys()].filter((s) => paid.has(key(task.partner, s)))
  }
}
