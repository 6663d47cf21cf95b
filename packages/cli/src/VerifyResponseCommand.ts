/**
 * `witkey verify-response`: checks a raw synchronous answer of the gateway (PROTOCOL.md §4) with Alipay's
 * public key, exactly as the client does, and says what is wrong with it.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"

export const options = {
  alipayPublicKey: CommonOptions.alipayPublicKey,
  charset: CommonOptions.charset,
  contentType: Options.text("content-type").pipe(
    Options.withDescription(
      "The HTTP Content-Type the answer came with (its charset is used if the XML declares none)."
    ),
    Options.optional
  ),
  json: CommonOptions.json,
  file: CommonOptions.inputFile("The raw response body, byte for byte.")
} as const

export const command = Command.make(
  "verify-response",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/verifyResponse.js")),
      (handler) => handler.run(config)
    )
).pipe(
  Command.withDescription(
    "Verify a raw gateway response (XML bytes) with Alipay's public key; --charset is the request's _input_charset."
  )
)
