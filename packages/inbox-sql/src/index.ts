/**
 * @witkey/inbox-sql: the durable notification inbox of `@witkey/core` on `@effect/sql`. The drivers are entries
 * of their own, not re-exported here, so that importing one never loads the other: `@witkey/inbox-sql/SqliteInbox`
 * (better-sqlite3) and `@witkey/inbox-sql/PgInbox`.
 */
export * as Migrations from "./Migrations.js"
export * as SqlInbox from "./SqlInbox.js"
export * as SqlPayoutJournal from "./SqlPayoutJournal.js"
