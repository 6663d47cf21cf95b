/**
 * `witkey request`: builds and signs the payout GET URL and prints it; sends nothing.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"
import * as RequestOptions from "./RequestOptions.js"

export const options = { ...RequestOptions.options, json: CommonOptions.json } as const

export const command = Command.make(
  "request",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/request.js")),
      (handler) => handler.run(config)
    )
).pipe(Command.withDescription("Print the signed GET URL of a payout request; sends nothing."))
