/**
 * `--db`: where the inbox and the payout journal live, a SQLite file or a `postgres://` URL. The URL may carry
 * a password, so it is held `Redacted` and never printed (messages name the database as "the PostgreSQL
 * database"). The layers are the ones users are told to use: `SqliteInbox.layer`, `PgInbox.layer`,
 * `SqlPayoutJournal.layer` on the same client; their modules are loaded only when a command needs them.
 *
 * @since 0.2.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Inbox from "@witkey/core/Inbox"
import type * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as CliError from "./CliError.js"

export type Database =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Pg"; readonly url: Redacted.Redacted<string> }

/** `postgres://` or `postgresql://` is PostgreSQL; anything else is a SQLite file name. */
export const parse = (text: string): Database =>
  /^postgres(ql)?:\/\//i.test(text)
    ? { _tag: "Pg", url: Redacted.make(text) }
    : { _tag: "Sqlite", filename: text }

/** How messages name it: the file, or "the PostgreSQL database" (never the URL). */
export const describe = (db: Database): string =>
  db._tag === "Sqlite" ? db.filename : "the PostgreSQL database"

/** The message of what went wrong (an Error's, or the value's text). */
export const reasonOf = (error: unknown): string =>
  error instanceof Error
    ? error.message
    : typeof error === "object" && error !== null && "message" in error
      ? String(error.message)
      : String(error)

export interface Options extends Inbox.Policy {
  /** Prefix of the inbox's and the journal's tables; default the libraries' (`witkey_`). */
  readonly tablePrefix?: string | undefined
}

export type Services = Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient

/**
 * The inbox (and its operations, and the SQL client for a handler's writes). A database that cannot be opened
 * is bad usage naming `flag` (SQLite throws a defect for a file in a missing directory, so causes are caught
 * whole); an interruption stays one.
 */
export const inbox = (
  db: Database,
  options: Options = {},
  flag = "--db"
): Layer.Layer<Services, CliError.CliError> => {
  const layer = Layer.unwrapEffect(
    db._tag === "Sqlite"
      ? Effect.map(
          Effect.promise(() => import("@witkey/inbox-sql/SqliteInbox")),
          (SqliteInbox): Layer.Layer<Services, unknown> =>
            SqliteInbox.layer({ ...options, filename: db.filename })
        )
      : Effect.map(
          Effect.promise(() => import("@witkey/inbox-sql/PgInbox")),
          (PgInbox): Layer.Layer<Services, unknown> => PgInbox.layer({ ...options, url: db.url })
        )
  )
  return cannotOpen(layer, db, flag)
}

/** The inbox and the payout journal on one database (one client, so SQLite's busy timeout covers both). */
export const inboxAndJournal = (
  db: Database,
  options: Options = {},
  flag = "--db"
): Layer.Layer<Services | PayoutJournal.PayoutJournal, CliError.CliError> =>
  Layer.unwrapEffect(
    Effect.map(
      Effect.promise(() => import("@witkey/inbox-sql/SqlPayoutJournal")),
      (SqlPayoutJournal) =>
        cannotOpen(
          SqlPayoutJournal.layer({ tablePrefix: options.tablePrefix }).pipe(
            Layer.provideMerge(inbox(db, options, flag))
          ),
          db,
          flag
        )
    )
  )

const cannotOpen = <A>(
  layer: Layer.Layer<A, unknown>,
  db: Database,
  flag: string
): Layer.Layer<A, CliError.CliError> =>
  layer.pipe(
    Layer.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Layer.failCause(Cause.map(cause, () => CliError.failure("interrupted")))
        : Cause.failureOption(cause).pipe((f) =>
            f._tag === "Some" && CliError.isCliError(f.value)
              ? Layer.fail(f.value)
              : Layer.fail(
                  CliError.usage(`${flag} ${describe(db)}: ${hideUrl(db, reasonOf(Cause.squash(cause)))}`)
                )
          )
    )
  )

/** A driver's message might quote the URL it was given: never print it. */
const hideUrl = (db: Database, text: string): string =>
  db._tag === "Pg" ? text.split(Redacted.value(db.url)).join("<redacted>") : text
