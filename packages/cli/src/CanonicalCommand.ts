/**
 * `witkey canonical`: the canonical string of a set of parameters (PROTOCOL.md §3) and its bytes, to compare
 * with what another implementation signs.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"

export const options = {
  charset: CommonOptions.charset,
  params: CommonOptions.params,
  json: CommonOptions.json
} as const

export const command = Command.make(
  "canonical",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/canonical.js")),
      (handler) => handler.run(config)
    )
).pipe(
  Command.withDescription(
    "Print the canonical string of the given parameters: sign and sign_type and empty values dropped, sorted by name in byte order, joined raw with '&'."
  )
)
