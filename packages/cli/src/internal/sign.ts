/** The handler of `SignCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as SigningString from "@witkey/core/SigningString"
import * as Effect from "effect/Effect"
import * as Canonical from "./canonical.js"
import * as CliError from "../CliError.js"
import * as Keys from "../Keys.js"
import * as Output from "../Output.js"
import type * as SignCommand from "../SignCommand.js"

export const run = ({
  charset,
  json,
  params,
  privateKey
}: Command.Command.ParseConfig<typeof SignCommand.options>) =>
  Effect.gen(function* () {
    const bytes = yield* Canonical.encode(params, charset)
    const signer = yield* Keys.signer(privateKey)
    const canonical = SigningString.make(params)
    const sign = yield* signer.sign(bytes).pipe(Effect.mapError((e) => CliError.failure(e.message)))
    yield* Output.result(json, { canonical, sign, sign_type: signer.signType }, () => [
      `canonical  ${canonical}`,
      `sign       ${sign}`,
      `sign_type  ${signer.signType}`
    ])
  })
