/**
 * The one place that knows which package provides the durable inbox for each driver. It is loaded with a
 * dynamic import when a listener is made, so an application that only pays never loads SQL at all.
 *
 * Each branch imports its own entry of `@witkey/inbox-sql` (`SqliteInbox` or `PgInbox`), which loads only its
 * own driver: `@effect/sql-sqlite-node` (better-sqlite3) is an optional peer of this package, needed only for
 * `{ sqlite }`, and a missing one fails here with an `InboxError` naming the driver.
 */
import type * as Inbox from "@witkey/core/Inbox"
import type { Layer } from "effect"
import { Effect } from "effect"
import { InboxError } from "../Errors.js"

/** Where notifications are kept: a SQLite file (created if missing) or a PostgreSQL database. */
export type InboxOptions =
  | {
      /** The SQLite database file. */
      readonly sqlite: string
      /** Prefix of the inbox's tables. Default `witkey_`. */
      readonly tablePrefix?: string | undefined
    }
  | {
      /** `postgres://user:password@host:port/database`; never logged. */
      readonly postgres: string
      readonly maxConnections?: number | undefined
      readonly tablePrefix?: string | undefined
    }

/** Which driver the options name, or the reason they name none. */
export const driverOf = (options: unknown): "sqlite" | "postgres" | string => {
  if (typeof options !== "object" || options === null) return "give { sqlite: FILE } or { postgres: URL }"
  const record = options as Record<string, unknown>
  const sqlite = record["sqlite"]
  const postgres = record["postgres"]
  if (sqlite !== undefined && postgres !== undefined) return "give sqlite or postgres, not both"
  if (typeof sqlite === "string" && sqlite.length > 0) return "sqlite"
  if (typeof postgres === "string" && postgres.length > 0) return "postgres"
  return "give { sqlite: FILE } or { postgres: URL } (a non-empty string)"
}

const load = <A>(driver: string, load: () => Promise<A>): Effect.Effect<A, InboxError> =>
  Effect.tryPromise({
    try: load,
    catch: (error) =>
      new InboxError(
        `inbox: the ${driver} driver could not be loaded (${error instanceof Error ? error.message : String(error)})`
      )
  })

/** The inbox layer for the options (already checked with `driverOf`). */
export const layer = (options: InboxOptions): Effect.Effect<Layer.Layer<Inbox.Inbox, unknown>, InboxError> =>
  "sqlite" in options
    ? Effect.map(
        load("SQLite", () => import("@witkey/inbox-sql/SqliteInbox")),
        (SqliteInbox) =>
          SqliteInbox.layer({
            filename: options.sqlite,
            ...(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix })
          })
      )
    : Effect.map(
        load("PostgreSQL", () => import("@witkey/inbox-sql/PgInbox")),
        (PgInbox) =>
          PgInbox.layer({
            url: options.postgres,
            ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
            ...(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix })
          })
      )
