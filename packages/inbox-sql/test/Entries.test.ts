// Split by driver (issue 14 §2): a PostgreSQL-only application imports `PgInbox` (or `SqlInbox`) and must
// never load better-sqlite3, which may not even be installed. Checked on the import graph esbuild resolves.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as esbuild from "esbuild"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src")

const inputsOf = (entry: string) =>
  Effect.promise(async () => {
    const result = await esbuild.build({
      entryPoints: [path.join(src, entry)],
      bundle: true,
      write: false,
      metafile: true,
      platform: "node",
      format: "esm",
      logLevel: "silent",
      external: ["pg-native"]
    })
    return Object.keys(result.metafile.inputs)
  })

const loads = (inputs: ReadonlyArray<string>, name: string) =>
  inputs.some((file) => file.includes(`/${name}/`))

describe("inbox-sql entries", () => {
  it.effect("PgInbox, SqlInbox and the barrel never load better-sqlite3 or the SQLite client", () =>
    Effect.gen(function* () {
      for (const entry of ["PgInbox.ts", "SqlInbox.ts", "index.ts"]) {
        const inputs = yield* inputsOf(entry)
        assert.isFalse(loads(inputs, "better-sqlite3"), `${entry} loads better-sqlite3`)
        assert.isFalse(loads(inputs, "sql-sqlite-node"), `${entry} loads @effect/sql-sqlite-node`)
      }
      assert.isTrue(loads(yield* inputsOf("PgInbox.ts"), "sql-pg"), "the check sees drivers at all")
    })
  )

  it.effect("SqliteInbox and SqlInbox never load the PostgreSQL driver", () =>
    Effect.gen(function* () {
      for (const entry of ["SqliteInbox.ts", "SqlInbox.ts"]) {
        const inputs = yield* inputsOf(entry)
        assert.isFalse(loads(inputs, "sql-pg"), `${entry} loads @effect/sql-pg`)
        assert.isFalse(loads(inputs, "postgres"), `${entry} loads postgres`)
      }
      assert.isTrue(loads(yield* inputsOf("SqliteInbox.ts"), "better-sqlite3"))
    })
  )
})
