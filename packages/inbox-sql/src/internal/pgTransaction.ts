/**
 * The runner for PostgreSQL: a transaction per unit, in two round trips when the handler itself sends
 * nothing: `BEGIN; EXECUTE <record and claim>`, the handler, `EXECUTE <mark processed>; COMMIT`.
 *
 * - BEGIN goes out with the unit's first statement, and COMMIT with its last (`exec(…, { commit: true })`),
 *   in one Query message of the simple protocol each. A statement that fails ends its message: the COMMIT
 *   behind it never runs, the runner rolls back. The last statement fails when its claim no longer stands
 *   (`statements.ts`), and the COMMIT's command tag is checked, so nothing commits that `settle` would not.
 * - Each inbox statement is prepared once per connection (`PREPARE`, a round trip of its own the first time)
 *   and run with `EXECUTE`, its parameters written as literals (quoted as `pg` quotes them, bytes as
 *   `decode(hex)`): parsed and planned once per connection. A literal sits in the statement's text, so
 *   PostgreSQL's log of a failing statement (`log_min_error_statement`) shows it, the raw body included.
 *   With `prepared` off (a pooler that cannot keep prepared statements), the statements go through the
 *   extended protocol with their parameters bound, BEGIN and COMMIT queued right behind (four round trips).
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
import { Effect, Exit, Predicate } from "effect"
import { toInboxError } from "./SqlErrors.js"
import { type Exec, recordable, type Runner } from "./unit.js"

interface Step {
  readonly text: string
  readonly values: ReadonlyArray<unknown>
  /** Prepared under a name (statements with parameters; not BEGIN/COMMIT). */
  readonly prepared: boolean
}

interface Result {
  readonly rows: ReadonlyArray<any>
  readonly command: string | undefined
}

/** The part of a `pg` client the runner uses. */
interface PgClientLike {
  readonly query: (
    config: { readonly name?: string; readonly text: string; readonly values?: Array<unknown> },
    callback: (error: Error | null | undefined, result: { rows?: Array<any>; command?: string }) => void
  ) => void
}

const BEGIN: Step = { text: "BEGIN", values: [], prepared: false }
const COMMIT: Step = { text: "COMMIT", values: [], prepared: false }
const ROLLBACK: Step = { text: "ROLLBACK", values: [], prepared: false }

/**
 * One name per statement text, for the whole process: `pg` prepares a name once per connection and refuses
 * the same name with another text. The texts are the inbox's own, a handful per table prefix.
 */
const names = new Map<string, string>()
const nameOf = (text: string): string => {
  let name = names.get(text)
  if (name === undefined) {
    name = `witkey_inbox_${names.size + 1}`
    names.set(text, name)
  }
  return name
}

const failed = (cause: unknown) => new SqlError({ cause, message: "Failed to execute statement" })

/** Runs steps in order on one connection; fails with the first failure, after every step was answered. */
type Send = (steps: ReadonlyArray<Step>) => Effect.Effect<ReadonlyArray<Result>, SqlError>

const pgClientOf = (connection: SqlConnection.Connection): PgClientLike | undefined => {
  const pg = (connection as { readonly pg?: unknown }).pg
  return Predicate.hasProperty(pg, "query") && Predicate.isFunction(pg.query)
    ? (pg as PgClientLike)
    : undefined
}

/** Text and values through the extended protocol: one round trip per step, queued together. */
const extendedSender =
  (pg: PgClientLike): Send =>
  (steps) =>
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

/** A string as a PostgreSQL literal, whatever `standard_conforming_strings` says (as `pg`'s `escapeLiteral`). */
const quote = (value: string): string => {
  let backslash = false
  let out = "'"
  for (const c of value) {
    if (c === "'") out += "''"
    else if (c === "\\") {
      out += "\\\\"
      backslash = true
    } else out += c
  }
  return backslash ? `E${out}'` : `${out}'`
}

/** A parameter as a literal of an `EXECUTE`, or undefined for a value of a kind the inbox never binds. */
const literal = (value: unknown): string | undefined => {
  if (value === null || value === undefined) return "NULL"
  switch (typeof value) {
    case "string":
      return quote(value)
    case "number":
      return Number.isFinite(value) ? String(value) : undefined
    case "bigint":
      return value.toString()
    case "boolean":
      return value ? "TRUE" : "FALSE"
  }
  return value instanceof Uint8Array
    ? `decode('${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}', 'hex')`
    : undefined
}

/**
 * The statements in one Query message of the simple protocol: `BEGIN; EXECUTE …` and `EXECUTE …; COMMIT`,
 * one round trip each. Each inbox statement is prepared once per connection (`PREPARE`, its own round trip,
 * the first time only; prepared statements outlive a rollback) and run by `EXECUTE` with its parameters
 * written as literals (quoted as `pg` quotes them; bytes as `decode(hex)`). A statement that fails ends the
 * message there: nothing after it runs, so a COMMIT behind a failed statement is never even attempted (the
 * runner then rolls back).
 */
const preparedOn = new WeakMap<PgClientLike, Set<string>>()

const simpleSender = (pg: PgClientLike): Send => {
  const extended = extendedSender(pg)
  let prepared = preparedOn.get(pg)
  if (prepared === undefined) preparedOn.set(pg, (prepared = new Set()))
  const known = prepared
  return (steps) =>
    Effect.suspend(() => {
      const parts: Array<string> = []
      const toPrepare: Array<Step> = []
      for (const step of steps) {
        if (!step.prepared) {
          parts.push(step.text)
          continue
        }
        const args = step.values.map(literal)
        if (args.some((a) => a === undefined)) return extended(steps)
        const name = nameOf(step.text)
        if (!known.has(name))
          toPrepare.push({ text: `PREPARE ${name} AS ${step.text}`, values: [], prepared: false })
        parts.push(args.length === 0 ? `EXECUTE ${name}` : `EXECUTE ${name}(${args.join(", ")})`)
      }
      const run = Effect.async<ReadonlyArray<Result>, SqlError>((resume) => {
        pg.query({ text: parts.join("; ") }, (error, result) => {
          if (error) return resume(Effect.fail(failed(error)))
          const all = Array.isArray(result) ? (result as Array<typeof result>) : [result]
          resume(Effect.succeed(all.map((r) => ({ rows: r.rows ?? [], command: r.command }))))
        })
      })
      if (toPrepare.length === 0) return run
      return Effect.zipRight(
        Effect.tap(extended(toPrepare), () =>
          Effect.sync(() => {
            for (const step of steps) if (step.prepared) known.add(nameOf(step.text))
          })
        ),
        run
      )
    })
}

const sender = (connection: SqlConnection.Connection, prepared: boolean): Send => {
  const pg = pgClientOf(connection)
  if (pg === undefined)
    return (steps) =>
      Effect.forEach(steps, (step) =>
        Effect.map(connection.executeRaw(step.text, step.values), (raw): Result => {
          const r = raw as { rows?: ReadonlyArray<any>; command?: string }
          return { rows: r.rows ?? [], command: r.command }
        })
      )
  return prepared ? simpleSender(pg) : extendedSender(pg)
}

const lostAtCommit = () =>
  new Inbox.InboxError({
    reason: "lost",
    message:
      "inbox commit: PostgreSQL rolled the transaction back instead of committing it (a statement inside it failed); answered fail"
  })

/** `prepared`: the inbox's statements as named prepared statements (off for poolers that cannot keep them). */
export const make = (sql: SqlClient.SqlClient, options: { readonly prepared: boolean }): Runner => ({
  record: (effect, restore) => restore(effect),
  run: (unit, restore, onFailure) =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            const connection = yield* Effect.mapError(sql.reserve, toInboxError("begin"))
            const send = sender(connection, options.prepared)
            let state = "idle" as "idle" | "open" | "done"
            const commitChecked = (results: ReadonlyArray<Result>) =>
              results[results.length - 1]?.command === "COMMIT" ? Effect.void : Effect.fail(lostAtCommit())
            const exec: Exec = <A extends object>(
              what: string,
              statement: Parameters<Exec>[1],
              execOptions?: { readonly commit?: boolean }
            ) =>
              Effect.suspend(() => {
                const [text, values] = statement.compile()
                const opening = state === "idle"
                const committing = execOptions?.commit === true
                const steps: Array<Step> = opening ? [BEGIN] : []
                steps.push({ text, values, prepared: true })
                if (committing) steps.push(COMMIT)
                state = committing ? "done" : "open"
                return send(steps).pipe(
                  Effect.mapError(toInboxError(committing ? `${what} and commit` : what)),
                  Effect.flatMap((results) =>
                    committing
                      ? Effect.as(commitChecked(results), results[opening ? 1 : 0]!.rows)
                      : Effect.succeed(results[opening ? 1 : 0]!.rows)
                  )
                )
              }).pipe(Effect.uninterruptible) as Effect.Effect<ReadonlyArray<A>, Inbox.InboxError>
            const result = yield* Effect.exit(
              restore(Effect.provideService(unit(exec), SqlClient.TransactionConnection, [connection, 0]))
            )
            if (Exit.isSuccess(result)) {
              if (state === "open") {
                state = "done"
                yield* send([COMMIT]).pipe(
                  Effect.mapError(toInboxError("commit")),
                  Effect.flatMap(commitChecked)
                )
              }
              return result.value
            }
            // Harmless outside a transaction (PostgreSQL only warns): sent whenever one may still be open.
            if (state !== "idle") yield* Effect.ignore(send([ROLLBACK]))
            return yield* result
          })
        )
      )
      if (Exit.isFailure(exit) && recordable(exit.cause)) yield* onFailure(exit.cause)
      return yield* exit
    })
})
