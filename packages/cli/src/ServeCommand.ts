/**
 * `witkey serve`: a notification receiver at `/` with the inbox in `--db` (a SQLite file or a `postgres://`
 * URL). It runs `ServeHandler`'s handler; every notification processed (the first time only, after the inbox
 * committed) is one JSON line on stdout (`ServeHandler.processed`). Everything else goes to stderr.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"
import * as Database from "./Database.js"
import * as ServeConsole from "./ServeConsole.js"

export const options = {
  port: CommonOptions.port,
  host: CommonOptions.host,
  db: Options.text("db").pipe(
    Options.withDescription(
      "The inbox: a SQLite file (created if missing) or a postgres:// URL (never printed)."
    ),
    Options.map(Database.parse)
  ),
  alipayPublicKey: CommonOptions.alipayPublicKey,
  partner: CommonOptions.partner,
  gateway: CommonOptions.gateway.pipe(
    Options.withDescription("The gateway URL; with it, every notify_id is checked with notify_verify there."),
    Options.optional
  ),
  noNotifyVerify: Options.boolean("no-notify-verify").pipe(
    Options.withDescription("Do not call notify_verify even when --gateway is given.")
  ),
  headerTimeout: Options.integer("header-timeout").pipe(
    Options.withDescription(
      "Seconds a client has to send its request headers before it is answered 408 and cut off (default 20); the body has 10 more."
    ),
    Options.withDefault(20)
  ),
  ...ServeConsole.options,
  charset: CommonOptions.charsetWithDefault(
    "utf-8",
    "The charset notifications are decoded in (default utf-8); a Content-Type naming another is refused."
  )
} as const

export const command = Command.make(
  "serve",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/serve.js")),
      (handler) => handler.run(config)
    )
).pipe(
  Command.withDescription(
    "Receive Alipay notifications at / into an inbox (SQLite or PostgreSQL); print each processed one."
  )
)
