// The bench's runner (`pnpm bench` and the other scripts of bench/package.json):
//
//   node run.mjs [node options] <entry> [arguments]      entry: index | memory | breakdown | endpoint | payout | decode
//
// Builds first (`tsc -b tsconfig.build.json`: the packages' ESM dist it references, then the bench into
// bench/dist/bench; incremental, a few seconds when nothing changed), then runs the compiled entry on the
// built packages through src/Dist.ts, as users run witkey. WITKEY_BENCH_TSX=1 runs the TypeScript sources
// through tsx instead, without building: quicker while working on a row, not for numbers.
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import { constants } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const bench = dirname(fileURLToPath(import.meta.url))
const argv = process.argv.slice(2)
const at = argv.findIndex((argument) => !argument.startsWith("-"))
if (at < 0) {
  process.stderr.write("witkey bench: usage: node run.mjs [node options] <entry> [arguments]\n")
  process.exit(2)
}
const [options, entry, rest] = [argv.slice(0, at), argv[at], argv.slice(at + 1)]

// Asynchronous, so that a SIGTERM or SIGINT sent to this runner alone (a timeout, a supervisor) reaches the
// bench too instead of leaving it running.
const node = (args) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: bench, stdio: "inherit" })
    const forward = (signal) => child.kill(signal)
    process.on("SIGTERM", forward).on("SIGINT", forward)
    child.once("error", reject)
    child.once("exit", (code, signal) => {
      process.off("SIGTERM", forward).off("SIGINT", forward)
      resolve(code ?? (signal === null ? 1 : 128 + (constants.signals[signal] ?? 0)))
    })
  })

if (process.env.WITKEY_BENCH_TSX) {
  process.stderr.write(
    "witkey bench: WITKEY_BENCH_TSX is set: TypeScript sources through tsx, not the built dist\n"
  )
  process.exitCode = await node([...options, "--import", "tsx", `${entry}.ts`, ...rest])
} else {
  const typescript = dirname(createRequire(import.meta.url).resolve("typescript/package.json"))
  process.stderr.write("witkey bench: building (tsc -b bench/tsconfig.build.json) …\n")
  const built = await node([join(typescript, "bin", "tsc"), "-b", "tsconfig.build.json"])
  if (built !== 0) {
    process.stderr.write("witkey bench: the build failed; nothing was measured\n")
    process.exit(built)
  }
  process.exitCode = await node([
    ...options,
    "--import",
    "./dist/bench/src/Dist.js",
    `dist/bench/${entry}.js`,
    ...rest
  ])
}
