// The sandbox's registry: partners with their verifiers, tasks with their transfers, and which task owns each
// serial. It only says what exists and is valid; what has been paid is the ledger's (Ledger.ts).
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import type * as Verifier from "@witkey/core/Verifier"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import { BigDecimal, Effect, Either, Option, Redacted } from "effect"
import type { Amount, PartnerRegistration, SandboxError, TaskRegistration } from "../Sandbox.js"
import * as Wire from "./Wire.js"

/** A refusal; the sandbox turns it into a `SandboxError`. */
export interface Problem {
  readonly reason: SandboxError["reason"]
  readonly message: string
}

export interface Partner {
  readonly id: string
  readonly verifier: Verifier.Verifier
  readonly notifyUrl: string | undefined
}

export interface Transfer {
  readonly serial: string
  readonly payeeUserId: string
  readonly amount: BigDecimal.BigDecimal
}

export interface Task {
  readonly partner: string
  readonly outerTaskId: string
  /** In registration order. */
  readonly transfers: ReadonlyMap<string, Transfer>
  readonly serviceFee: BigDecimal.BigDecimal
  readonly serviceCharge: BigDecimal.BigDecimal
  readonly platformAccount: string
  /** Epoch milliseconds. */
  readonly registeredAt: number
}

export interface Registry {
  readonly registerPartner: (registration: PartnerRegistration) => Effect.Effect<void, Problem>
  /** Checks every rule, then registers the task at once, or nothing. */
  readonly registerTask: (registration: TaskRegistration, now: number) => Either.Either<Task, Problem>
  readonly partner: (id: string) => Partner | undefined
  readonly task: (partner: string, outerTaskId: string) => Task | undefined
  /** Every task, in registration order. */
  readonly tasks: () => ReadonlyArray<Task>
  readonly partners: () => ReadonlyArray<Partner>
}

export const key = (...parts: ReadonlyArray<string>) => parts.join("\u0000")

const invalid = (message: string): Problem => ({ reason: "invalid_task", message })

const parseAmount = (field: string, input: Amount) =>
  Either.mapLeft(Wire.parseAmount(input), (m) => invalid(`${field}: ${m}`))

/** A charge rate: a decimal from 0 to 1. */
export const parseRate = (
  input: BigDecimal.BigDecimal | string
): Either.Either<BigDecimal.BigDecimal, Problem> => {
  const rate = typeof input === "string" ? BigDecimal.fromString(input) : Option.some(input)
  return Option.isSome(rate) &&
    !BigDecimal.isNegative(rate.value) &&
    BigDecimal.lessThanOrEqualTo(rate.value, BigDecimal.fromBigInt(1n))
    ? Either.right(rate.value)
    : Either.left(invalid("serviceChargeRate must be a decimal from 0 to 1"))
}

export const make = (options: {
  /** `transfer_detail` separator: a serial may not contain it. */
  readonly separator: string
  /** Charge on the service fee when a task names none. */
  readonly chargeRate: BigDecimal.BigDecimal
}): Registry => {
  const partners = new Map<string, Partner>()
  const tasks = new Map<string, Task>()
  const serialOwner = new Map<string, string>()

  const registerPartner = (registration: PartnerRegistration): Effect.Effect<void, Problem> =>
    Effect.gen(function* () {
      const issues = ConfirmRequest.checkPartner(registration.partner)
      if (issues.length > 0)
        return yield* Effect.fail<Problem>({
          reason: "invalid_partner",
          message: `partner: ${issues[0]!.message}`
        })
      if (registration.notifyUrl !== undefined) {
        const urlIssues = ConfirmRequest.checkNotifyUrl(registration.notifyUrl)
        if (urlIssues.length > 0)
          return yield* Effect.fail<Problem>({
            reason: "invalid_partner",
            message: `notifyUrl: ${urlIssues[0]!.message}`
          })
      }
      const verifier = yield* DsaVerifier.make({ publicKey: Redacted.make(registration.publicKey) }).pipe(
        Effect.mapError((e): Problem => ({
          reason: "invalid_key",
          message: `partner ${registration.partner}: ${e.message}`
        }))
      )
      partners.set(registration.partner, {
        id: registration.partner,
        verifier,
        notifyUrl: registration.notifyUrl
      })
    })

  const registerTask = (task: TaskRegistration, now: number): Either.Either<Task, Problem> =>
    Either.gen(function* () {
      if (!partners.has(task.partner))
        return yield* Either.left<Problem>({
          reason: "unknown_partner",
          message: `partner ${task.partner} is not registered`
        })
      const idIssues = ConfirmRequest.checkOuterTaskId(task.outerTaskId, "outerTaskId")
      if (idIssues.length > 0) return yield* Either.left(invalid(`outerTaskId: ${idIssues[0]!.message}`))
      if (tasks.has(key(task.partner, task.outerTaskId)))
        return yield* Either.left<Problem>({
          reason: "duplicate_task",
          message: `task ${task.outerTaskId} is already registered for partner ${task.partner}`
        })
      if (task.transfers.length === 0)
        return yield* Either.left(invalid("a task needs at least one transfer"))
      if (task.platformAccount.trim() === "")
        return yield* Either.left(invalid("platformAccount must not be empty"))
      const transfers = new Map<string, Transfer>()
      for (const [index, t] of task.transfers.entries()) {
        const field = `transfers[${index}]`
        const serialIssues = ConfirmRequest.checkTransferSerial(
          t.serial,
          `${field}.serial`,
          options.separator
        )
        if (serialIssues.length > 0)
          return yield* Either.left(invalid(`${field}.serial: ${serialIssues[0]!.message}`))
        if (transfers.has(t.serial) || serialOwner.has(key(task.partner, t.serial)))
          return yield* Either.left<Problem>({
            reason: "duplicate_transfer",
            message: `serial "${t.serial}" is already registered for partner ${task.partner}`
          })
        if (t.payeeUserId.trim() === "")
          return yield* Either.left(invalid(`${field}.payeeUserId must not be empty`))
        const amount = yield* parseAmount(`${field}.amount`, t.amount)
        if (!BigDecimal.isPositive(amount))
          return yield* Either.left(invalid(`${field}.amount must be more than 0`))
        transfers.set(t.serial, { serial: t.serial, payeeUserId: t.payeeUserId, amount })
      }
      const serviceFee = yield* parseAmount("serviceFee", task.serviceFee)
      const serviceCharge =
        task.serviceCharge === undefined
          ? Wire.roundAmount(BigDecimal.multiply(serviceFee, options.chargeRate))
          : yield* parseAmount("serviceCharge", task.serviceCharge)
      if (BigDecimal.greaterThan(serviceCharge, serviceFee))
        return yield* Either.left(invalid("serviceCharge must not exceed serviceFee"))
      for (const serial of transfers.keys()) serialOwner.set(key(task.partner, serial), task.outerTaskId)
      const registered: Task = {
        partner: task.partner,
        outerTaskId: task.outerTaskId,
        transfers,
        serviceFee,
        serviceCharge,
        platformAccount: task.platformAccount,
        registeredAt: now
      }
      tasks.set(key(task.partner, task.outerTaskId), registered)
      return registered
    })

  return {
    registerPartner,
    registerTask,
    partner: (id) => partners.get(id),
    task: (partner, outerTaskId) => tasks.get(key(partner, outerTaskId)),
    tasks: () => [...tasks.values()],
    partners: () => [...partners.values()]
  }
}
