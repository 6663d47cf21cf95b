/**
 * The SQL inbox on a SQLite file through `@effect/sql-sqlite-node` (better-sqlite3): the embedded default, no
 * server. Deliveries share commits (group commit); see `SqlInbox` for the guarantees.
 *
 * @since 0.2.0
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Inbox from "@witkey/core/Inbox"
import type { ConfigError } from "effect/ConfigError"
import { Config, Duration, Effect, Layer } from "effect"
import { toInboxError } from "./internal/SqlErrors.js"
import * as SqlInbox from "./SqlInbox.js"

export interface Options extends SqlInbox.Options {
  /** The database file; created if missing. */
  readonly filename: string
  /** How long to wait for another process's write lock before answering busy. Default 5 seconds. */
  readonly busyTimeout?: Duration.DurationInput | undefined
}

/**
 * A SQLite file in WAL mode, with synchronous commits and a busy timeout. Provides the `SqlClient` too, so the
 * handler's writes join the inbox's transaction.
 */
export const layer = (
  options: Options
): Layer.Layer<
  Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient | SqliteClient.SqliteClient,
  Inbox.InboxError | ConfigError
> => {
  const busyMillis = Math.max(0, Math.round(Duration.toMillis(options.busyTimeout ?? Duration.seconds(5))))
  const pragmas = Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    // WAL is the SqliteClient's default; FULL makes every commit durable before `success` is answered.
    yield* sql.unsafe(`PRAGMA busy_timeout = ${busyMillis}`)
    yield* sql.unsafe("PRAGMA synchronous = FULL")
  }).pipe(Effect.mapError(toInboxError("open")))
  const client = Layer.effectDiscard(pragmas).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename: options.filename }))
  )
  return SqlInbox.layer(options).pipe(Layer.provideMerge(client))
}

/** `layer` from configuration: `WITKEY_INBOX_SQLITE_FILENAME`, `WITKEY_INBOX_TABLE_PREFIX`. */
export const layerConfig = (
  config: Config.Config<Options> = Config.all({
    filename: Config.string("WITKEY_INBOX_SQLITE_FILENAME"),
    tablePrefix: SqlInbox.tablePrefixConfig
  })
): Layer.Layer<
  Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient | SqliteClient.SqliteClient,
  Inbox.InboxError | ConfigError
> => Layer.unwrapEffect(Effect.map(config, layer))
