/**
 * The options of a payout request, shared by `request` (sign only) and `confirm` (sign and send).
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import type * as Charset from "@witkey/core/Charset"
import * as Protocol from "@witkey/core/Protocol"
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
