// A delivery's savepoint inside SQLite's shared transaction (`GroupCommit.savepointed`), on a fake connection
// that records what it is sent: a RELEASE that fails or dies is undone (ROLLBACK TO, then the whole
// transaction rolled back, and the delivery reported `lost`), never left open for the batch to commit.
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { savepointed } from "../src/internal/GroupCommit.js"

const fake = (release: "ok" | "fail" | "die") => {
  const sent: Array<string> = []
  const connection = {
    executeRaw: (text: string) =>
      Effect.suspend(() => {
        sent.push(text)
        if (text === "RELEASE SAVEPOINT witkey_delivery" && sent.filter((s) => s === text).length === 1) {
          if (release === "fail")
            return Effect.fail(new SqlError({ cause: "no such savepoint", message: "no" }))
          if (release === "die") return Effect.die(new Error("driver threw"))
        }
        return Effect.succeed([])
      })
  } as unknown as SqlConnection.Connection
  return { connection, sent }
}

describe("GroupCommit.savepointed", () => {
  it.effect("a released savepoint returns the unit's value", () =>
    Effect.gen(function* () {
      const { connection, sent } = fake("ok")
      assert.strictEqual(yield* savepointed(connection, Effect.succeed(42)), 42)
      assert.deepStrictEqual(sent, ["SAVEPOINT witkey_delivery", "RELEASE SAVEPOINT witkey_delivery"])
    })
  )

  for (const release of ["fail", "die"] as const)
    it.effect(`a RELEASE that ${release}s rolls the whole transaction back and reports lost`, () =>
      Effect.gen(function* () {
        const { connection, sent } = fake(release)
        const exit = yield* Effect.exit(savepointed(connection, Effect.succeed(42)))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const failure = Option.getOrUndefined(Cause.failureOption(exit.cause)) as
            { reason?: string } | undefined
          assert.strictEqual(failure?.reason, "lost")
        }
        assert.deepStrictEqual(sent, [
          "SAVEPOINT witkey_delivery",
          "RELEASE SAVEPOINT witkey_delivery",
          "ROLLBACK TO SAVEPOINT witkey_delivery",
          "RELEASE SAVEPOINT witkey_delivery",
          "ROLLBACK"
        ])
      })
    )

  it.effect("a failed unit is rolled back to its savepoint and its failure returned", () =>
    Effect.gen(function* () {
      const { connection, sent } = fake("ok")
      const exit = yield* Effect.exit(savepointed(connection, Effect.fail("handler failed")))
      assert.deepStrictEqual(exit, Exit.fail("handler failed"))
      assert.deepStrictEqual(sent, [
        "SAVEPOINT witkey_delivery",
        "ROLLBACK TO SAVEPOINT witkey_delivery",
        "RELEASE SAVEPOINT witkey_delivery"
      ])
    })
  )
})
