// A test script (receiver.ts, replayer.ts, journaler.ts, the CLI's bin.ts) as one JavaScript file, bundled once
// per worker (about a second): a child then starts with plain `node` in a fraction of the time `node --import
// tsx` takes, which transforms the workspace's sources and resolves every import through its loader thread on
// each of the many restarts. better-sqlite3 (native) stays outside the bundle, imported by its absolute path;
// `require` is provided for the bundled CommonJS modules (pg) and pg's optional native binding, which is never
// loaded.
import { Effect } from "effect"
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

const bundles = new Map<string, Promise<string>>()

/** The path of `script` bundled into a temporary directory (removed when the process exits). */
export const bundled = (script: string): Effect.Effect<string> =>
  Effect.promise(() => {
    let bundle = bundles.get(script)
    if (bundle === undefined) {
      bundle = build(script)
      bundles.set(script, bundle)
    }
    return bundle
  })

const build = async (script: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "witkey-bundle-"))
  process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }))
  const outfile = path.join(dir, `${path.basename(script, ".ts")}.mjs`)
  const betterSqlite3 = createRequire(import.meta.url).resolve("better-sqlite3")
  await esbuild.build({
    entryPoints: [script],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["pg-native"],
    banner: {
      js: `import { createRequire } from "node:module"; const require = createRequire(import.meta.url);`
    },
    plugins: [
      {
        name: "native-outside",
        setup: (build) =>
          void build.onResolve({ filter: /^better-sqlite3$/ }, () => ({
            path: betterSqlite3,
            external: true
          }))
      }
    ],
    logLevel: "error"
  })
  return outfile
}
