/**
 * `witkey verify-notification`: checks a raw asynchronous notification body (PROTOCOL.md §6) with Alipay's
 * public key, exactly as the receiver does, and prints what was signed.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"

export const options = {
  alipayPublicKey: CommonOptions.alipayPublicKey,
  contentType: Options.text("content-type").pipe(
    Options.withDescription(
      "The HTTP Content-Type the notification came with; a charset in it other than --charset is refused."
    ),
    Options.optional
  ),
  charset: CommonOptions.charsetOptional(
    "The charset the notification is decoded in (default utf-8), as a receiver is configured."
  ),
  json: CommonOptions.json,
  file: CommonOptions.inputFile("The raw POST body, byte for byte.")
} as const

export const command = Command.make(
  "verify-notification",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/verifyNotification.js")),
      (handler) => handler.run(config)
    )
).pipe(
  Command.withDescription(
    "Verify a raw notification POST body with Alipay's public key and print its signed fields."
  )
)
