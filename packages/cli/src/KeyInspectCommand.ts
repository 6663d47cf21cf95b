/**
 * `witkey key inspect`: what a key file is (type, format, sizes, fingerprint) and what is wrong with it.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"

export const options = { json: CommonOptions.json, file: Args.text({ name: "FILE" }) } as const

export const command = Command.make(
  "inspect",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/keyInspect.js")),
      (handler) => handler.run(config)
    )
).pipe(Command.withDescription("Tell what a key file is and what is wrong with it."))

/** `witkey key`: the parent of the key subcommands. */
export const parent = Command.make("key").pipe(
  Command.withDescription("Key tools."),
  Command.withSubcommands([command])
)
