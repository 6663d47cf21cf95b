/**
 * The misbehaviours the sandbox can be told to show, so that a client and a notification endpoint can be
 * tested against everything the real gateway does on a bad day.
 *
 * Two kinds, queued separately on a `Sandbox` (or drawn by a seeded PRNG, see `Sandbox.RandomFaults`):
 *
 * - `AnswerFault`: the synchronous answer to one `confirm.by.platform` call. Each call to the gateway's
 *   confirm service consumes the next queued fault (notify_verify calls never do).
 * - `NotifyFault`: the notifications one successful call produces (its batch: one ASSIGN per paid serial and,
 *   when the task is complete, the PLATFORM_PROFIT). Each successful call consumes the next queued fault.
 *
 * An answer fault either replaces processing (the call is answered without touching the ledger: `Reject`,
 * `Raw`, and `Drop` / `ServerError` with `applied: false`) or garbles the answer after normal processing (the
 * payout, if the call was valid, went through: `Delay`, `Drop`, `ServerError` by default, `Truncated`,
 * `Unsigned`, `WrongSignature`). The second kind is the one that tests idempotency: the platform sees an
 * unknown outcome although it was paid.
 *
 * @since 0.1.0
 */
import type { RawResponse } from "@witkey/core/Transport"
import { Duration } from "effect"
import type { Prng } from "./internal/Prng.js"

export type AnswerFault =
  /** Answer normally, after `duration` on the Effect Clock (in-process: adjust the TestClock). */
  | { readonly _tag: "Delay"; readonly duration: Duration.Duration }
  /**
   * No answer. In-process the transport fails with `TransportError` (`hang`: reason `timeout`; `reset`:
   * reason `network`; both `mayHaveReached: true`). Over HTTP, `hang` never answers (the client must time
   * out) and `reset` destroys the connection.
   */
  | { readonly _tag: "Drop"; readonly mode: "hang" | "reset"; readonly applied: boolean }
  /** An HTML error page with a 5xx status, as a proxy in front of the gateway would answer. */
  | { readonly _tag: "ServerError"; readonly status: number; readonly applied: boolean }
  /** The normal answer cut in half (after processing). */
  | { readonly _tag: "Truncated" }
  /** `is_success=T` for the request's task without `<sign>`/`<sign_type>` (after processing). */
  | { readonly _tag: "Unsigned" }
  /** `is_success=T` for the request's task signed with an unrelated key (after processing). */
  | { readonly _tag: "WrongSignature" }
  /** `is_success=F` with this code, nothing processed (e.g. `SYSTEM_ERROR`). */
  | { readonly _tag: "Reject"; readonly code: string }
  /** Exactly this answer, nothing processed. */
  | { readonly _tag: "Raw"; readonly response: RawResponse }

export type NotifyFault =
  /** Every first delivery of the batch is POSTed twice, concurrently. */
  | { readonly _tag: "Duplicate" }
  /** The batch's first deliveries happen `by` later than usual (retries keep their schedule after it). */
  | { readonly _tag: "Late"; readonly by: Duration.Duration }
  /** The batch is delivered last-first: notification i of n starts (n - 1 - i) seconds late. */
  | { readonly _tag: "Reorder" }
  /** Content-Type `application/x-www-form-urlencoded; text/html; charset=<charset>`, as Alipay really sends. */
  | { readonly _tag: "MalformedContentType" }
  /** Each event is delivered again under a new notify_id, `after` the first one (same payload, new id). */
  | { readonly _tag: "Reissue"; readonly after: Duration.Duration }

export type AnswerFaultTag = AnswerFault["_tag"]
export type NotifyFaultTag = NotifyFault["_tag"]

export const delay = (duration: Duration.DurationInput): AnswerFault => ({
  _tag: "Delay",
  duration: Duration.decode(duration)
})

/** Default: `hang`, applied (the payout went through and the answer was lost). */
export const drop = (
  options: { readonly mode?: "hang" | "reset" | undefined; readonly applied?: boolean | undefined } = {}
): AnswerFault => ({ _tag: "Drop", mode: options.mode ?? "hang", applied: options.applied ?? true })

/** Default: 502, applied. */
export const serverError = (
  status = 502,
  options: { readonly applied?: boolean | undefined } = {}
): AnswerFault => ({ _tag: "ServerError", status, applied: options.applied ?? true })

export const truncated: AnswerFault = { _tag: "Truncated" }
export const unsigned: AnswerFault = { _tag: "Unsigned" }
export const wrongSignature: AnswerFault = { _tag: "WrongSignature" }
export const reject = (code: string): AnswerFault => ({ _tag: "Reject", code })
export const raw = (response: RawResponse): AnswerFault => ({ _tag: "Raw", response })

export const duplicate: NotifyFault = { _tag: "Duplicate" }
export const late = (by: Duration.DurationInput): NotifyFault => ({ _tag: "Late", by: Duration.decode(by) })
export const reorder: NotifyFault = { _tag: "Reorder" }
export const malformedContentType: NotifyFault = { _tag: "MalformedContentType" }
/** Default: one hour after the original. */
export const reissue = (after: Duration.DurationInput = "1 hour"): NotifyFault => ({
  _tag: "Reissue",
  after: Duration.decode(after)
})

/** Whether the payout is processed before this fault shapes the answer. */
export const processes = (fault: AnswerFault | undefined): boolean => {
  if (fault === undefined) return true
  switch (fault._tag) {
    case "Reject":
    case "Raw":
      return false
    case "Drop":
    case "ServerError":
      return fault.applied
    default:
      return true
  }
}

// ---------------------------------------------------------------------------------------------------------
// Drawing faults from a seeded PRNG
// ---------------------------------------------------------------------------------------------------------

export interface RandomFaults {
  /** Seed of the deterministic PRNG: the same seed gives the same faults for the same sequence of calls. */
  readonly seed: number
  /** Probability that a confirm call gets an answer fault. Default 0.3. */
  readonly answerRate?: number | undefined
  /** Probability that a successful call's notifications get a fault. Default 0.3. */
  readonly notifyRate?: number | undefined
  /** Default: Drop, ServerError, Truncated, Unsigned, WrongSignature (each applied with probability 0.7). */
  readonly answerKinds?: ReadonlyArray<
    "Drop" | "ServerError" | "Truncated" | "Unsigned" | "WrongSignature" | "Delay"
  >
  /** Default: all of them. */
  readonly notifyKinds?: ReadonlyArray<NotifyFaultTag>
}

const DEFAULT_ANSWER_KINDS = ["Drop", "ServerError", "Truncated", "Unsigned", "WrongSignature"] as const
const NOTIFY_KINDS: ReadonlyArray<NotifyFaultTag> = [
  "Duplicate",
  "Late",
  "Reorder",
  "MalformedContentType",
  "Reissue"
]

export interface Draw {
  /** The fault for the next confirm call, or none. */
  readonly answer: () => AnswerFault | undefined
  /** The fault for the next successful call's notifications, or none. */
  readonly notify: () => NotifyFault | undefined
}

/**
 * Faults drawn from `prng` as `faults` says. Both kinds draw from the one PRNG, so the schedule is a function
 * of the seed and the order of the calls.
 */
export const draw = (prng: Prng, faults: RandomFaults): Draw => ({
  answer: () => {
    if (prng.next() >= (faults.answerRate ?? 0.3)) return undefined
    const kinds = faults.answerKinds ?? DEFAULT_ANSWER_KINDS
    if (kinds.length === 0) return undefined
    const kind = kinds[prng.int(kinds.length)]!
    const applied = prng.next() < 0.7
    switch (kind) {
      case "Drop":
        return drop({ mode: prng.next() < 0.5 ? "hang" : "reset", applied })
      case "ServerError":
        return serverError([500, 502, 503, 504][prng.int(4)]!, { applied })
      case "Truncated":
        return truncated
      case "Unsigned":
        return unsigned
      case "WrongSignature":
        return wrongSignature
      case "Delay":
        return delay(Duration.millis(1000 + prng.int(9000)))
    }
  },
  notify: () => {
    if (prng.next() >= (faults.notifyRate ?? 0.3)) return undefined
    const kinds = faults.notifyKinds ?? NOTIFY_KINDS
    if (kinds.length === 0) return undefined
    switch (kinds[prng.int(kinds.length)]!) {
      case "Duplicate":
        return duplicate
      case "Late":
        return late(Duration.minutes(1 + prng.int(360)))
      case "Reorder":
        return reorder
      case "MalformedContentType":
        return malformedContentType
      case "Reissue":
        return reissue(Duration.minutes(1 + prng.int(180)))
    }
  }
})
