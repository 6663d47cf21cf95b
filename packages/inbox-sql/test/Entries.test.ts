// Split by driver (issue 14 §2): a PostgreSQL-only application imports `PgInbox` (or `SqlInbox`) and must
// never load better-sqlite3, which may not even be installed. Checked on the import graph esbuild resolves.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as esbuild from "esbuild"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src")
const entries = ["PgInbox", "SqlInbox", "SqliteInbox", "index"] as const

// One build for every entry (they share most of their graph, so it is parsed once; seven separate builds took
// most of a minute on a busy machine). Without code splitting each output is a whole bundle, so its `inputs`
// are exactly what importing that entry loads. `effect` itself is left external: it has no dependencies at all,
// so it cannot lead to a driver, and it is most of what would be parsed.
const graphs = Effect.promise(async () => {
  const result = await esbuild.build({
    entryPoints: Object.fromEntries(entries.map((entry) => [entry, path.join(src, `${entry}.ts`)])),
    outdir: "out",
    bundle: true,
    write: false,
    metafile: true,
    platform: "node",
    format: "esm",
    logLevel: "silent",
    external: ["pg-native", "effect", "effect/*"]
  })
  const inputs = new Map<string, ReadonlyArray<string>>()
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    if (output.entryPoint !== undefined) {
      inputs.set(path.basename(file, ".js"), Object.keys(output.inputs))
    }
  }
  assert.sameMembers([...inputs.keys()], [...entries])
  return inputs
}).pipe(Effect.cached, Effect.runSync)

const inputsOf = (entry: (typeof entries)[number]) => Effect.map(graphs, (inputs) => inputs.get(entry)!)

const loads = (inputs: ReadonlyArray<string>, name: string) =>
  inputs.some((file) => file.includes(`/${name}/`))

describe("inbox-sql entries", () => {
  it.effect("PgInbox, SqlInbox and the barrel never load better-sqlite3 or the SQLite client", () =>
    Effect.gen(function* () {
      for (const entry of ["PgInbox", "SqlInbox", "index"] as const) {
        const inputs = yield* inputsOf(entry)
        assert.isFalse(loads(inputs, "better-sqlite3"), `${entry} loads better-sqlite3`)
        assert.isFalse(loads(inputs, "sql-sqlite-node"), `${entry} loads @effect/sql-sqlite-node`)
      }
      assert.isTrue(loads(yield* inputsOf("PgInbox"), "sql-pg"), "the check sees drivers at all")
    })
  )

  it.effect("SqliteInbox and SqlInbox never load the PostgreSQL driver", () =>
    Effect.gen(function* () {
      for (const entry of ["SqliteInbox", "SqlInbox"] as const) {
        const inputs = yield* inputsOf(entry)
        assert.isFalse(loads(inputs, "sql-pg"), `${entry} loads @effect/sql-pg`)
        assert.isFalse(loads(inputs, "postgres"), `${entry} loads postgres`)
      }
      assert.isTrue(loads(yield* inputsOf("SqliteInbox"), "better-sqlite3"))
    })
  )
})
