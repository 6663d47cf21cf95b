/**
 * `witkey verify-response`: checks a raw synchronous answer of the gateway (PROTOCOL.md §4) with Alipay's
 * public key, exactly as the client does, and says what is wrong with it.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as Verifier from "@witkey/core/Verifier"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"
import * as InputFile from "./InputFile.js"
import * as Keys from "./Keys.js"
import * as Output from "./Output.js"
import * as Verdict from "./Verdict.js"

export const command = Command.make(
  "verify-response",
  {
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
  },
  ({ alipayPublicKey, charset, contentType, file, json }) =>
    Effect.gen(function* () {
      const verifier = yield* Keys.verifier(alipayPublicKey)
      const body = yield* InputFile.read(file)
      const decoded = yield* GatewayResponse.decode(
        { body, contentType: contentType._tag === "Some" ? contentType.value : undefined },
        charset
      ).pipe(Effect.provideService(Verifier.Verifier, verifier), Effect.either)
      if (decoded._tag === "Left") return yield* Verdict.fail(json, decoded.left)
      const ok = decoded.right
      const head = { ok: true, is_success: ok.isSuccess, outer_task_id: ok.outerTaskId }
      const rest = Object.entries(ok.signed).filter(([name]) => !(name in head))
      yield* Output.result(json, { ...head, ...Object.fromEntries(rest) }, () => [
        "OK: a verified success (is_success=T, signature valid)",
        ...Output.table(Object.entries(ok.signed)).map((row) => `  ${row}`)
      ])
    })
).pipe(
  Command.withDescription(
    "Verify a raw gateway response (XML bytes) with Alipay's public key; --charset is the request's _input_charset."
  )
)
