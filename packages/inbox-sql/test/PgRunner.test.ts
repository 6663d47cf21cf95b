// The PostgreSQL runner (`internal/pgTransaction.ts`) on a stand-in `pg` client, for what a real server will not
// do on demand: a ROLLBACK that fails, after which the connection must never go back to the pool. And the names
// of its prepared statements, which must depend on the statement's text alone (behind a pooler, another process
// may have parsed a statement on the same server connection).
import type * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import type * as Pipeline from "../src/internal/pgPipeline.js"
import * as PgTransaction from "../src/internal/pgTransaction.js"
import type { Runner } from "../src/internal/unit.js"

/** A `pg` client that answers each pipeline from `answer`, and records what it was sent and whether it ended. */
const standIn = (answer: (texts: ReadonlyArray<string>) => Error | undefined) => {
  const sent: Array<ReadonlyArray<string>> = []
  const client = {
    ended: false,
    end: () => void (client.ended = true),
    query: (pipeline: Pipeline.Pipeline) => {
      // Its statements are private to it: read here only to see what the runner sent.
      const texts = (pipeline as unknown as { statements: ReadonlyArray<Pipeline.Statement> }).statements.map(
        (s) => s.text
      )
      sent.push(texts)
      const error = answer(texts)
      queueMicrotask(() =>
        error === undefined
          ? pipeline.callback(
              undefined,
              texts.map((text) => ({ rows: [], command: text.split(" ")[0] }))
            )
          : pipeline.callback(error, undefined)
      )
    }
  }
  const sql = { reserve: Effect.succeed({ pg: client }) } as unknown as SqlClient.SqlClient
  return { client, sent, runner: PgTransaction.make(sql, { named: true }) }
}

const statement = { compile: () => ["SELECT $1", ["x"]] as const }
const handlerFailure = new Error("the handler failed")

/** One delivery: a statement (BEGIN goes with it), then a handler that fails, so the runner rolls back. */
const failingDelivery = (runner: Runner) =>
  runner.run(
    (exec) => Effect.zipRight(exec("claim", statement as never), Effect.fail(handlerFailure)),
    (effect) => effect,
    () => Effect.void
  )

describe("the PostgreSQL runner", () => {
  it.effect("a failed ROLLBACK ends the client, so the pool never hands out its open transaction", () =>
    Effect.gen(function* () {
      const { client, runner, sent } = standIn((texts) =>
        texts[0] === "ROLLBACK" ? new Error("connection reset") : undefined
      )
      assert.strictEqual(yield* Effect.flip(failingDelivery(runner)), handlerFailure)
      assert.deepStrictEqual(sent, [["BEGIN", "SELECT $1"], ["ROLLBACK"]])
      assert.isTrue(client.ended)
    })
  )

  it.effect("a ROLLBACK that succeeds keeps the client", () =>
    Effect.gen(function* () {
      const { client, runner, sent } = standIn(() => undefined)
      assert.strictEqual(yield* Effect.flip(failingDelivery(runner)), handlerFailure)
      assert.deepStrictEqual(sent, [["BEGIN", "SELECT $1"], ["ROLLBACK"]])
      assert.isFalse(client.ended)
    })
  )

  it("a prepared statement's name is a digest of its text, whatever was named before it", () => {
    const digest = (text: string) =>
      `witkey_inbox_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`
    for (const text of ["SELECT 2", "SELECT 1", "INSERT INTO t VALUES ($1)"]) {
      assert.strictEqual(PgTransaction.nameOf(text), digest(text))
      assert.strictEqual(PgTransaction.nameOf(text), PgTransaction.nameOf(text))
    }
    assert.notStrictEqual(PgTransaction.nameOf("SELECT 1"), PgTransaction.nameOf("SELECT 2"))
  })
})
