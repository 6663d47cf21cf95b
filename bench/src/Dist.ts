/**
 * `node --import ./dist/bench/src/Dist.js dist/bench/<entry>.js` (what `run.mjs` starts, and `Load.ts` for the
 * child processes): the bench as compiled JavaScript on the built packages, as users run witkey. Registers
 * `DistHooks.ts` (every `@witkey/*` import lands on the package's publishConfig export target in
 * `packages/<name>/dist/esm`). The first process of a run (not its children) also refuses a stale build and
 * prints where `@witkey/core` resolved, so a reader of the output can check what was measured.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs"
import { register } from "node:module"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { repositoryRoot, type WorkspacePackage, workspace } from "./DistHooks.js"

const root = repositoryRoot(dirname(fileURLToPath(import.meta.url)))
const bench = join(root, "bench")
// Set for the children, which inherit the checked build and need no second banner.
const STARTED = "WITKEY_BENCH_DIST"
const first = process.env[STARTED] === undefined

const newest = (dir: string, accept: (name: string) => boolean): { file: string; mtimeMs: number } => {
  let found = { file: "", mtimeMs: 0 }
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist") continue
    const path = join(dir, name)
    const stat = statSync(path)
    const candidate = stat.isDirectory()
      ? newest(path, accept)
      : accept(name)
        ? { file: path, mtimeMs: stat.mtimeMs }
        : found
    if (candidate.mtimeMs > found.mtimeMs) found = candidate
  }
  return found
}

// tsc -b rewrites a project's .tsbuildinfo whenever it looks at a changed source, even when no output changes
// (so a .js file may stay older than its touched source): the build info is what must be newer than the sources.
const stale = (project: string, sources: string, buildInfo: string): string | undefined => {
  const rel = (path: string) => relative(root, path)
  if (!existsSync(buildInfo)) return `${rel(project)} is not built (no ${rel(buildInfo)})`
  const built = statSync(buildInfo).mtimeMs
  const source = newest(sources, (name) => name.endsWith(".ts"))
  return source.mtimeMs > built
    ? `${rel(source.file)} is newer than its build (${rel(buildInfo)})`
    : undefined
}

/** The @witkey packages the bench imports, and theirs, transitively. */
const used = (packages: ReadonlyMap<string, WorkspacePackage>): ReadonlyArray<WorkspacePackage> => {
  const own = JSON.parse(readFileSync(join(bench, "package.json"), "utf8")) as { dependencies: object }
  const seen = new Map<string, WorkspacePackage>()
  const visit = (name: string) => {
    const pkg = packages.get(name)
    if (pkg === undefined || seen.has(name)) return
    seen.set(name, pkg)
    pkg.dependencies.forEach(visit)
  }
  Object.keys(own.dependencies).forEach(visit)
  return [...seen.values()]
}

if (first) {
  const packages = workspace(root)
  const problems = [
    ...used(packages).map((pkg) => {
      const config = JSON.parse(readFileSync(join(pkg.dir, "tsconfig.build.json"), "utf8")) as {
        compilerOptions: { tsBuildInfoFile: string }
      }
      return stale(pkg.dir, join(pkg.dir, "src"), join(pkg.dir, config.compilerOptions.tsBuildInfoFile))
    }),
    stale(bench, bench, join(bench, "dist", "bench.tsbuildinfo"))
  ].filter((problem) => problem !== undefined)
  if (problems.length > 0) {
    process.stderr.write(
      `witkey bench: refusing to run on a stale build: ${problems.join("; ")}.\n` +
        "Run `pnpm bench` (it builds first), or `pnpm build` and `tsc -b bench/tsconfig.build.json`.\n"
    )
    process.exit(2)
  }
  // The compiled bench lives in bench/dist/bench, one level below bench/: bench/dist/fixtures links the
  // repository's fixtures so that the sources' `new URL("../../fixtures/…", import.meta.url)` holds compiled too.
  const fixtures = join(bench, "dist", "fixtures")
  if (!existsSync(fixtures) && !lstatSync(fixtures, { throwIfNoEntry: false })?.isSymbolicLink())
    symlinkSync(join("..", "..", "fixtures"), fixtures, "dir")
  process.env[STARTED] = "1"
}

register("./DistHooks.js", import.meta.url, { data: { root } })

if (first) {
  const where = (specifier: string) => relative(root, fileURLToPath(import.meta.resolve(specifier)))
  process.stderr.write(
    "witkey bench: compiled JavaScript (bench/dist) on the built packages (publishConfig exports), not tsx: " +
      `@witkey/core → ${where("@witkey/core")}, @witkey/core/Notification → ${where("@witkey/core/Notification")}\n`
  )
}
