/**
 * `witkey inbox`: the operator's view of the inbox `witkey serve` writes (`--db`, a SQLite file or a
 * `postgres://` URL): `list` what failed, `show` one notification's timeline, `replay` it with the handler
 * `serve` runs (`ServeHandler`), `resolve` one handled outside, `prune` old bodies and attempts.
 *
 * Exit codes: 0 done (a replay of a processed entry does nothing and says so: 0), 1 not found, a handler that
 * failed again, nothing to replay; 2 bad usage (an unknown state, a duration that does not parse, a database
 * that cannot be opened).
 *
 * @since 0.2.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as Inbox from "@witkey/core/Inbox"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"
import * as Database from "./Database.js"

export const STATES: ReadonlyArray<Inbox.Status> = [
  "processed",
  "failing",
  "exhausted",
  "resolved",
  "failed_permanent"
]

/** `--db`, shared by the inbox and payouts commands. */
export const db = Options.text("db").pipe(
  Options.withDescription("The database: a SQLite file or a postgres:// URL (never printed)."),
  Options.map(Database.parse)
)

const notifyIdArg = Args.text({ name: "NOTIFY_ID" }).pipe(
  Args.withDescription("The notification's notify_id.")
)

/**
 * `inbox list`'s default `--limit`: the inbox's own, `Inbox.DEFAULT_LIST_LIMIT` (a test holds them equal; a value
 * import of core here would load it when the CLI starts, for every command).
 */
export const LIST_LIMIT = 1000

export const listOptions = {
  db,
  state: Options.choice("state", STATES).pipe(
    Options.withDescription(`Only entries in this state: ${STATES.join(", ")}.`),
    Options.optional
  ),
  task: Options.text("task").pipe(
    Options.withDescription("Only this task's entries (outer_task_id)."),
    Options.optional
  ),
  newest: Options.boolean("newest").pipe(
    Options.withDescription(
      "Newest first (an inbox only grows: the latest entries, not the first ever received)."
    )
  ),
  limit: Options.integer("limit").pipe(
    Options.withDescription(`At most this many entries (default ${LIST_LIMIT}).`),
    Options.withDefault(LIST_LIMIT)
  ),
  json: CommonOptions.json
}

const list = Command.make("list", listOptions, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/inbox.js")),
    (handler) => handler.list(config)
  )
).pipe(
  Command.withDescription(
    "List the inbox's entries, oldest first unless --newest (e.g. --state exhausted: what needs a replay)."
  )
)

export const showOptions = { db, notifyId: notifyIdArg, json: CommonOptions.json }

const show = Command.make("show", showOptions, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/inbox.js")),
    (handler) => handler.show(config)
  )
).pipe(Command.withDescription("Show one notification and the timeline of its attempts."))

export const replayOptions = {
  db,
  notifyId: notifyIdArg,
  charset: CommonOptions.charsetWithDefault(
    "utf-8",
    "The charset the stored body is decoded in, as serve's --charset (default utf-8)."
  )
}

const replay = Command.make("replay", replayOptions, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/inbox.js")),
    (handler) => handler.replay(config)
  )
).pipe(
  Command.withDescription(
    "Run serve's handler on a stored notification (exactly once; a processed one is left alone). Prints serve's processed line."
  )
)

export const resolveOptions = {
  db,
  notifyId: notifyIdArg,
  note: Options.text("note").pipe(Options.withDescription("Why, and how it was handled outside the inbox."))
}

const resolve = Command.make("resolve", resolveOptions, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/inbox.js")),
    (handler) => handler.resolve(config)
  )
).pipe(Command.withDescription("Settle a notification handled outside the inbox, with a note."))

/** `30d`, `12h`, `90m`, `45s`: a whole number and a unit. */
export const parseAge = (text: string): Duration.Duration | undefined => {
  const match = /^(\d{1,6})(d|h|m|s)$/.exec(text.trim())
  if (match === null) return undefined
  const n = Number(match[1])
  const unit =
    match[2] === "d" ? "days" : match[2] === "h" ? "hours" : match[2] === "m" ? "minutes" : "seconds"
  return Duration.decode(`${n} ${unit}`)
}

export const pruneOptions = {
  db,
  olderThan: Options.text("older-than").pipe(
    Options.withDescription("Age past which bodies of settled entries and attempts go: 30d, 12h, 90m or 45s.")
  ),
  json: CommonOptions.json
}

const prune = Command.make("prune", pruneOptions, (config) =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/inbox.js")),
    (handler) => handler.prune(config)
  )
).pipe(Command.withDescription("Empty the bodies of settled entries and delete attempts older than an age."))

export const command = Command.make("inbox").pipe(
  Command.withDescription("The operator's view of serve's inbox: list, show, replay, resolve, prune."),
  Command.withSubcommands([list, show, replay, resolve, prune])
)
