/**
 * `witkey sign`: signs the canonical string of the given parameters with the platform's private key, as the
 * SDK does (SHA-1 with DSA, DER, Base64).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as SigningString from "@witkey/core/SigningString"
import * as Effect from "effect/Effect"
import * as CanonicalCommand from "./CanonicalCommand.js"
import * as CliError from "./CliError.js"
import * as CommonOptions from "./CommonOptions.js"
import * as Keys from "./Keys.js"
import * as Output from "./Output.js"

export const command = Command.make(
  "sign",
  {
    privateKey: CommonOptions.privateKey,
    charset: CommonOptions.charset,
    params: CommonOptions.params,
    json: CommonOptions.json
  },
  ({ charset, json, params, privateKey }) =>
    Effect.gen(function* () {
      const bytes = yield* CanonicalCommand.encode(params, charset)
      const signer = yield* Keys.signer(privateKey)
      const canonical = SigningString.make(params)
      const sign = yield* signer.sign(bytes).pipe(Effect.mapError((e) => CliError.failure(e.message)))
      yield* Output.result(json, { canonical, sign, sign_type: signer.signType }, () => [
        `canonical  ${canonical}`,
        `sign       ${sign}`,
        `sign_type  ${signer.signType}`
      ])
    })
).pipe(
  Command.withDescription(
    "Sign the canonical string of the given parameters with the platform's private key (SHA-1 with DSA)."
  )
)
