/**
 * The options of a payout request, shared by `request` (sign only) and `confirm` (sign and send).
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import type * as Charset from "@witkey/core/Charset"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as Protocol from "@witkey/core/Protocol"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as Signer from "@witkey/core/Signer"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as CommonOptions from "./CommonOptions.js"
import * as RawArgs from "./RawArgs.js"

export const options = {
  gateway: CommonOptions.gateway,
  partner: CommonOptions.partner,
  privateKey: CommonOptions.privateKey,
  task: RawArgs.text("task").pipe(Options.withDescription("The platform's task id (outer_task_id).")),
  transfers: RawArgs.repeated("transfer", 1).pipe(
    Options.withDescription("A winner's transfer serial number; repeat for each (at most 30).")
  ),
  charset: CommonOptions.charsetWithDefault("utf-8", "The _input_charset (default utf-8)."),
  notifyUrl: RawArgs.text("notify-url").pipe(
    Options.withDescription("Where Alipay sends the notifications."),
    Options.optional
  ),
  separator: RawArgs.text("separator").pipe(
    Options.withDescription(
      `The transfer_detail separator (default ${Protocol.DEFAULT_TRANSFER_SEPARATOR}; PROTOCOL.md §2 erratum).`
    ),
    Options.optional
  )
} as const

export interface Values {
  readonly gateway: string
  readonly partner: string
  readonly task: string
  readonly transfers: ReadonlyArray<string>
  readonly charset: Charset.Charset
  readonly notifyUrl: Option.Option<string>
  readonly separator: Option.Option<string>
}

export const input = (values: Values): ConfirmRequest.Input => ({
  partner: values.partner,
  outerTaskId: values.task,
  transfers: values.transfers,
  charset: values.charset,
  ...(Option.isSome(values.notifyUrl) ? { notifyUrl: values.notifyUrl.value } : {})
})

/** Validates every rule (reporting every broken one) and signs; sends nothing. */
export const prepare = (
  values: Values,
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
