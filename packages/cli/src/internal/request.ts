/** The handler of `RequestCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as Signer from "@witkey/core/Signer"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
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
    const prepared = yield* Effect.either(prepare(values, signer))
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

export const input = (values: RequestOptions.Values): ConfirmRequest.Input => ({
  partner: values.partner,
  outerTaskId: values.task,
  transfers: values.transfers,
  charset: values.charset,
  ...(Option.isSome(values.notifyUrl) ? { notifyUrl: values.notifyUrl.value } : {})
})

/** Validates every rule (reporting every broken one) and signs; sends nothing. */
export const prepare = (
  values: RequestOptions.Values,
  signer: Signer.Signer
): Effect.Effect<SignedRequest.SignedRequest, ConfirmRequest.InvalidRequest | Signer.SignError> =>
  Effect.gen(function* () {
    const separator = Option.getOrUndefined(values.separator)
    const request = yield* Either.mapLeft(
      ConfirmRequest.validate(input(values), { separator, defaultCharset: values.charset }),
      (e) => e
    )
    return yield* SignedRequest.make(request, { gateway: values.gateway, separator }).pipe(
      // validate checked the same text: a refused field reads the same either way.
      Effect.catchTag("EncodeError", (e) =>
        Effect.fail(
          new ConfirmRequest.InvalidRequest({
            issues: [{ field: e.field, rule: "charset", message: e.message }]
          })
        )
      )
    )
  }).pipe(Effect.provideService(Signer.Signer, signer))
