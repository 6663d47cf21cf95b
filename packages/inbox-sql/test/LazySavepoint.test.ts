// The batch's connection as a handler sees it (`pgBatch.ts`): one SAVEPOINT before the handler's first
// statement, which every statement waits for (concurrent first statements included), and no statement that
// ends or begins the shared transaction.
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import * as PgBatch from "../src/internal/pgBatch.js"

/** A connection that logs what reaches it; the SAVEPOINT completes only when `savepointDone` does. */
const fake = (savepointDone: Deferred.Deferred<void>) => {
  const reached: Array<string> = []
  const run = (text: string) =>
    Effect.zipRight(
      Effect.sync(() => void reached.push(text)),
      text.startsWith("SAVEPOINT") ? Effect.as(Deferred.await(savepointDone), []) : Effect.succeed([])
    )
  const connection = {
    execute: (text: string) => run(text),
    executeRaw: (text: string) => run(text),
    executeValues: (text: string) => run(text),
    executeUnprepared: (text: string) => run(text),
    executeStream: () => {
      throw new Error("not used")
    }
  } as unknown as SqlConnection.Connection
  return { connection, reached }
}

describe("lazySavepoint", () => {
  it.effect("concurrent first statements wait for the one SAVEPOINT; nothing is sent before it ends", () =>
    Effect.gen(function* () {
      const done = yield* Deferred.make<void>()
      const { connection, reached } = fake(done)
      const wrapped = PgBatch.lazySavepoint(
        connection,
        Effect.asVoid(connection.executeRaw("SAVEPOINT s", []))
      )
      assert.isFalse(wrapped.opened())
      const fibers = yield* Effect.forEach(["INSERT 1", "INSERT 2", "INSERT 3"], (text) =>
        Effect.fork(wrapped.connection.execute(text, [], undefined))
      )
      yield* Effect.yieldNow({ priority: 1 })
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      assert.isTrue(wrapped.opened())
      assert.deepStrictEqual(reached, ["SAVEPOINT s"], "no statement before the savepoint is in")
      yield* Deferred.succeed(done, undefined)
      yield* Effect.forEach(fibers, Fiber.join)
      assert.deepStrictEqual(reached.slice(0, 1), ["SAVEPOINT s"])
      assert.sameMembers(reached.slice(1), ["INSERT 1", "INSERT 2", "INSERT 3"])
      yield* wrapped.connection.execute("INSERT 4", [], undefined)
      assert.deepStrictEqual(
        reached.filter((t) => t.startsWith("SAVEPOINT")),
        ["SAVEPOINT s"],
        "once"
      )
    })
  )

  it.effect("refuses to end or begin the transaction; savepoints of a nested withTransaction pass", () =>
    Effect.gen(function* () {
      const done = yield* Deferred.make<void>()
      yield* Deferred.succeed(done, undefined)
      const { connection, reached } = fake(done)
      const wrapped = PgBatch.lazySavepoint(
        connection,
        Effect.asVoid(connection.executeRaw("SAVEPOINT s", []))
      )
      for (const text of [
        "COMMIT",
        " commit;",
        "END",
        "ROLLBACK",
        "rollback work",
        "BEGIN",
        "START TRANSACTION",
        "PREPARE TRANSACTION 'x'"
      ]) {
        const error = yield* Effect.flip(wrapped.connection.executeUnprepared(text, [], undefined))
        assert.instanceOf(error, SqlError)
        assert.include(error.message, "may not end or begin")
      }
      assert.deepStrictEqual(reached, [], "nothing refused reached the connection")
      for (const text of [
        "SAVEPOINT effect_sql_1",
        "RELEASE SAVEPOINT effect_sql_1",
        "ROLLBACK TO SAVEPOINT effect_sql_1",
        "UPDATE endpoint SET committed = true"
      ])
        yield* wrapped.connection.executeRaw(text, [])
      assert.deepStrictEqual(reached, [
        "SAVEPOINT s",
        "SAVEPOINT effect_sql_1",
        "RELEASE SAVEPOINT effect_sql_1",
        "ROLLBACK TO SAVEPOINT effect_sql_1",
        "UPDATE endpoint SET committed = true"
      ])
    })
  )
})
