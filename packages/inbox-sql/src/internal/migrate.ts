/**
 * The one migration runner of the inbox and the payout journal: each has its own tables, migrations and lock,
 * and the same way of applying them (a versions table, a database-wide lock, the check and the DDL in one
 * transaction), so that a fix to one (say, to the lock) cannot miss the other.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect } from "effect"
import type { Dialect } from "../Migrations.js"

export interface Migration<T> {
  readonly version: number
  readonly name: string
  readonly statements: (tables: T, dialect: Dialect) => ReadonlyArray<string>
  /** Row work after the statements, in the same transaction: for what needs core's code, not just SQL. */
  readonly rows?: (sql: SqlClient.SqlClient, tables: T) => Effect.Effect<void, SqlError>
}

export interface Plan<T extends { readonly migrations: string }> {
  readonly sql: SqlClient.SqlClient
  readonly dialect: Dialect
  readonly tables: T
  /** Oldest first. */
  readonly migrations: ReadonlyArray<Migration<T>>
  /** PostgreSQL's advisory lock key, before the schema name: distinct per store and table prefix. */
  readonly lockKey: string
}

/** Where a migration failed: creating the versions table (SQLite, before the lock) or applying. */
export type Stage = "create migrations table" | "apply"

const q = (identifier: string) => `"${identifier}"`

/** Applies the migrations not yet applied; returns the versions it applied (empty when up to date). */
export const run = <T extends { readonly migrations: string }, E>(
  plan: Plan<T>,
  onError: (stage: Stage, error: SqlError) => E
): Effect.Effect<ReadonlyArray<number>, E> =>
  Effect.gen(function* () {
    const { dialect, sql, tables: t } = plan
    const createMigrations = sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${q(t.migrations)} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at ${dialect === "pg" ? "BIGINT" : "INTEGER"} NOT NULL)`
    )
    const lock =
      dialect === "pg"
        ? // Serializes concurrent starts on this schema and prefix; released at commit.
          sql`SELECT pg_advisory_xact_lock(hashtext(${plan.lockKey} || current_schema()))`.pipe(
            Effect.zipRight(createMigrations)
          )
        : // A no-op write as the first statement makes SQLite's deferred BEGIN take the write lock now, so a
          // concurrent starter waits (busy timeout) instead of failing on a stale snapshot.
          sql.unsafe(`DELETE FROM ${q(t.migrations)} WHERE version < 0`)
    if (dialect === "sqlite")
      yield* createMigrations.pipe(Effect.mapError((e) => onError("create migrations table", e)))
    return yield* Effect.gen(function* () {
      yield* lock
      const applied = new Set(
        (yield* sql.unsafe<{ version: number | string }>(`SELECT version FROM ${q(t.migrations)}`)).map((r) =>
          Number(r.version)
        )
      )
      const done: Array<number> = []
      for (const migration of plan.migrations) {
        if (applied.has(migration.version)) continue
        for (const statement of migration.statements(t, dialect)) yield* sql.unsafe(statement)
        if (migration.rows !== undefined) yield* migration.rows(sql, t)
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO ${sql(t.migrations)} (version, name, applied_at) VALUES (${migration.version}, ${migration.name}, ${now})`
        done.push(migration.version)
      }
      return done
    }).pipe(
      sql.withTransaction,
      // better-sqlite3 waits for a lock synchronously, blocking the thread: two stores opened at once in one
      // process (tests do) would deadlock if the fiber holding the lock yielded mid-transaction to the one
      // waiting for it. The statements are synchronous: run the transaction without yielding.
      Effect.withMaxOpsBeforeYield(Number.MAX_SAFE_INTEGER),
      Effect.mapError((e) => onError("apply", e))
    )
  })
