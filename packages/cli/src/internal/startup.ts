/**
 * What the `witkey` executable does before it loads anything else (bin.ts imports this first), to start in a
 * fraction of a second:
 *
 * - Under CommonJS (the published bin is dist/cjs/bin.js), modules that load at startup but that no command
 *   uses until it needs them are put in `require.cache` as lazy stand-ins that load the real module on first
 *   use: `effect/FastCheck` (fast-check, about 240 modules that `effect/Schema` loads at its top for
 *   `Arbitrary`) and the config-file parsers of @effect/cli (yaml, toml, ini: about 75 modules, for
 *   `Options.withFallbackConfig`). Together about half the modules `witkey --help` would load otherwise. A
 *   stand-in reports `__esModule`, so the interop helpers of the modules that import it hand it over as it is,
 *   and every property read, `in` or key listing goes to the real module.
 * - Where Node has it (22.1 and later), V8's compile cache (`module.enableCompileCache`), as `tsc` and npm do.
 *
 * Under ESM (tsx in this repository) it does nothing: there is no `require.cache` there.
 *
 * @internal
 */
import * as NodeModule from "node:module"

/** The real module behind a stand-in, loaded once. */
const standIn = (load: () => object): object =>
  new Proxy(
    {},
    {
      get: (_, key) => (key === "__esModule" ? true : Reflect.get(load(), key)),
      has: (_, key) => key in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const descriptor = Reflect.getOwnPropertyDescriptor(load(), key)
        // The target is empty: a proxy may only report configurable properties it does not have.
        return descriptor === undefined ? undefined : { ...descriptor, configurable: true }
      }
    }
  )

/** Puts a stand-in for `request`, as `from` resolves it, in the cache; nothing if it is not there or loaded. */
const defer = (from: NodeJS.Require, request: string): void => {
  let file: string
  try {
    file = from.resolve(request)
  } catch {
    return
  }
  if (from.cache[file] !== undefined) return
  let real: object | undefined
  const module = new NodeModule.Module(file)
  module.filename = file
  module.loaded = true
  module.exports = standIn(() => {
    if (real === undefined) {
      // Out of the cache, so that require loads the file itself; the real module takes the entry.
      delete from.cache[file]
      real = from(file) as object
    }
    return real
  })
  from.cache[file] = module
}

/**
 * Puts the stand-ins in `from`'s cache: `effect/FastCheck` as `from` resolves it, and yaml, toml and ini as
 * @effect/cli resolves them. Exported for the test that holds the stand-ins to the real modules.
 */
export const deferUnusedModules = (from: NodeJS.Require): void => {
  defer(from, "effect/FastCheck")
  let cli: NodeJS.Require
  try {
    cli = NodeModule.createRequire(from.resolve("@effect/cli/package.json"))
  } catch {
    return
  }
  for (const parser of ["yaml", "toml", "ini"]) defer(cli, parser)
}

if (typeof require === "function") deferUnusedModules(require)

// Node >= 22.1; a no-op where it is missing or disabled (NODE_DISABLE_COMPILE_CACHE).
;(NodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.()
