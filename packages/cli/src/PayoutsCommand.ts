/**
 * `witkey payouts`: the payout journal `witkey confirm --journal` writes (in `--db`, a SQLite file or a
 * `postgres://` URL). `list` every payout and its outcome; `resume` re-sends, byte for byte, every payout a
 * crash left unsettled (it needs the keys and the gateway, like `confirm`); `reconcile` matches the journal
 * with the inbox's ASSIGN notifications (core's `PayoutJournal.reconcileTasks`), one per paid serial.
 *
 * Exit codes: 0 done (`list`: every row decodes; `resume`: everything settled; `reconcile`: no alarm), 1 a
 * payout that does not decode, still unsettled or an alarm, 2 bad usage.
 *
 * @since 0.2.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"
import * as InboxCommand from "./InboxCommand.js"

export const listOptions = { db: InboxCommand.db, json: CommonOptions.json }

const list = Command.make("list", listOptions, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/payouts.js")),
    (handler) => handler.list(config)
  )
).pipe(
  Command.withDescription(
    "List the journal's payouts, oldest first, with their outcomes, then the rows that do not decode (exit 1 if any)."
  )
)

export const resumeOptions = {
  db: InboxCommand.db,
  gateway: CommonOptions.gateway,
  partner: CommonOptions.partner,
  privateKey: CommonOptions.privateKey,
  alipayPublicKey: CommonOptions.alipayPublicKey,
  charset: CommonOptions.charsetWithDefault("utf-8", "The _input_charset (default utf-8)."),
  timeout: Options.integer("timeout").pipe(
    Options.withDescription("Seconds to wait for each answer (default 15)."),
    Options.withDefault(15)
  ),
  json: CommonOptions.json
}

const resume = Command.make("resume", resumeOptions, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/payouts.js")),
    (handler) => handler.resume(config)
  )
).pipe(
  Command.withDescription(
    "Re-send, byte for byte, every payout the journal holds without a settled outcome (after a crash)."
  )
)

export const reconcileOptions = { db: InboxCommand.db, json: CommonOptions.json }

const reconcile = Command.make("reconcile", reconcileOptions, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/payouts.js")),
    (handler) => handler.reconcile(config)
  )
).pipe(
  Command.withDescription(
    "Match the journal's payouts with the inbox's ASSIGN notifications, one per paid serial; exit 1 on an alarm."
  )
)

export const command = Command.make("payouts").pipe(
  Command.withDescription("The payout journal written by confirm --journal: list, resume, reconcile."),
  Command.withSubcommands([list, resume, reconcile])
)
