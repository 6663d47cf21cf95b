// PostgreSQL for the tests: where it is (WITKEY_PG_URL, default postgres://postgres@127.0.0.1:5432/test),
// whether it answers, and a fresh schema per test run (search_path set in the URL, dropped afterwards).
// With WITKEY_PG_REQUIRED=1 (CI) an unreachable server fails the tests instead of skipping them.
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Cause, Effect, Layer, Predicate, Redacted, Scope } from "effect"

export const baseUrl = process.env["WITKEY_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
export const required = process.env["WITKEY_PG_REQUIRED"] === "1"

/** The URL without its password, for messages. */
export const shownUrl = (() => {
  try {
    const u = new URL(baseUrl)
    if (u.password) u.password = "***"
    return u.toString()
  } catch {
    return "(unparsable WITKEY_PG_URL)"
  }
})()

/** The base URL with `search_path` set to `schema` for every connection. */
export const urlFor = (schema: string): string => {
  const u = new URL(baseUrl)
  u.searchParams.set("options", `-c search_path=${schema}`)
  return u.toString()
}

const admin = (f: (sql: PgClient.PgClient) => Effect.Effect<unknown, unknown>) =>
  Effect.gen(function* () {
    const sql = yield* PgClient.make({ url: Redacted.make(baseUrl), connectTimeout: "3 seconds" })
    yield* f(sql)
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer))

/** `undefined` when the server answers, else why not. Evaluated once per test file. */
export const unavailable: Promise<string | undefined> = Effect.runPromise(
  admin((sql) => sql`SELECT 1`).pipe(
    Effect.as(undefined),
    Effect.catchAllCause((cause) => {
      const failure = Cause.squash(cause)
      const inner = Predicate.hasProperty(failure, "cause") ? failure.cause : undefined
      const detail = [
        failure instanceof Error ? failure.message : String(failure),
        Predicate.hasProperty(inner, "code") ? String(inner.code) : undefined,
        inner instanceof Error && inner.message !== "" ? inner.message : undefined
      ]
        .filter((part) => part !== undefined)
        .join(": ")
      return Effect.succeed(
        `PostgreSQL at ${shownUrl} is unreachable (${detail}); set WITKEY_PG_URL or start a server`
      )
    })
  )
)

export const schemaName = (label: string) =>
  `witkey_test_${label}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase()

/** Creates a schema for the scope's lifetime and returns a URL whose connections use it. */
export const scopedSchema = (label: string): Effect.Effect<string, unknown, Scope.Scope> => {
  const schema = schemaName(label)
  return Effect.acquireRelease(
    admin((sql) => sql.unsafe(`CREATE SCHEMA "${schema}"`)).pipe(Effect.as(urlFor(schema))),
    () => admin((sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(Effect.ignore)
  )
}

/** A layer over a fresh schema: `make(url)` builds what needs the database. */
export const inSchema = <A, E, R>(
  label: string,
  make: (url: string) => Layer.Layer<A, E, R>
): Layer.Layer<A, unknown, R> => Layer.unwrapScoped(Effect.map(scopedSchema(label), make))

export const skipMessage = (reason: string) =>
  `[inbox-sql] PostgreSQL tests SKIPPED: ${reason}. Set WITKEY_PG_REQUIRED=1 to make this a failure.`
