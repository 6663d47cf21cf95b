/**
 * Module resolve hook of the compiled bench (registered by `Dist.ts`): every `@witkey/<package>[/<subpath>]`,
 * from the bench or from another package's dist, resolves to that package's `publishConfig.exports` target for
 * `import`, the file an installed package hands a user's ESM application. The workspace `exports` point at
 * `src/*.ts` for the type checker and tsx; nothing is copied, the hook only changes where imports land.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import type { InitializeHook, ResolveHook } from "node:module"
import { join } from "node:path"
import { pathToFileURL } from "node:url"

export interface WorkspacePackage {
  readonly name: string
  readonly dir: string
  /** `publishConfig.exports`: what the published package.json's `exports` becomes when packed. */
  readonly exports: Readonly<Record<string, unknown>>
  readonly dependencies: ReadonlyArray<string>
}

/** The workspace's `packages/*`, by package name. */
export const workspace = (root: string): ReadonlyMap<string, WorkspacePackage> => {
  const packages = new Map<string, WorkspacePackage>()
  for (const entry of readdirSync(join(root, "packages"))) {
    const file = join(root, "packages", entry, "package.json")
    if (!existsSync(file)) continue
    const json = JSON.parse(readFileSync(file, "utf8")) as {
      name: string
      publishConfig?: { exports?: Record<string, unknown> }
      dependencies?: Record<string, string>
      peerDependencies?: Record<string, string>
    }
    packages.set(json.name, {
      name: json.name,
      dir: join(root, "packages", entry),
      exports: json.publishConfig?.exports ?? {},
      dependencies: Object.keys({ ...json.dependencies, ...json.peerDependencies })
    })
  }
  return packages
}

/** The repository root: the nearest directory above `from` holding pnpm-workspace.yaml. */
export const repositoryRoot = (from: string): string => {
  let dir = from
  while (!existsSync(join(dir, "pnpm-workspace.yaml"))) {
    const up = join(dir, "..")
    if (up === dir) throw new Error(`no pnpm-workspace.yaml above ${from}`)
    dir = up
  }
  return dir
}

// Node's condition matching for the import side: the first key (in order) that is a condition Node sets for an
// ES module import; "types" and "require" never match.
const CONDITIONS = new Set(["import", "node", "default", "module-sync"])
const pick = (target: unknown): string | null => {
  if (typeof target === "string") return target
  if (target === null || typeof target !== "object") return null
  for (const [condition, value] of Object.entries(target)) {
    if (!CONDITIONS.has(condition)) continue
    const picked = pick(value)
    if (picked !== null) return picked
  }
  return null
}

/**
 * The file `subpath` ("." or "./X") of `pkg` resolves to through its publishConfig exports, as Node's package
 * exports rules do it (an exact key first, else the `*` pattern with the longest prefix; `null` blocks).
 * `undefined` when the subpath is not exported.
 */
export const exportTarget = (pkg: WorkspacePackage, subpath: string): string | undefined => {
  let target: string | null = null
  if (Object.hasOwn(pkg.exports, subpath)) target = pick(pkg.exports[subpath])
  else {
    let longest = -1
    for (const key of Object.keys(pkg.exports)) {
      const star = key.indexOf("*")
      if (star < 0) continue
      const [prefix, suffix] = [key.slice(0, star), key.slice(star + 1)]
      const fits = subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length
      if (!fits || prefix.length <= longest) continue
      longest = prefix.length
      const picked = pick(pkg.exports[key])
      const stem = subpath.slice(prefix.length, subpath.length - suffix.length)
      target = picked === null ? null : picked.replaceAll("*", stem)
    }
    if (longest < 0) return undefined
  }
  return target === null ? undefined : join(pkg.dir, target)
}

let packages: ReadonlyMap<string, WorkspacePackage> = new Map()

export const initialize: InitializeHook<{ readonly root: string }> = (data) => {
  packages = workspace(data.root)
}

export const resolve: ResolveHook = (specifier, context, next) => {
  const match = /^(@witkey\/[^/]+)(\/.*)?$/.exec(specifier)
  const pkg = match === null ? undefined : packages.get(match[1]!)
  if (match === null || pkg === undefined) return next(specifier, context)
  const subpath = `.${match[2] ?? ""}`
  const file = exportTarget(pkg, subpath)
  if (file === undefined)
    throw Object.assign(new Error(`${specifier}: ${subpath} is not in ${pkg.name}'s publishConfig.exports`), {
      code: "ERR_PACKAGE_PATH_NOT_EXPORTED"
    })
  if (!existsSync(file))
    throw Object.assign(
      new Error(`${specifier} resolves to ${file}, which is not built (run \`pnpm bench\`)`),
      {
        code: "ERR_MODULE_NOT_FOUND"
      }
    )
  return { url: pathToFileURL(file).href, shortCircuit: true }
}
