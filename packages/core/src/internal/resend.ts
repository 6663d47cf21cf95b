/**
 * The re-send rules of `Client.send` (PROTOCOL.md §7) as one pure decision: after each attempt, given what
 * happened before, is the outcome known, should the byte-identical request go again, or is it a failure?
 * Written without Effect so that it reads like the rules and a property test can drive it over any sequence
 * of answers; `Client.send` runs it on the retry schedule.
 *
 * @internal
 */
import type { AlreadyConfirmed, Confirmed, Outcome, UnknownOutcome } from "../Client.js"
import * as ErrorCode from "../ErrorCode.js"
import type { GatewayRejected } from "../GatewayResponse.js"
import type { SignedRequest } from "../SignedRequest.js"

/** What one attempt came back with. */
export type Answer = Confirmed | GatewayRejected | UnknownOutcome

/** What is known before the next answer: the request and the unknown outcomes re-sent after, oldest first. */
export interface History {
  readonly request: SignedRequest
  readonly resentAfter: ReadonlyArray<UnknownOutcome>
}

/** The fields of an `UnknownOutcome` to fail with (the caller builds the error). */
export interface Unknown {
  readonly _tag: "Unknown"
  readonly reason: UnknownOutcome["reason"]
  readonly mayHaveReached: boolean
  readonly attempts: number
  readonly outerTaskId: string
  readonly code?: string | undefined
  readonly message: string
}

export type Failure = GatewayRejected | Unknown

export type Step =
  | { readonly _tag: "Done"; readonly outcome: Outcome }
  /** Send again if the schedule allows, with `history`; if it is exhausted, fail with `otherwise`. */
  | {
      readonly _tag: "Resend"
      /** What the retry schedule is given. */
      readonly unknown: UnknownOutcome
      readonly history: History
      readonly otherwise: Unknown
    }
  | { readonly _tag: "Fail"; readonly error: Failure }

export const start = (request: SignedRequest): History => ({ request, resentAfter: [] })

/**
 * Only what a re-send can resolve is re-sent: no answer, or no readable one (transport, non-2xx, malformed).
 * A T that does not verify or names another task is a configuration problem or an attack: a re-send would only
 * earn an unsigned ALREADY_PAID and hide it.
 */
export const isResendable = (e: UnknownOutcome): boolean =>
  e.reason === "transport" || e.reason === "http_status" || e.reason === "malformed"

const unknownOf = (e: UnknownOutcome, mayHavePaid: boolean): Unknown => ({
  _tag: "Unknown",
  reason: e.reason,
  // Once any attempt may have reached the gateway, the outcome can never again be "never sent".
  mayHaveReached: e.mayHaveReached || mayHavePaid,
  attempts: e.attempts,
  outerTaskId: e.outerTaskId,
  ...(e.code === undefined ? {} : { code: e.code }),
  message: e.message
})

export const nextStep = (history: History, answer: Answer): Step => {
  const earlier = history.resentAfter
  const mayHavePaid = earlier.some((u) => u.mayHaveReached)
  const attempts = earlier.length + 1
  switch (answer._tag) {
    case "Confirmed":
      return { _tag: "Done", outcome: answer }
    case "UnknownOutcome": {
      const failure = unknownOf(answer, mayHavePaid)
      return isResendable(answer)
        ? {
            _tag: "Resend",
            unknown: answer,
            history: { ...history, resentAfter: [...earlier, answer] },
            otherwise: failure
          }
        : { _tag: "Fail", error: failure }
    }
    case "GatewayRejected": {
      const outerTaskId = history.request.request.outerTaskId
      // ALREADY_PAID is an answer: an earlier identical confirm went through. It resolves a lost attempt only
      // if one may have reached the gateway; otherwise the payment came from some other call.
      if (ErrorCode.isAlreadyPaid(answer.errorCode))
        return {
          _tag: "Done",
          outcome: {
            _tag: "AlreadyConfirmed",
            outerTaskId,
            code: answer.code,
            attempts,
            afterResend: mayHavePaid,
            resentAfter: earlier.map((u) => u.reason),
            request: history.request
          } satisfies AlreadyConfirmed
        }
      // Any other rejection of a re-send says nothing about the lost attempt, which may have paid (and may be
      // why this one is refused, e.g. WITKEY_TASK_LEF_AMOUNT_NOT_ENOUGH): still unknown.
      if (mayHavePaid)
        return {
          _tag: "Fail",
          error: {
            _tag: "Unknown",
            reason: "rejected_after_resend",
            mayHaveReached: true,
            attempts,
            outerTaskId,
            code: answer.code,
            message: `a re-send was rejected with ${answer.code} after an earlier attempt that may have reached the gateway; reconcile with the notifications`
          }
        }
      return { _tag: "Fail", error: answer }
    }
  }
}
