/**
 * `witkey sign`: signs the canonical string of the given parameters with the platform's private key, as the
 * SDK does (SHA-1 with DSA, DER, Base64).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"

export const options = {
  privateKey: CommonOptions.privateKey,
  charset: CommonOptions.charset,
  params: CommonOptions.params,
  json: CommonOptions.json
} as const

export const command = Command.make(
  "sign",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/sign.js")),
      (handler) => handler.run(config)
    )
).pipe(
  Command.withDescription(
    "Sign the canonical string of the given parameters with the platform's private key (SHA-1 with DSA)."
  )
)
