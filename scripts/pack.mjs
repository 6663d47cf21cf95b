// Packs every public package (packages/* without "private": true) into dist-pack/ with `pnpm pack`, which applies
// publishConfig (exports and bin pointing at dist/) and turns `workspace:` ranges into versions. With --check it
// then runs publint and @arethetypeswrong/cli on each tarball and exits non-zero on any finding.
// Run `pnpm build` first (pnpm pack:check does).
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join, resolve } from "node:path"

const check = process.argv.includes("--check")
const out = resolve("dist-pack")
rmSync(out, { recursive: true, force: true })
mkdirSync(out)

const run = (cmd, args, cwd, stdio = "pipe") =>
  execFileSync(cmd, args, { cwd, stdio: ["ignore", stdio, "inherit"], encoding: "utf8" })
const bin = (name) => resolve("node_modules", ".bin", name)
// The pnpm running this script (pnpm pack:check), else the project's pinned one through npx.
const pnpm = process.env.npm_execpath?.includes("pnpm")
  ? [process.execPath, process.env.npm_execpath]
  : ["npx", "-y", "pnpm@10.34.9"]

const packages = readdirSync("packages")
  .map((name) => join("packages", name))
  .filter((dir) => existsSync(join(dir, "package.json")))
  .map((dir) => ({ dir, json: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
  .filter(({ json }) => json.private !== true)

const failures = []
for (const { dir, json } of packages) {
  if (!existsSync(join(dir, "dist", "esm")) || !existsSync(join(dir, "dist", "cjs", "package.json")))
    throw new Error(`${json.name}: no dist/esm or dist/cjs/package.json; run pnpm build first`)
  const tarball = run(pnpm[0], [...pnpm.slice(1), "pack", "--pack-destination", out, "--json"], dir)
  const file = JSON.parse(tarball).filename
  console.log(`packed ${json.name} -> ${file}`)
  if (!check) continue
  try {
    run(bin("publint"), ["run", file, "--strict"], ".", "inherit")
  } catch {
    failures.push(`${json.name}: publint`)
  }
  // attw does not expand the "./*" pattern: every public module (dist/esm/*.js, not internal/) is named.
  const subpaths = readdirSync(join(dir, "dist", "esm"))
    .filter((f) => f.endsWith(".js") && f !== "index.js")
    .map((f) => `./${f.slice(0, -3)}`)
  const attw = [file, "--profile", "node16", "--include-entrypoints", ...subpaths]
  try {
    // node16 profile: node16 (CommonJS and ESM) and bundler resolution; node10 (no `exports`) is out of scope,
    // our engines say Node >= 20.
    run(bin("attw"), [...attw, "--quiet"], ".")
    console.log(
      `attw: ${json.name}: no problems (node16 CommonJS and ESM, bundler; ${subpaths.length + 1} entries)`
    )
  } catch {
    run(bin("attw"), [...attw, "--format", "table-flipped"], ".", "inherit")
    failures.push(`${json.name}: attw`)
  }
}
if (failures.length > 0) {
  for (const f of failures) console.error(`pack check failed: ${f}`)
  process.exit(1)
}
