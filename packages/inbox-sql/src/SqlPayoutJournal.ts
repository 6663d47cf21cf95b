/**
 * The `PayoutJournal` of `@witkey/core` on `@effect/sql`: SQLite and PostgreSQL, in tables of its own
 * (`<prefix>payouts`, `<prefix>payout_attempts`, migrated through `<prefix>payout_migrations`), so it can share
 * a database with the inbox or live alone.
 *
 * Every write is one statement, guarded by the claim: `record` is `INSERT … ON CONFLICT DO NOTHING`; `claim`
 * is `UPDATE … WHERE` the payout is not paid and its claim is free, expired or the caller's own, `RETURNING`
 * the row only if it took; an attempt is inserted only `WHERE` the caller holds the claim, numbered under the
 * primary key `(payout_id, n)` and only while the lease is not over; the outcome is written only `WHERE` the
 * caller holds the claim. On PostgreSQL (READ COMMITTED) a second `UPDATE` of a row waits for the first to
 * commit and then re-checks its `WHERE` against the committed row, so of two concurrent claimers exactly one
 * gets the row; SQLite has one writer. `record` of a payout on record compares the request with the recorded
 * one first (`PayoutJournal.conflicts`) and claims nothing on a conflict.
 *
 * A row that does not decode (edited by hand, damaged) is left out of the listings with a logged warning and
 * listed by `unreadable`; `get` fails `unreadable` for it. One bad row never hides the other payouts.
 *
 * Every write commits on its own: inside a transaction of the caller's (an inbox handler's, say), where the
 * record would stay uncommitted while the payout is sent, it fails with reason `storage` and nothing is sent.
 *
 * `layer` runs on the `SqlClient` in context. With the inbox on the same database, give it the inbox's client
 * (`SqlPayoutJournal.layer().pipe(Layer.provideMerge(SqliteInbox.layer({ filename })))`): on SQLite that
 * client also sets the busy timeout that lets two processes share one file.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import { Clock, Effect, Either, Layer, Option, Schema } from "effect"
import * as Migrate from "./internal/migrate.js"
import * as Migrations from "./Migrations.js"

export interface Options {
  /** Prefix of the journal's tables; default `witkey_` (letters, digits, underscores). */
  readonly tablePrefix?: string | undefined
}

export interface Tables {
  readonly payouts: string
  readonly attempts: string
  readonly migrations: string
}

export const tables = (prefix: string): Tables => ({
  payouts: `${prefix}payouts`,
  attempts: `${prefix}payout_attempts`,
  migrations: `${prefix}payout_migrations`
})

const q = (identifier: string) => `"${identifier}"`

/** Append only: an applied migration is never edited. */
const migrations: ReadonlyArray<Migrate.Migration<Tables>> = [
  {
    version: 1,
    name: "payout journal",
    statements: (t, dialect) => {
      const millis = dialect === "pg" ? "BIGINT" : "INTEGER"
      return [
        `CREATE TABLE IF NOT EXISTS ${q(t.payouts)} (
  id TEXT PRIMARY KEY,
  partner TEXT NOT NULL,
  outer_task_id TEXT NOT NULL,
  transfers TEXT NOT NULL,
  url TEXT NOT NULL,
  request TEXT NOT NULL,
  recorded_at ${millis} NOT NULL,
  outcome_tag TEXT NOT NULL,
  outcome TEXT NOT NULL,
  outcome_at ${millis},
  claimed_by TEXT,
  claimed_until ${millis}
)`,
        `CREATE INDEX IF NOT EXISTS ${q(`${t.payouts}_by_task`)} ON ${q(t.payouts)} (outer_task_id, recorded_at)`,
        `CREATE INDEX IF NOT EXISTS ${q(`${t.payouts}_by_outcome`)} ON ${q(t.payouts)} (outcome_tag, recorded_at)`,
        `CREATE TABLE IF NOT EXISTS ${q(t.attempts)} (
  payout_id TEXT NOT NULL REFERENCES ${q(t.payouts)} (id),
  n INTEGER NOT NULL,
  at ${millis} NOT NULL,
  result TEXT,
  may_have_reached INTEGER NOT NULL,
  PRIMARY KEY (payout_id, n)
)`
      ]
    }
  }
]

const causeMessage = (e: SqlError): string => (e.cause instanceof Error ? e.cause.message : e.message)

const storage = (what: string) => (e: SqlError) =>
  new PayoutJournal.JournalError({
    reason: "storage",
    message: `payout journal: ${what}: ${causeMessage(e)}`
  })

/** Applies the journal's migrations not yet applied; returns the versions it applied. */
export const migrate = (
  tablePrefix: string = Migrations.DEFAULT_TABLE_PREFIX
): Effect.Effect<ReadonlyArray<number>, PayoutJournal.JournalError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const dialect = yield* Migrations.check(sql, tablePrefix, "SQL payout journal").pipe(
      Effect.mapError((message) => new PayoutJournal.JournalError({ reason: "storage", message }))
    )
    // The inbox's runner, on the journal's own tables and lock.
    return yield* Migrate.run(
      {
        sql,
        dialect,
        tables: tables(tablePrefix),
        migrations,
        lockKey: `witkey-payout-migrations:${tablePrefix}`
      },
      (stage, e) => storage(stage === "apply" ? "migrate" : stage)(e)
    )
  })

interface PayoutRow {
  readonly id: string
  readonly partner: string
  readonly outer_task_id: string
  readonly transfers: string
  readonly request: string
  readonly recorded_at: number | string
  readonly outcome_tag: string
  readonly outcome: string
  readonly outcome_at: number | string | null
}

interface AttemptRow {
  readonly payout_id: string
  readonly n: number | string
  readonly at: number | string
  readonly result: string | null
  readonly may_have_reached: number | string | boolean
}

const decodeRequest = Schema.decodeUnknownEither(PayoutJournal.SignedRequestJson)
const decodeOutcome = Schema.decodeUnknownEither(PayoutJournal.OutcomeJson)
const encodeOutcome = Schema.encodeSync(PayoutJournal.OutcomeJson)
const encodeRequest = Schema.encodeSync(PayoutJournal.SignedRequestJson)

const UNSETTLED_TAGS = ["Pending", "Unknown"] as const

/** The journal on the `SqlClient` in context; its tables must exist (`migrate`, or use `layer`). */
export const make = (
  options: Options = {}
): Effect.Effect<PayoutJournal.PayoutJournal, never, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const t = tables(options.tablePrefix ?? Migrations.DEFAULT_TABLE_PREFIX)
    const payouts = sql(t.payouts)

    /**
     * Journal writes refuse to run inside a transaction of the caller's (an inbox handler's, the
     * application's): @effect/sql would route them into it, where the record of a payout stays uncommitted
     * while the payout is sent, and goes with a rollback or a crash. Not a connection of their own instead: on
     * SQLite the one connection is held by that transaction, and on PostgreSQL handlers that each hold a pool
     * connection and wait for another would exhaust the pool.
     */
    const committed = <A>(
      effect: Effect.Effect<A, PayoutJournal.JournalError>
    ): Effect.Effect<A, PayoutJournal.JournalError> =>
      Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
        Option.isNone(outer)
          ? effect
          : Effect.fail(
              new PayoutJournal.JournalError({
                reason: "storage",
                message:
                  "payout journal: called inside a database transaction, where its record would commit only with that transaction, after the payout was sent; send payouts outside transactions"
              })
            )
      )
    const attempts = sql(t.attempts)

    const toEntry = (
      row: PayoutRow,
      rows: ReadonlyArray<AttemptRow>
    ): Either.Either<PayoutJournal.Entry, PayoutJournal.Unreadable> => {
      const request = decodeRequest(row.request)
      const outcome = decodeOutcome(row.outcome)
      if (Either.isLeft(request) || Either.isLeft(outcome))
        return Either.left({
          id: row.id,
          outerTaskId: row.outer_task_id,
          transfers: row.transfers.split(" "),
          outcomeTag: row.outcome_tag,
          recordedAt: Number(row.recorded_at),
          problem: [Either.isLeft(request) ? "request" : [], Either.isLeft(outcome) ? "outcome" : []]
            .flat()
            .map((column) => `its ${column} does not decode`)
            .join(", ")
        })
      return Either.right({
        id: row.id,
        partner: row.partner,
        outerTaskId: row.outer_task_id,
        transfers: row.transfers.split(" "),
        request: request.right,
        recordedAt: Number(row.recorded_at),
        attempts: rows
          .map((a) => ({
            n: Number(a.n),
            at: Number(a.at),
            result: a.result ?? undefined,
            mayHaveReached: Number(a.may_have_reached) === 1 || a.may_have_reached === true
          }))
          .sort((a, b) => a.n - b.n),
        outcome: outcome.right,
        outcomeAt: row.outcome_at === null ? undefined : Number(row.outcome_at)
      })
    }

    /** The rows `where` selects, as entries and as the ones that do not decode. */
    const scan = (where: ReturnType<typeof sql.and>) =>
      Effect.gen(function* () {
        const rows =
          yield* sql<PayoutRow>`SELECT id, partner, outer_task_id, transfers, request, recorded_at, outcome_tag, outcome, outcome_at FROM ${payouts} WHERE ${where} ORDER BY recorded_at, id`
        if (rows.length === 0) return { entries: [], unreadable: [] }
        // The same condition again, not a list of ids: a list is bounded by the driver's parameter limit.
        const attemptRows =
          yield* sql<AttemptRow>`SELECT payout_id, n, at, result, may_have_reached FROM ${attempts} WHERE payout_id IN (SELECT id FROM ${payouts} WHERE ${where}) ORDER BY payout_id, n`
        const byPayout = new Map<string, Array<AttemptRow>>()
        for (const a of attemptRows) {
          const list = byPayout.get(a.payout_id)
          if (list) list.push(a)
          else byPayout.set(a.payout_id, [a])
        }
        const entries: Array<PayoutJournal.Entry> = []
        const unreadable: Array<PayoutJournal.Unreadable> = []
        for (const r of rows) {
          const entry = toEntry(r, byPayout.get(r.id) ?? [])
          if (Either.isRight(entry)) entries.push(entry.right)
          else unreadable.push(entry.left)
        }
        return { entries, unreadable }
      }).pipe(Effect.mapError(storage("read")))

    const unreadableMessage = (u: PayoutJournal.Unreadable) =>
      `payout journal: payout "${u.id}" (task ${u.outerTaskId}) is unreadable: ${u.problem}`

    /** A listing: the entries that decode; each row that does not is named in a warning, and left out. */
    const select = (where: ReturnType<typeof sql.and>) =>
      Effect.flatMap(scan(where), ({ entries, unreadable }) =>
        Effect.as(
          Effect.forEach(
            unreadable,
            (u) => Effect.logWarning(`${unreadableMessage(u)}; left out of this list`),
            {
              discard: true
            }
          ),
          entries
        )
      )

    const get: PayoutJournal.PayoutJournal["get"] = (id) =>
      Effect.flatMap(scan(sql.and([sql`id = ${id}`])), ({ entries, unreadable }) =>
        unreadable.length > 0
          ? Effect.fail(
              new PayoutJournal.JournalError({
                reason: "unreadable",
                message: unreadableMessage(unreadable[0]!)
              })
            )
          : Effect.succeed(Option.fromNullable(entries[0]))
      )

    const claimRow = (id: string, claim: PayoutJournal.Claim, now: number) =>
      Effect.map(
        sql<{ id: string }>`UPDATE ${payouts} SET claimed_by = ${claim.owner}, claimed_until = ${claim.until}
WHERE id = ${id} AND outcome_tag NOT IN ('Confirmed', 'AlreadyConfirmed')
AND (claimed_by IS NULL OR claimed_until <= ${now} OR claimed_by = ${claim.owner}) RETURNING id`,
        (rows) => rows.length === 1
      )

    const mustGet = (id: string) =>
      Effect.flatMap(get(id), (entry) =>
        Option.isSome(entry)
          ? Effect.succeed(entry.value)
          : Effect.fail(
              new PayoutJournal.JournalError({ reason: "not_found", message: `no payout "${id}" on record` })
            )
      )

    return PayoutJournal.PayoutJournal.of({
      record: (request, claim) =>
        committed(
          Effect.gen(function* () {
            const id = PayoutJournal.payoutId(request.request)
            const now = yield* Clock.currentTimeMillis
            const inserted = yield* sql<{ id: string }>`INSERT INTO ${payouts}
(id, partner, outer_task_id, transfers, url, request, recorded_at, outcome_tag, outcome, outcome_at, claimed_by, claimed_until)
VALUES (${id}, ${request.request.partner}, ${request.request.outerTaskId}, ${request.request.transfers.join(" ")},
${request.url}, ${encodeRequest(request)}, ${now}, 'Pending', ${encodeOutcome({ _tag: "Pending" })}, NULL,
${claim.owner}, ${claim.until})
ON CONFLICT (id) DO NOTHING RETURNING id`.pipe(Effect.mapError(storage("record")))
            if (inserted.length === 1) return { entry: yield* mustGet(id), created: true, claimed: true }
            const conflict = PayoutJournal.conflictError(yield* mustGet(id), request)
            if (conflict !== undefined) return yield* conflict
            const claimed = yield* claimRow(id, claim, now).pipe(Effect.mapError(storage("claim")))
            return { entry: yield* mustGet(id), created: false, claimed }
          })
        ),
      claim: (id, claim) =>
        committed(
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            claimRow(id, claim, now).pipe(Effect.mapError(storage("claim")))
          )
        ),
      startAttempt: (id, owner) =>
        committed(
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const rows = yield* sql<{
              n: number | string
            }>`INSERT INTO ${attempts} (payout_id, n, at, result, may_have_reached)
SELECT p.id, (SELECT COALESCE(MAX(a.n), 0) + 1 FROM ${attempts} a WHERE a.payout_id = ${id}), ${now}, NULL, 1
FROM ${payouts} p WHERE p.id = ${id} AND p.claimed_by = ${owner} AND p.claimed_until > ${now} RETURNING n`.pipe(
              Effect.mapError(storage("record attempt"))
            )
            if (rows.length === 0)
              return yield* new PayoutJournal.JournalError({
                reason: "busy",
                message: `payout "${id}" is not held by "${owner}" (or its lease is over): not sent`
              })
            return Number(rows[0]!.n)
          })
        ),
      finishAttempt: (id, n, result) =>
        committed(
          sql`UPDATE ${attempts} SET result = ${result.text}, may_have_reached = ${result.mayHaveReached ? 1 : 0}
WHERE payout_id = ${id} AND n = ${n}`.pipe(Effect.asVoid, Effect.mapError(storage("record attempt result")))
        ),
      finish: (id, owner, outcome) =>
        committed(
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const rows = yield* sql<{ id: string }>`UPDATE ${payouts} SET outcome_tag = ${outcome._tag},
outcome = ${encodeOutcome(outcome)}, outcome_at = ${now}, claimed_by = NULL, claimed_until = NULL
WHERE id = ${id} AND claimed_by = ${owner} RETURNING id`.pipe(Effect.mapError(storage("record outcome")))
            return rows.length === 1
          })
        ),
      release: (id, owner) =>
        committed(
          sql<{ id: string }>`UPDATE ${payouts} SET claimed_by = NULL, claimed_until = NULL
WHERE id = ${id} AND claimed_by = ${owner} RETURNING id`.pipe(
            Effect.map((rows) => rows.length === 1),
            Effect.mapError(storage("release"))
          )
        ),
      get,
      byTask: (outerTaskId) => select(sql.and([sql`outer_task_id = ${outerTaskId}`])),
      unsettled: select(sql.and([sql.in("outcome_tag", UNSETTLED_TAGS)])),
      all: select(sql.and([])),
      unreadable: Effect.map(scan(sql.and([])), (r) => r.unreadable)
    })
  })

/** The journal over any SQLite or PostgreSQL `SqlClient`, migrating its tables first. */
export const layer = (
  options: Options = {}
): Layer.Layer<PayoutJournal.PayoutJournal, PayoutJournal.JournalError, SqlClient.SqlClient> =>
  Layer.effect(
    PayoutJournal.PayoutJournal,
    Effect.zipRight(migrate(options.tablePrefix ?? Migrations.DEFAULT_TABLE_PREFIX), make(options))
  )
