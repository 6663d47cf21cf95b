/**
 * `witkey confirm`: signs and sends a payout request, verifies the answer, and reports one of the outcomes
 * a caller must tell apart (PROTOCOL.md §7): confirmed, already confirmed, rejected, unknown, invalid request.
 * With `--journal DB` (a SQLite file or a `postgres://` URL) the request goes through core's `JournaledClient`:
 * recorded before it is first sent, each attempt and the outcome after, so that `witkey payouts resume` can
 * finish what a crash left unsettled, and the same payout confirmed again is not sent again once it is paid.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"
import * as Database from "./Database.js"
import * as RequestOptions from "./RequestOptions.js"

export const options = {
  ...RequestOptions.options,
  alipayPublicKey: CommonOptions.alipayPublicKey,
  timeout: Options.integer("timeout").pipe(
    Options.withDescription("Seconds to wait for each answer (default 15)."),
    Options.withDefault(15)
  ),
  retries: Options.integer("retries").pipe(
    Options.withDescription(
      "Re-sends of the identical signed request after an unknown outcome, 1 s, 2 s, 4 s... apart (default 3)."
    ),
    Options.withDefault(3)
  ),
  journal: Options.text("journal").pipe(
    Options.withDescription(
      "Record the payout in this journal (a SQLite file or a postgres:// URL, never printed) before it is sent, and its attempts and outcome after; `witkey payouts resume --db` finishes what a crash left. A payout already paid there is not sent again."
    ),
    Options.map(Database.parse),
    Options.optional
  ),
  json: CommonOptions.json
} as const

export const command = Command.make(
  "confirm",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/confirm.js")),
      (handler) => handler.run(config)
    )
).pipe(
  Command.withDescription(
    "Sign and send a payout request, verify the answer, and report: confirmed, already_confirmed, rejected, unknown or invalid_request."
  )
)
