/**
 * @witkey/inbox-sql: the durable notification inbox of `@witkey/core` on `@effect/sql` (SQLite, PostgreSQL).
 */
export * as Migrations from "./Migrations.js"
export * as SqlInbox from "./SqlInbox.js"
export * as SqlPayoutJournal from "./SqlPayoutJournal.js"
