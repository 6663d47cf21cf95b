// Copies the built ESM of core and node-http into bench/dist/snap/<name>, node-http's imports of core pointed at
// the copy, so that `endpoint-inproc.ts` and `endpoint-cpu.ts` (`sdk:<name>`) can run two builds side by side,
// alternating in one process or one run: build, `node snapshot.mjs before`, change, build, `node snapshot.mjs
// after`, then `node run.mjs endpoint-inproc bare before after`.
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const name = process.argv[2]
if (name === undefined || !/^[\w-]+$/.test(name)) {
  process.stderr.write("usage: node snapshot.mjs <name>\n")
  process.exit(2)
}
const bench = dirname(fileURLToPath(import.meta.url))
const target = join(bench, "dist", "snap", name)
rmSync(target, { recursive: true, force: true })
for (const pkg of ["core", "node-http"])
  cpSync(join(bench, "..", "packages", pkg, "dist", "esm"), join(target, pkg), { recursive: true })
const relink = (dir) => {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) relink(path)
    else if (path.endsWith(".js")) {
      const core = relative(dirname(path), join(target, "core")).replaceAll("\\", "/")
      const text = readFileSync(path, "utf8")
      writeFileSync(path, text.replace(/from "@witkey\/core\/(\w+)"/g, `from "${core}/$1.js"`))
    }
  }
}
relink(join(target, "node-http"))
process.stdout.write(`snapshot ${name}: ${relative(process.cwd(), target)}\n`)
