/**
 * `witkey demo`: the README's main job (see `Demo`), with a progress bar on stderr when it is a terminal and
 * a summary table on stdout (or, with `--json`, one JSON object: `json`). Exits 0 only if the gateway's ledger,
 * the receiver's inbox, the handler's rows and the payout journal agree.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"
import * as Database from "./Database.js"

export const DEFAULT_SEED = 2026

const consoleOption = Options.boolean("console").pipe(
  Options.withDescription(
    "Leave the sandbox's and the receiver's consoles up after the run (Ctrl-C to stop)."
  )
)

export const options = {
  tasks: Options.integer("tasks").pipe(
    Options.withDescription("How many tasks to pay out (default 20)."),
    Options.withDefault(20)
  ),
  seed: Options.integer("seed").pipe(
    Options.withDescription(`Seed of the winners, amounts and faults (default ${DEFAULT_SEED}).`),
    Options.withDefault(DEFAULT_SEED)
  ),
  concurrency: Options.integer("concurrency").pipe(
    Options.withDescription("Confirms in flight at once (default 4)."),
    Options.withDefault(4)
  ),
  timeScale: Options.integer("time-scale").pipe(
    Options.withDescription("How much faster the sandbox's clock runs (default 30000: a day in ~3 s)."),
    Options.withDefault(30_000)
  ),
  outageHours: Options.integer("outage-hours").pipe(
    Options.withDescription(
      "Make the receiver's handler fail for this many hours of sandbox time from the first notification (default 0); past 24 h 22 min Alipay gives up on some notifications, which the demo then finds exhausted and replays."
    ),
    Options.withDefault(0)
  ),
  crashAfter: Options.integer("crash-after").pipe(
    Options.withDescription(
      "Kill the paying platform after this many sent requests (an interrupted fiber: everything it held in memory is dropped) and resume from the payout journal (default 0: no crash)."
    ),
    Options.withDefault(0)
  ),
  db: Options.text("db").pipe(
    Options.withDescription(
      "Where the inbox and the journal live: a SQLite file or a postgres:// URL (never printed); the demo's tables (witkey_demo_*) are emptied first. Default: a temporary SQLite file."
    ),
    Options.map(Database.parse),
    Options.optional
  ),
  json: CommonOptions.json,
  console: consoleOption
} as const

export const command = Command.make(
  "demo",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/demo.js")),
      (handler) => handler.run(config)
    )
).pipe(
  Command.withDescription(
    "Pay out N tasks against the sandbox while faults are injected, play a day of notifications in seconds, and check that the ledger, the inbox and the payout journal agree; --outage-hours and --crash-after show the operator's loop."
  )
)
