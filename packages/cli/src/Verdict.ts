/**
 * The failure half of the verify commands' results: `{"ok": false, "error": "<tag>", "reason"?, "code"?}`
 * with the tags and reasons the vectors use, and a human explanation for stderr.
 *
 * @since 0.1.0
 */
import type * as GatewayResponse from "@witkey/core/GatewayResponse"
import type * as Notification from "@witkey/core/Notification"
import type { SignatureError } from "@witkey/core/SignatureError"
import * as Effect from "effect/Effect"
import * as CliError from "./CliError.js"
import * as Output from "./Output.js"

export type Failure = GatewayResponse.DecodeError | Notification.DecodeError

export const toJson = (error: Failure): Record<string, unknown> => ({
  ok: false,
  error: error._tag,
  ...("reason" in error ? { reason: error.reason } : {}),
  ...(error._tag === "GatewayRejected" ? { code: error.code } : {}),
  message: error.message
})

const hint = (error: SignatureError): Array<string> => {
  if (error.reason !== "mismatch") return []
  const checked = error.checked
  return [
    ...(checked === undefined
      ? []
      : [
          `checked: ${checked.canonicalBytes} bytes of canonical string in ${checked.charset}, sha256 prefix ${checked.canonicalSha256Prefix}`
        ]),
    "hint: compare with `witkey canonical --charset CS --param NAME=VALUE ...`; a mismatch is a wrong key, a wrong charset, or changed content"
  ]
}

/** Prints the failure (JSON on stdout if asked) and fails with exit code 1. */
export const fail = (asJson: boolean, error: Failure): Effect.Effect<never, CliError.CliError> =>
  Effect.gen(function* () {
    if (asJson) yield* Output.json(toJson(error))
    const details = error._tag === "SignatureError" ? hint(error) : []
    for (const text of details) yield* Output.diagnostic(text)
    const what = "reason" in error ? `${error._tag} (${error.reason})` : error._tag
    return yield* CliError.failure(`${what}: ${error.message}`)
  })
