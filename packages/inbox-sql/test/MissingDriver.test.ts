import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import { Effect, Exit, Layer } from "effect"
import * as SqlInbox from "../src/SqlInbox.js"

// The drivers are optional peers: an application without one installed gets an InboxError naming the package
// when that driver's layer is built, not a crash when @witkey/inbox-sql is imported.
vi.mock("@effect/sql-sqlite-node/SqliteClient", () => {
  throw new Error("Cannot find package '@effect/sql-sqlite-node'")
})
vi.mock("@effect/sql-pg/PgClient", () => {
  throw new Error("Cannot find package '@effect/sql-pg'")
})

const build = <A, E>(layer: Layer.Layer<A, E>) => Effect.exit(Effect.scoped(Layer.build(layer)))

describe("SqlInbox without its driver installed", () => {
  it.effect("layerSqlite fails with an InboxError naming @effect/sql-sqlite-node", () =>
    Effect.gen(function* () {
      const exit = yield* build(SqlInbox.layerSqlite({ filename: ":memory:" }))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.strictEqual(error._tag, "InboxError")
      assert.include(error.message, "npm install @effect/sql-sqlite-node")
    })
  )

  it.effect("layerPg fails with an InboxError naming @effect/sql-pg", () =>
    Effect.gen(function* () {
      const exit = yield* build(SqlInbox.layerPg({ url: "postgres://127.0.0.1:1/none" }))
      const error = yield* Effect.flip(exit)
      assert.strictEqual(error._tag, "InboxError")
      assert.include(error.message, "npm install @effect/sql-pg")
    })
  )
})
