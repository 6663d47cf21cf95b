// Project rules prettier cannot check. Exits non-zero with one line per finding.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"

// Node's modules that do I/O (files, network, processes, threads, the host), with or without the `node:` prefix
// and by any import form (static, dynamic, require, re-export).
const ioModule =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](?:node:)?(?:fs|fs\/promises|net|tls|dgram|dns|dns\/promises|http|https|http2|child_process|cluster|worker_threads|os|readline|repl|inspector|vm|process)["']/m
const findings = []
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist") continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (path.endsWith(".ts")) check(path)
  }
}
const check = (path) => {
  const text = readFileSync(path, "utf8")
  const isSrc = /packages\/[^/]+\/src\//.test(path)
  if (isSrc && /console\.(log|error|warn)\(/.test(text) && !path.includes("packages/cli/src/"))
    findings.push(`${path}: console.* in package source; use Effect's Console or Logger`)
  if (/\b(describe|it|test)\.(skip|only)\(/.test(text)) findings.push(`${path}: .skip/.only left in a test`)
  // Core may compute with Node's built-ins but does no I/O and holds no keys: of node:crypto only `createHash`
  // (a digest of public bytes for error messages); signing and verification are the adapters' (ARCHITECTURE.md).
  if (
    /packages\/core\/src\//.test(path) &&
    (ioModule.test(text) ||
      [...text.matchAll(/import (.*) from "(?:node:)?crypto"/g)].some((m) => m[1] !== "{ createHash }"))
  )
    findings.push(`${path}: core must stay pure (no node I/O; of node:crypto only createHash)`)
  // The `effect` barrel loads every module of effect (about 0.4 s); the CLI's startup is kept short (issue 14,
  // packages/cli/test/Startup.test.ts): deep imports, `import * as Effect from "effect/Effect"`.
  if (/packages\/cli\/src\//.test(path) && /from "effect"/.test(text))
    findings.push(`${path}: the effect barrel in the CLI; import effect/<Module> instead`)
  // @witkey/node is the Promise API: its contract is named exports (`const { Witkey } = require(...)`).
  if (/packages\/[^/]+\/src\/index\.ts$/.test(path) && !path.includes("packages/node/src/")) {
    for (const line of text.split("\n")) {
      if (
        line.trim() &&
        !line.startsWith("export * as ") &&
        !line.startsWith("//") &&
        !line.startsWith(" *") &&
        !line.startsWith("/**") &&
        line.trim() !== "export {}"
      )
        findings.push(`${path}: index.ts only re-exports namespaces: ${line.trim()}`)
    }
  }
}
walk("packages")
if (findings.length > 0) {
  for (const f of findings) console.error(f)
  process.exit(1)
}
console.log("lint: project rules ok")
