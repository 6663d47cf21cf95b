/**
 * The runner for PostgreSQL: a transaction per unit, in two round trips when the handler itself sends
 * nothing: `BEGIN` + record and claim, the handler, mark processed + `COMMIT`.
 *
 * - BEGIN goes out with the unit's first statement, and COMMIT with its last (`exec(…, { commit: true })`),
 *   in one round trip of the extended protocol each (`pgPipeline.ts`: Parse/Bind/Execute per statement, one
 *   Sync), every value a bound parameter. A statement that fails makes PostgreSQL skip the rest up to the
 *   Sync: the COMMIT behind it never runs, the runner rolls back. The last statement fails when its claim no
 *   longer stands (`statements.ts`), and the COMMIT's command tag is checked, so nothing commits that `settle`
 *   would not.
 * - With `prepared` (the default) each inbox statement is parsed once per connection under a name and then
 *   only bound and executed: parsing and planning the inbox's statements on each use about doubled
 *   PostgreSQL's CPU time per delivery. Without it (a pooler that moves sessions between server connections
 *   and does not keep prepared statements) they are unnamed, parsed on each use; a named statement reported
 *   gone switches the runner to that for good.
 * - The statements go to the pooled `pg` client directly (what `@effect/sql-pg` calls, without its
 *   per-statement span and fiber); a client without that shape (another driver) gets the same statements
 *   through `@effect/sql`'s connection, one at a time.
 * - The handler runs with the reserved connection as `SqlClient.TransactionConnection`, so its statements
 *   (and its nested `withTransaction`, a savepoint) join the transaction, as with `withTransaction`.
 *
 * Interruption: only the unit between statements is interruptible (the caller's `restore`); a statement in
 * flight, and the commit, are waited for, so a committed delivery is never also recorded as interrupted.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Inbox from "@witkey/core/Inbox"
import type { Cause } from "effect"
import { Effect, Exit, Predicate } from "effect"
import { createHash } from "node:crypto"
import { toInboxError } from "./SqlErrors.js"
import * as Pipeline from "./pgPipeline.js"
import { type Exec, recordable, type Runner } from "./unit.js"

export interface Step {
  readonly text: string
  readonly values: ReadonlyArray<unknown>
  /** An inbox statement (named when `prepared`), not BEGIN/COMMIT/ROLLBACK. */
  readonly prepared: boolean
}

export interface Result {
  readonly rows: ReadonlyArray<any>
  readonly command: string | undefined
}

/** The part of a `pg` client the runner uses: a query, or a submittable (`pgPipeline.ts`); `end` to discard it. */
interface PgClientLike {
  readonly end?: () => unknown
  readonly query: {
    (
      config: { readonly name?: string; readonly text: string; readonly values?: Array<unknown> },
      callback: (error: Error | null | undefined, result: { rows?: Array<any>; command?: string }) => void
    ): void
    (submittable: Pipeline.Pipeline): void
  }
}

export const BEGIN: Step = { text: "BEGIN", values: [], prepared: false }
export const COMMIT: Step = { text: "COMMIT", values: [], prepared: false }
export const ROLLBACK: Step = { text: "ROLLBACK", values: [], prepared: false }

/**
 * A statement's name, from its text alone (`prepared`): `pg` keeps a connection's parsed statements by name, so
 * a name must never stand for two texts, in this process or in another one. Behind a pooler in transaction mode
 * the server connection under a client may have been used by another instance of the application (another
 * SDK version, another table prefix, another order of first use): a name numbered by first use here could be
 * another statement there, run with these values. A digest of the text names the same statement everywhere.
 */
const names = new Map<string, string>()
export const nameOf = (text: string): string => {
  let name = names.get(text)
  if (name === undefined) {
    // 96 bits of SHA-256: far below PostgreSQL's 63-byte limit, and no two of a handful of texts collide.
    name = `witkey_inbox_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`
    names.set(text, name)
  }
  return name
}

const failed = (cause: unknown) => new SqlError({ cause, message: "Failed to execute statement" })

/**
 * Runs steps in order on one connection and answers with `then` of their results, or with the first failure
 * as the inbox's error (`what` it was doing). One `Effect.async` per round trip on the pipeline: this runs twice
 * per delivery.
 */
export type Send = <A>(
  steps: ReadonlyArray<Step>,
  what: string,
  then: (results: ReadonlyArray<Result>) => Effect.Effect<A, Inbox.InboxError>
) => Effect.Effect<A, Inbox.InboxError>

const pgClientOf = (connection: SqlConnection.Connection): PgClientLike | undefined => {
  const pg = (connection as { readonly pg?: unknown }).pg
  return Predicate.hasProperty(pg, "query") && Predicate.isFunction(pg.query)
    ? (pg as PgClientLike)
    : undefined
}

/** Text and values through the extended protocol: one round trip per step, queued together. */
const extendedSteps =
  (pg: PgClientLike) =>
  (steps: ReadonlyArray<Step>): Effect.Effect<ReadonlyArray<Result>, SqlError> =>
    Effect.async<ReadonlyArray<Result>, SqlError>((resume) => {
      const results: Array<Result> = []
      let firstError: unknown = undefined
      let answered = 0
      for (const step of steps)
        pg.query(
          step.values.length === 0
            ? { text: step.text }
            : { text: step.text, values: step.values as Array<unknown> },
          (error, result) => {
            if (error) firstError ??= error
            else results.push({ rows: result.rows ?? [], command: result.command })
            if (++answered === steps.length)
              resume(firstError === undefined ? Effect.succeed(results) : Effect.fail(failed(firstError)))
          }
        )
    })

/** Whether the inbox's statements are named; turned off for good when PostgreSQL forgets them (a pooler). */
export interface Naming {
  named: boolean
}

/** PostgreSQL's `invalid_sql_statement_name`: a named statement this connection was thought to hold is gone. */
const STATEMENT_GONE = "26000"

const statementGone = (error: unknown) =>
  Predicate.hasProperty(error, "code") && error.code === STATEMENT_GONE

/**
 * The steps in one round trip of the extended protocol (`pgPipeline.ts`), every value bound. Inbox statements
 * are named (parsed once per connection) while `naming.named`; if PostgreSQL ever answers that a named
 * statement does not exist (a pooler that hands the session another server connection, or one that discards
 * them), the delivery fails (Alipay delivers it again) and the inbox goes on with unnamed statements, parsed on
 * each use. A value of a kind the pipeline does not map goes the `extendedSender` way.
 */
const pipelineSender = (pg: PgClientLike, naming: Naming): Send => {
  const extended = extendedSteps(pg)
  const forgotten = Effect.zipRight(
    Effect.sync(() => void (naming.named = false)),
    Effect.logWarning(
      "witkey inbox: PostgreSQL lost a prepared statement of this connection (a pooler in transaction mode?); the inbox parses its statements on each use from now on (preparedStatements: false avoids this)"
    )
  )
  return (steps, what, then) =>
    Effect.suspend(() => {
      const named = naming.named
      const statements = steps.map((step): Pipeline.Statement => ({
        text: step.text,
        values: step.values,
        name: named && step.prepared ? nameOf(step.text) : undefined
      }))
      const values = Pipeline.wireValues(statements)
      if (values === undefined)
        return Effect.flatMap(Effect.mapError(extended(steps), toInboxError(what)), then)
      return Effect.async<any, Inbox.InboxError>((resume) => {
        pg.query(
          new Pipeline.Pipeline(statements, values, (error, results) => {
            // Suspended: a throw in `then` stays in this Effect, never in pg's message handler.
            if (error === undefined) return resume(Effect.suspend(() => then(results!)))
            const failure = Effect.fail(toInboxError(what)(failed(error)))
            resume(
              named && naming.named && statementGone(error) ? Effect.zipRight(forgotten, failure) : failure
            )
          })
        )
      })
    })
}

/** Another driver: the same statements through `@effect/sql`'s connection, one at a time. */
export const sender = (connection: SqlConnection.Connection, naming: Naming): Send => {
  const pg = pgClientOf(connection)
  if (pg === undefined)
    return (steps, what, then) =>
      Effect.forEach(steps, (step) =>
        Effect.map(connection.executeRaw(step.text, step.values), (raw): Result => {
          const r = raw as { rows?: ReadonlyArray<any>; command?: string }
          return { rows: r.rows ?? [], command: r.command }
        })
      ).pipe(Effect.mapError(toInboxError(what)), Effect.flatMap(then))
  return pipelineSender(pg, naming)
}

/**
 * A connection whose ROLLBACK failed may still hold an open (or aborted) transaction: it must not go back to
 * the pool, where the next delivery's BEGIN would join it. Ending a `pg` client marks it so that the pool
 * removes it when it is released. (Another driver: its own pool's rules apply.)
 */
export const discard = (connection: SqlConnection.Connection) =>
  Effect.sync(() => {
    const pg = pgClientOf(connection)
    try {
      pg?.end?.()
    } catch {
      // Already ending or gone: either way it is not handed out again.
    }
  })

const lostAtCommit = () =>
  new Inbox.InboxError({
    reason: "lost",
    message:
      "inbox commit: PostgreSQL rolled the transaction back instead of committing it (a statement inside it failed); answered fail"
  })

export const committed = (results: ReadonlyArray<Result>) =>
  results[results.length - 1]?.command === "COMMIT" ? Effect.void : Effect.fail(lostAtCommit())

/**
 * `naming`: whether the inbox's statements are named prepared statements (off for poolers that cannot keep
 * them); shared with the batch runner (`pgBatch.ts`), which turns it off the same way.
 */
export const make = (sql: SqlClient.SqlClient, naming: Naming): Runner => {
  const reserve = Effect.mapError(sql.reserve, toInboxError("begin"))
  return {
    record: (effect, restore) => restore(effect),
    run: <A, E, R>(
      unit: (exec: Exec) => Effect.Effect<A, E, R>,
      restore: <X, E2, R2>(effect: Effect.Effect<X, E2, R2>) => Effect.Effect<X, E2, R2>,
      onFailure: (cause: Cause.Cause<unknown>) => Effect.Effect<void>
    ): Effect.Effect<A, E | Inbox.InboxError, R> => {
      // Plain flatMaps rather than generators: this runs on every delivery.
      const transaction = Effect.flatMap(reserve, (connection) => {
        const send = sender(connection, naming)
        let state = "idle" as "idle" | "open" | "done"
        const exec: Exec = <Row extends object>(
          what: string,
          statement: Parameters<Exec>[1],
          execOptions?: { readonly commit?: boolean }
        ) =>
          Effect.uninterruptible(
            Effect.suspend(() => {
              const [text, values] = statement.compile()
              const opening = state === "idle"
              const committing = execOptions?.commit === true
              const steps: Array<Step> = opening ? [BEGIN] : []
              steps.push({ text, values, prepared: true })
              if (committing) steps.push(COMMIT)
              state = committing ? "done" : "open"
              const at = opening ? 1 : 0
              return send(
                steps,
                committing ? `${what} and commit` : what,
                committing
                  ? (results) => Effect.as(committed(results), results[at]!.rows as ReadonlyArray<Row>)
                  : (results) => Effect.succeed(results[at]!.rows as ReadonlyArray<Row>)
              )
            })
          )
        return Effect.flatMap(
          Effect.exit(
            restore(Effect.provideService(unit(exec), SqlClient.TransactionConnection, [connection, 0]))
          ),
          (result): Effect.Effect<A, E | Inbox.InboxError> => {
            if (Exit.isSuccess(result)) {
              if (state !== "open") return result
              state = "done"
              return Effect.as(send([COMMIT], "commit", committed), result.value)
            }
            // Harmless outside a transaction (PostgreSQL only warns): sent whenever one may still be open.
            return state === "idle"
              ? result
              : Effect.zipRight(
                  Effect.catchAll(
                    send([ROLLBACK], "rollback", () => Effect.void),
                    () => discard(connection)
                  ),
                  result
                )
          }
        )
      })
      return Effect.flatMap(Effect.exit(Effect.scoped(transaction)), (exit) =>
        Exit.isFailure(exit) && recordable(exit.cause) ? Effect.zipRight(onFailure(exit.cause), exit) : exit
      )
    }
  }
}
