/** The handler of `RequestCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as CliError from "../CliError.js"
import * as CommonOptions from "../CommonOptions.js"
import * as Keys from "../Keys.js"
import * as Output from "../Output.js"
import * as RequestOptions from "../RequestOptions.js"
import type * as RequestCommand from "../RequestCommand.js"

export const run = (values: Command.Command.ParseConfig<typeof RequestCommand.options>) =>
  Effect.gen(function* () {
    yield* CommonOptions.checkGateway(values.gateway)
    const signer = yield* Keys.signer(values.privateKey)
    const prepared = yield* Effect.either(RequestOptions.prepare(values, signer))
    if (prepared._tag === "Left") {
      const e = prepared.left
      if (e._tag === "SignError") return yield* CliError.failure(e.message)
      // One line, every broken rule in it (InvalidRequest's message lists them all).
      return yield* CliError.usage(`${e.message}; nothing was signed`)
    }
    const signed = prepared.right
    yield* Output.result(
      values.json,
      { url: signed.url, canonical: signed.canonical, sign: signed.sign },
      () => [signed.url]
    )
  })
