// What `witkey --help` loads (issue 14: the installed CLI starts in a fraction of a second). Counted in modules,
// never in seconds: the machine's speed does not decide these tests. Each runs a fresh Node process, since this
// process has loaded everything already.
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as prettier from "prettier"
import * as Cli from "../src/Cli.js"
import * as HelpText from "../src/internal/HelpText.js"
import * as PlainConsole from "../src/PlainConsole.js"
import { removeTempDirs, repoRoot, run, tempDir, TIMEOUT } from "./RunCli.js"

afterAll(removeTempDirs)

const node = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      args,
      {
        cwd: repoRoot,
        encoding: "utf8",
        timeout: TIMEOUT,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: "1", ...env }
      },
      (error, stdout, stderr) =>
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : -1,
          stdout,
          stderr
        })
    )
  })

/**
 * Runs the bin from source (tsx, ESM) with a loader hook that writes every module URL it loads to a file; the
 * URLs, relative to the repository where they are in it.
 */
const loadedBy = async (args: ReadonlyArray<string>) => {
  const dir = tempDir("startup")
  const log = join(dir, "modules.log")
  writeFileSync(log, "")
  const hooks = join(dir, "hooks.mjs")
  writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs"
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(log)}, url + "\\n")
  return next(url, context)
}
`
  )
  const register = join(dir, "register.mjs")
  writeFileSync(
    register,
    `import { register } from "node:module"\nregister(${JSON.stringify(pathToFileURL(hooks).href)})\n`
  )
  const result = await node(["--import", "tsx", "--import", register, "packages/cli/src/bin.ts", ...args])
  const root = pathToFileURL(repoRoot).href
  const modules = readFileSync(log, "utf8")
    .split("\n")
    .filter((url) => url !== "")
    .map((url) => (url.startsWith(root) ? url.slice(root.length) : url))
  return { ...result, modules }
}

/** What the help path must not load: the handlers, the SDK's protocol code, HTTP, SQL, the effect barrel. */
const forbidden = (url: string): boolean =>
  (/packages\/cli\/src\/internal\//.test(url) &&
    !/\/internal\/(startup|main|HelpText|HelpTextData)\.ts$/.test(url)) ||
  /packages\/cli\/src\/(Demo|DemoWiring|Keys|Verdict|InputFile|ServeHandler)\.ts/.test(url) ||
  // Charset's own byte helpers come with it (the GBK table itself is built at the first GBK use, not on load).
  (/packages\/core\/src\//.test(url) &&
    !/\/(Charset|Protocol|internal\/Gbk|internal\/allocate)\.ts/.test(url)) ||
  /packages\/(crypto-dsa|console|node-http|inbox-sql|testkit|node)\/src\//.test(url) ||
  /\/effect\/dist\/esm\/index\.js$/.test(url) ||
  /@effect\/platform\/dist\/esm\/Http/.test(url) ||
  /@effect\/(sql|sql-sqlite-node|platform-node)\/dist\/esm\/(Sql|Sqlite|NodeHttp|NodeContext)/.test(url) ||
  /\/better-sqlite3\//.test(url)

/** @effect/cli's command tree (its descriptor's instructions); `getSubcommands` reaches one level only. */
interface Node {
  readonly _tag: string
  readonly name?: string
  readonly command?: Node
  readonly parent?: Node
  readonly children?: ReadonlyArray<Node>
}
const nameOf = (node: Node): string =>
  node._tag === "Map"
    ? nameOf(node.command!)
    : node._tag === "Subcommands"
      ? nameOf(node.parent!)
      : node.name!
const childrenOf = (node: Node): ReadonlyArray<Node> =>
  node._tag === "Map" ? childrenOf(node.command!) : node._tag === "Subcommands" ? node.children! : []

/** Every command's words: "" (witkey itself), "confirm", "inbox", "inbox list", ... */
const commandPaths = (): Array<string> => {
  const paths: Array<string> = []
  const walk = (prefix: string, node: Node) => {
    paths.push(prefix)
    for (const child of childrenOf(node)) walk(`${prefix} ${nameOf(child)}`.trim(), child)
  }
  walk("", Cli.root.descriptor as unknown as Node)
  return paths.sort()
}

/** What @effect/cli itself prints for `witkey args…`, ANSI styling included (no PlainConsole). */
const rendered = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const base = yield* Effect.console
    const lines: Array<string> = []
    const capture = {
      ...base,
      log: (...parts: ReadonlyArray<unknown>) => Effect.sync(() => void lines.push(parts.join(" ")))
    }
    yield* Command.run(Cli.root, { name: "witkey", version: Cli.VERSION })(["node", "witkey", ...args]).pipe(
      Effect.provide(NodeContext.layer),
      Effect.withConsole(capture)
    )
    assert.strictEqual(lines.length, 1, `witkey ${args.join(" ")}`)
    return lines[0]!
  })

const dataFile = fileURLToPath(new URL("../src/internal/HelpTextData.ts", import.meta.url))

describe("witkey startup", () => {
  it.effect(
    "the help texts printed without @effect/cli are @effect/cli's rendering of every command's help and the version",
    () =>
      Effect.gen(function* () {
        const help: Record<string, string> = {}
        for (const path of commandPaths())
          help[path] = yield* rendered([...path.split(" ").filter(Boolean), "--help"])
        const version = yield* rendered(["--version"])
        const text = `// Generated by packages/cli/test/Startup.test.ts from @effect/cli's rendering of Cli.root: that test fails
// when this differs. Regenerate it with \`npx vitest run -u packages/cli/test/Startup.test.ts\`.
/** @internal */
export const version = ${JSON.stringify(version)}

/** @internal */
export const help: Readonly<Record<string, string>> = ${JSON.stringify(help, null, 2)}
`
        const options = yield* Effect.promise(() => prettier.resolveConfig(dataFile))
        const formatted = yield* Effect.promise(() =>
          prettier.format(text, { ...options, filepath: dataFile })
        )
        yield* Effect.promise(() =>
          expect(formatted).toMatchFileSnapshot(
            dataFile,
            "regenerate: npx vitest run -u packages/cli/test/Startup.test.ts"
          )
        )
        // And what bin.ts does with them: the same bytes as the run through @effect/cli and PlainConsole.
        for (const args of [["--help"], ["inbox", "replay", "--help"], ["sign", "-h"], ["--version"]]) {
          const known = HelpText.lookup(args)
          assert.isDefined(known, args.join(" "))
          const result = yield* run(args)
          assert.strictEqual(result.code, 0)
          assert.strictEqual(result.stdout, `${PlainConsole.strip(known!)}\n`, args.join(" "))
        }
        for (const args of [
          ["sign"],
          ["--help", "--log-level", "info"],
          ["nosuch", "--help"],
          ["inbox list", "--help"]
        ])
          assert.isUndefined(HelpText.lookup(args), args.join(" "))
      }),
    TIMEOUT
  )

  it.effect(
    "the bin prints --help itself, as the run through @effect/cli does, loading neither effect nor a command",
    () =>
      Effect.gen(function* () {
        const viaCli = yield* run(["confirm", "--help"])
        const viaBin = yield* Effect.promise(() => loadedBy(["confirm", "--help"]))
        assert.strictEqual(viaBin.code, 0, viaBin.stderr)
        assert.strictEqual(viaBin.stdout, viaCli.stdout)
        assert.isTrue(viaBin.modules.includes("packages/cli/src/bin.ts"))
        assert.deepStrictEqual(
          viaBin.modules.filter((url) =>
            /\/effect\/dist\/|@effect\/|packages\/cli\/src\/[A-Z][A-Za-z]*Command\.ts/.test(url)
          ),
          []
        )
      }),
    TIMEOUT
  )

  it(
    "a run through @effect/cli loads the command definitions, and no handler until its command runs",
    async () => {
      // A usage error: @effect/cli parses, and refuses, without running a handler.
      const result = await loadedBy(["sign", "--charset", "utf-8"])
      assert.strictEqual(result.code, 2, result.stderr)
      assert.match(result.stderr, /^witkey: /)
      // The hook saw the run: the bin and the command modules.
      assert.isTrue(result.modules.includes("packages/cli/src/bin.ts"), result.modules.join("\n"))
      assert.isTrue(result.modules.includes("packages/cli/src/ConfirmCommand.ts"))
      assert.deepStrictEqual(result.modules.filter(forbidden), [])
    },
    TIMEOUT
  )

  it(
    "a command loads its handler when it runs",
    async () => {
      const result = await loadedBy(["canonical", "--charset", "utf-8", "--param", "b=2", "--param", "a=1"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout.split("\n")[0], "a=1&b=2")
      assert.isTrue(result.modules.includes("packages/cli/src/internal/canonical.ts"))
      assert.isFalse(result.modules.includes("packages/cli/src/internal/confirm.ts"))
    },
    TIMEOUT
  )

  it(
    "under CommonJS, fast-check and the config-file parsers wait for their first use, then are the real modules",
    async () => {
      const dir = tempDir("startup-cjs")
      const script = join(dir, "check.mjs")
      const startup = pathToFileURL(join(repoRoot, "packages/cli/src/internal/startup.ts")).href
      const cliPackage = join(repoRoot, "packages/cli/package.json")
      writeFileSync(
        script,
        `import { createRequire } from "node:module"
import { types } from "node:util"
const { deferUnusedModules } = await import(${JSON.stringify(startup)})
const require = createRequire(${JSON.stringify(cliPackage)})
// A stand-in is a proxy in the cache; the real module is not.
const loaded = (name) =>
  Object.entries(require.cache).some(
    ([file, module]) => file.includes("/node_modules/" + name + "/") && !types.isProxy(module.exports)
  )
deferUnusedModules(require)
// What witkey's help path loads: effect/Schema (which imports effect/FastCheck) and @effect/cli's options
// (which import yaml, toml and ini).
require("effect/Schema")
require("@effect/cli/Options")
require("@effect/cli/Command")
const before = { fastCheck: loaded("fast-check"), yaml: loaded("yaml"), toml: loaded("toml"), ini: loaded("ini") }
const Schema = require("effect/Schema")
const Arbitrary = require("effect/Arbitrary")
const FastCheck = require("effect/FastCheck")
const sample = FastCheck.sample(Arbitrary.make(Schema.Literal("x")), 3)
const yaml = require(createRequire(require.resolve("@effect/cli/package.json")).resolve("yaml"))
const parsed = yaml.parse("a: 1")
const realYaml = "parse" in yaml && Object.keys(yaml).includes("parse")
console.log(JSON.stringify({ before, sample, parsed, realYaml, after: { fastCheck: loaded("fast-check"), yaml: loaded("yaml") } }))
`
      )
      const result = await node(["--import", "tsx", script])
      assert.strictEqual(result.code, 0, result.stderr)
      const report = JSON.parse(result.stdout.trim().split("\n").pop()!)
      assert.deepStrictEqual(report.before, { fastCheck: false, yaml: false, toml: false, ini: false })
      assert.deepStrictEqual(report.sample, ["x", "x", "x"])
      assert.deepStrictEqual(report.parsed, { a: 1 })
      assert.isTrue(report.realYaml)
      assert.deepStrictEqual(report.after, { fastCheck: true, yaml: true })
    },
    TIMEOUT
  )
})
