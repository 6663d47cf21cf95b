/**
 * The SQL inbox on PostgreSQL through `@effect/sql-pg`: a transaction per delivery, shared by the deliveries
 * that wait while the inbox's transactions are busy (group commit, in batches sized from the handlers' recent
 * wall time; `groupCommit: false` turns it off); see `SqlInbox` for the guarantees. Importing this module never loads better-sqlite3.
 *
 * @since 0.2.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Inbox from "@witkey/core/Inbox"
import type { ConfigError } from "effect/ConfigError"
import type { Duration } from "effect"
import { Config, Effect, Layer, Redacted } from "effect"
import { toInboxError } from "./internal/SqlErrors.js"
import * as SqlInbox from "./SqlInbox.js"

export interface Options extends SqlInbox.Options {
  /** `postgres://user@host:port/database`; may carry a password, so it is kept redacted. */
  readonly url: Redacted.Redacted<string> | string
  readonly maxConnections?: number | undefined
  /** How long an unused pooled connection stays open (`@effect/sql-pg`'s default when absent). */
  readonly idleTimeout?: Duration.DurationInput | undefined
}

/** PostgreSQL through a connection pool. Provides the `SqlClient` too, for the handler's writes. */
export const layer = (
  options: Options
): Layer.Layer<
  Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient | PgClient.PgClient,
  Inbox.InboxError
> => {
  const url = Redacted.isRedacted(options.url) ? options.url : Redacted.make(options.url)
  const client = PgClient.layer({
    url,
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    ...(options.idleTimeout !== undefined ? { idleTimeout: options.idleTimeout } : {}),
    applicationName: "@witkey/inbox-sql"
  }).pipe(Layer.mapError(toInboxError("connect")))
  return SqlInbox.layer(options).pipe(Layer.provideMerge(client))
}

/** `layer` from configuration: `WITKEY_INBOX_PG_URL` (redacted), `WITKEY_INBOX_TABLE_PREFIX`. */
export const layerConfig = (
  config: Config.Config<Options> = Config.all({
    url: Config.redacted("WITKEY_INBOX_PG_URL"),
    tablePrefix: SqlInbox.tablePrefixConfig
  })
): Layer.Layer<
  Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient | PgClient.PgClient,
  Inbox.InboxError | ConfigError
> => Layer.unwrapEffect(Effect.map(config, layer))
