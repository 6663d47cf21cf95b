/**
 * `witkey sandbox`: the testkit's sandbox gateway on loopback, with the test partner registered and a few
 * tasks to confirm. Prints its URL, the public key file to verify it with, and the partner credentials.
 *
 * The keys are the testkit's PUBLIC test keys: never configure them against a real gateway.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"
import * as RawArgs from "./RawArgs.js"

export const ALIPAY_PUBLIC_KEY_FILE = "alipay_public_key.pem"
export const PARTNER_PRIVATE_KEY_FILE = "partner_private_key.pem"

export const options = {
  port: CommonOptions.port,
  host: CommonOptions.host,
  tasks: Options.integer("tasks").pipe(
    Options.withDescription("How many example tasks to register (default 3)."),
    Options.withDefault(3)
  ),
  notifyUrl: RawArgs.text("notify-url").pipe(
    Options.withDescription("Where notifications go when a request names no notify_url."),
    Options.optional
  ),
  out: Options.text("out").pipe(
    Options.withDescription("Where to write the key files (default: a new temporary directory)."),
    Options.optional
  ),
  json: CommonOptions.json
} as const

export const command = Command.make(
  "sandbox",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/sandbox.js")),
      (handler) => handler.run(config)
    )
).pipe(
  Command.withDescription("Run the sandbox gateway on loopback, with the test partner and example tasks.")
)
