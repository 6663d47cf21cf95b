// The CLI loads both of inbox-sql's drivers (`--db` picks SQLite or PostgreSQL), and inbox-sql leaves each driver
// an optional peer: the CLI must declare them too, or a package manager installing `@witkey/cli` neither
// installs nor version-checks `@effect/sql-pg`, and `--db postgres://` fails at run time.
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

interface Manifest {
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
}
const manifest = (name: string): Manifest =>
  JSON.parse(readFileSync(new URL(`../../${name}/package.json`, import.meta.url), "utf8")) as Manifest

describe("@witkey/cli package.json", () => {
  const cli = manifest("cli")
  const inboxSql = manifest("inbox-sql")

  it("declares every SQL driver peer of @witkey/inbox-sql with the same range", () => {
    for (const [name, range] of Object.entries(inboxSql.peerDependencies ?? {}))
      if (name.startsWith("@effect/sql")) assert.strictEqual(cli.peerDependencies?.[name], range, name)
  })

  it("makes @effect/sql-pg optional: only `--db postgres://` loads it", () => {
    assert.isTrue(cli.peerDependenciesMeta?.["@effect/sql-pg"]?.optional === true)
    // SQLite is the default database: its driver stays a required peer.
    assert.notStrictEqual(cli.peerDependenciesMeta?.["@effect/sql-sqlite-node"]?.optional, true)
  })
})
