/**
 * The errors of the Promise API: plain `Error` subclasses (`instanceof` and `err.name` both work), one per
 * outcome a caller must tell apart (PROTOCOL.md §7). Each is made from core's typed failure; none carries key
 * material or the signed URL.
 *
 * @since 0.1.0
 */
import type * as Client from "@witkey/core/Client"
import type * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import type * as ErrorCode from "@witkey/core/ErrorCode"

/** The base class of every error this package throws or rejects with. */
export class WitkeyError extends Error {
  override name = "WitkeyError"
}

/**
 * A setting of `new Witkey(...)` or `notificationListener(...)` cannot be used: a key, the partner, the
 * gateway, the charset, the inbox. Thrown by the constructor, with the CLI's message for the same mistake.
 */
export class ConfigurationError extends WitkeyError {
  override name = "ConfigurationError"
  constructor(
    /** The option at fault: `privateKey`, `privateKeyFile`, `partner`, `gateway`, `inbox`, ... */
    readonly option: string,
    message: string
  ) {
    super(`${option}: ${message}`)
  }
}

/** Refused locally, nothing was signed or sent: `issues` names every broken rule. */
export class InvalidRequestError extends WitkeyError {
  override name = "InvalidRequestError"
  readonly issues: ReadonlyArray<ConfirmRequest.Issue>
  constructor(issues: ReadonlyArray<ConfirmRequest.Issue>) {
    super(`invalid request: ${issues.map((i) => `${i.field}: ${i.message} [${i.rule}]`).join("; ")}`)
    this.issues = issues
  }
}

/** The gateway answered `is_success=F` with `code`; nothing was paid by this call. */
export class GatewayRejectedError extends WitkeyError {
  override name = "GatewayRejectedError"
  constructor(
    /** The gateway's code, verbatim (e.g. `WITKEY_TASK_NOT_EXIST`). */
    readonly code: string,
    /** What kind of mistake the code is: `signature`, `configuration`, `argument`, `business`, `system`, `unknown`. */
    readonly category: ErrorCode.Category
  ) {
    super(`the gateway rejected the request: ${code} (${category})`)
  }
}

/**
 * Why the outcome is unknown: core's reasons, plus `aborted` (the caller's `AbortSignal` fired) and `defect`
 * (a bug in this process, after the request may have left).
 */
export type UnknownReason = Client.UnknownOutcome["reason"] | "aborted" | "defect"

/**
 * No verifiable answer: the payout may or may not have happened. When `mayHaveReached` is true, re-send the
 * identical call (the transfer serials are the gateway's idempotency key: a second payment cannot happen, and
 * `already_confirmed` answers one that went through) or reconcile with the notifications. When it is false the
 * request provably never left: nothing was paid.
 */
export class UnknownOutcomeError extends WitkeyError {
  override name = "UnknownOutcomeError"
  readonly reason: UnknownReason
  readonly mayHaveReached: boolean
  /** How many times the signed request was sent (or handed to the network). */
  readonly attempts: number
  readonly outerTaskId: string
  /** The gateway's code, for `rejected_after_resend`. */
  readonly code: string | undefined
  constructor(fields: {
    readonly reason: UnknownReason
    readonly mayHaveReached: boolean
    readonly attempts: number
    readonly outerTaskId: string
    readonly code?: string | undefined
    readonly message: string
    readonly cause?: unknown
  }) {
    super(
      `${fields.message}; ${
        fields.mayHaveReached
          ? "the payout may or may not have happened: re-send the identical request (safe) or reconcile with the notifications"
          : "the request never left, so nothing was paid: re-send it"
      }`,
      fields.cause === undefined ? undefined : { cause: fields.cause }
    )
    this.reason = fields.reason
    this.mayHaveReached = fields.mayHaveReached
    this.attempts = fields.attempts
    this.outerTaskId = fields.outerTaskId
    this.code = fields.code
  }
}

/** The crypto provider failed to sign (after the key passed its self-test): nothing was sent. */
export class SigningError extends WitkeyError {
  override name = "SigningError"
}

/** The durable inbox could not be opened, or its driver loaded. */
export class InboxError extends WitkeyError {
  override name = "InboxError"
}

/** The `Witkey` was closed: nothing was sent. */
export class ClosedError extends WitkeyError {
  override name = "ClosedError"
  constructor() {
    super("this Witkey is closed (close() was called); nothing was sent")
  }
}
