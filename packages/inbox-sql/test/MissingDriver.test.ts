import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import { Effect } from "effect"

// The drivers are optional peers, one entry module each: an application that installed only one of them can
// import everything it uses. Each mock stands for a driver that is not installed; importing it throws.
vi.mock("@effect/sql-sqlite-node/SqliteClient", () => {
  throw new Error("Cannot find package '@effect/sql-sqlite-node'")
})

describe("inbox-sql without better-sqlite3 and @effect/sql-sqlite-node installed", () => {
  it.effect("a PostgreSQL-only application imports SqlInbox, PgInbox and SqlPayoutJournal", () =>
    Effect.gen(function* () {
      const [SqlInbox, PgInbox, Journal] = yield* Effect.promise(() =>
        Promise.all([import("../src/SqlInbox.js"), import("../src/PgInbox.js"), import("../src/SqlPayoutJournal.js")])
      )
      assert.isFunction(SqlInbox.layer)
      assert.isFunction(PgInbox.layer)
      assert.isObject(Journal)
    })
  )

  it.effect("importing the SQLite entry is what needs the SQLite driver", () =>
    Effect.gen(function* () {
      const failed = yield* Effect.promise(() =>
        import("../src/SqliteInbox.js").then(
          () => undefined,
          (e: unknown) => String(e)
        )
      )
      assert.include(failed, "@effect/sql-sqlite-node")
    })
  )
})
