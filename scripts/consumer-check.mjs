// The consumer check (issue 14, item 4): what a new user outside this repository gets from npm.
//
//   node scripts/consumer-check.mjs [--keep] [--no-build] [--work=DIR]
//
// --keep leaves the temporary directory; --work=DIR works in DIR and keeps it, reusing its tarballs and the
// projects it already installed (to iterate on the scripts: installs compile better-sqlite3, minutes each).
//
// 1. Packs every public package into a folder (`pack`, the one place to switch to the workspace's pack script).
// 2. Starts the sandbox gateway from the installed CLI (`npx witkey sandbox --port 0 --json`).
// 3. In fresh `npm init -y` projects under a temporary directory, one CommonJS and one `"type": "module"`, each
//    with TypeScript: installs the tarballs with plain npm, type-checks a script that uses `@witkey/node` (and
//    Express), compiles and runs it. The script pays a sandbox task through `Witkey` (confirmed, then
//    already_confirmed), meets InvalidRequestError, GatewayRejectedError and UnknownOutcomeError (a refused
//    connection, and an aborted call), checks that a bad key throws in the constructor, and receives the
//    task's three notifications through `notificationListener` mounted in an Express app, into SQLite.
// 4. In a third project that already depends on an older `effect` 3.x (the lowest of the peer range), installs
//    the tarballs, runs the same script, and requires `npm ls effect` to show a single copy and the run to print
//    no "Executing an Effect versioned" warning.
// 5. In a fourth project on effect 4 (an Effect 4 application uses the Promise API), installs and runs the same
//    script, and checks that the application's own `effect` is still 4.x.
//
// Exit code 0 when every step passed; 1 otherwise, with one line per failed step. Needs Node 20 and npm, and
// the npm registry for effect, express, typescript and @types/node.
//
// Environment: WITKEY_BIN overrides the command that starts the CLI inside a project (default `npx witkey`);
// OLD_EFFECT the older effect version (default: the lower bound of @witkey/core's peer range, else 3.17.0);
// CONSUMER_TS the TypeScript version the projects use (default the workspace's).
import { execFileSync, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const args = new Set(process.argv.slice(2))
const workOption = process.argv
  .slice(2)
  .find((a) => a.startsWith("--work="))
  ?.slice("--work=".length)
const PNPM = ["-y", "pnpm@10.34.9"]
const failures = []

const log = (line) => process.stderr.write(`consumer-check: ${line}\n`)

/** Runs a command, echoing it; returns stdout. Throws with the command's output when it fails. */
const run = (command, argv, options = {}) => {
  log(`$ ${command} ${argv.join(" ")}${options.cwd ? `   (in ${options.cwd})` : ""}`)
  try {
    return execFileSync(command, argv, {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 * 1024 * 1024,
      ...options,
      env: { ...process.env, npm_config_fund: "false", npm_config_audit: "false", ...options.env }
    })
  } catch (error) {
    const output = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim()
    throw new Error(`${command} ${argv.join(" ")} failed (exit ${error.status}):\n${output.slice(-6000)}`)
  }
}

/** One step: its failure is recorded and reported, and the check goes on where it can. */
const step = (name, f) => {
  try {
    const value = f()
    log(`ok: ${name}`)
    return value
  } catch (error) {
    failures.push(`${name}: ${error.message.split("\n")[0]}`)
    log(`FAILED: ${name}\n${error.message}`)
    return undefined
  }
}

const publicPackages = () =>
  readdirSync(join(root, "packages"))
    .map((name) => join(root, "packages", name))
    .filter((dir) => existsSync(join(dir, "package.json")))
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
    .filter(({ manifest }) => manifest.private !== true)

/**
 * Builds and packs every public package into `out`; returns the tarball paths. The one place that knows how
 * the workspace packs: when it has a pack script of its own, call it here.
 */
const pack = (out) => {
  if (!args.has("--no-build")) run("npx", [...PNPM, "build"], { cwd: root })
  mkdirSync(out, { recursive: true })
  for (const { dir } of publicPackages())
    run("npx", [...PNPM, "pack", "--pack-destination", out], { cwd: dir })
  return readdirSync(out)
    .filter((name) => name.endsWith(".tgz"))
    .map((name) => join(out, name))
}

/** What a packed manifest still points at in the source tree, or at the workspace: it cannot work installed. */
const packedProblems = (project) => {
  const problems = []
  const scope = join(project, "node_modules", "@witkey")
  for (const name of existsSync(scope) ? readdirSync(scope) : []) {
    const manifest = JSON.parse(readFileSync(join(scope, name, "package.json"), "utf8"))
    const text = JSON.stringify({ exports: manifest.exports, main: manifest.main, bin: manifest.bin })
    if (/\.ts"/.test(text.replace(/\.d\.ts"/g, "")))
      problems.push(`@witkey/${name}: exports or bin point at .ts`)
    if (/workspace:/.test(JSON.stringify(manifest))) problems.push(`@witkey/${name}: workspace: dependency`)
  }
  return problems
}

const workspaceTypeScript = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).devDependencies
  .typescript

/** A fresh `npm init -y` project with the tarballs, TypeScript, Express and whatever `extra` names. */
const makeProject = (dir, { type, tarballs, first = [] }) => {
  const installed = workOption !== undefined && existsSync(join(dir, "node_modules", "@witkey", "node"))
  mkdirSync(dir, { recursive: true })
  if (!installed) run("npm", ["init", "-y"], { cwd: dir })
  if (type === "module") run("npm", ["pkg", "set", "type=module"], { cwd: dir })
  // An application's own dependencies come first (the older effect), as they would in a real project.
  // Exact, as a lockfile would hold it: a caret range would let npm simply upgrade it to the SDK's version.
  if (first.length > 0 && !installed) run("npm", ["install", "--save-exact", ...first], { cwd: dir })
  const ts = process.env.CONSUMER_TS ?? workspaceTypeScript
  if (!installed)
    run(
      "npm",
      ["install", ...tarballs, `typescript@${ts}`, "@types/node@20", "express@5", "@types/express@5"],
      { cwd: dir }
    )
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          target: "ES2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          strict: true,
          skipLibCheck: true,
          types: ["node"],
          outDir: "out",
          rootDir: "src"
        },
        include: ["src"]
      },
      null,
      2
    )
  )
  mkdirSync(join(dir, "src"), { recursive: true })
  writeFileSync(join(dir, "src", "pay.ts"), PAY_SCRIPT)
}

/**
 * The consumer's script, the same text for CommonJS and ESM (no top-level await): TypeScript emits `require`
 * for the first and `import` for the second. It prints one JSON line with what it saw and exits 1 on any
 * mismatch.
 */
const PAY_SCRIPT = `import express from "express"
import type { AddressInfo } from "node:net"
import {
  ConfigurationError,
  GatewayRejectedError,
  InvalidRequestError,
  UnknownOutcomeError,
  Witkey
} from "@witkey/node"
import type { Notification } from "@witkey/node"

interface SandboxInfo {
  readonly gateway: string
  readonly partner: string
  readonly private_key: string
  readonly alipay_public_key: string
  readonly tasks: ReadonlyArray<{ readonly outer_task_id: string; readonly transfers: ReadonlyArray<string> }>
}

const check = (condition: boolean, what: string): void => {
  if (!condition) throw new Error("check failed: " + what)
}

/** The rejection of a call that must reject. */
const rejection = async (call: () => Promise<unknown>): Promise<unknown> => {
  try {
    await call()
  } catch (error) {
    return error
  }
  throw new Error("expected a rejection")
}

const main = async (): Promise<void> => {
  const sandbox = JSON.parse(process.env["WITKEY_SANDBOX"] ?? "") as SandboxInfo
  const task = sandbox.tasks[Number(process.env["WITKEY_TASK_INDEX"] ?? "0")]!
  const keys = { privateKeyFile: sandbox.private_key, alipayPublicKeyFile: sandbox.alipay_public_key }

  // A bad key throws in the constructor, with the CLI's message.
  let thrown: unknown
  try {
    new Witkey({ partner: sandbox.partner, gateway: sandbox.gateway, privateKey: "not a key", alipayPublicKeyFile: keys.alipayPublicKeyFile })
  } catch (error) {
    thrown = error
  }
  check(thrown instanceof ConfigurationError && /^privateKey: .*\\[malformed\\]/.test(thrown.message), "bad key throws ConfigurationError")

  const received: Array<Notification> = []
  const app = express()
  let wk: Witkey | undefined
  const server = app.listen(0, "127.0.0.1")
  await new Promise<void>((resolve) => server.once("listening", () => resolve()))
  const port = (server.address() as AddressInfo).port
  wk = new Witkey({
    partner: sandbox.partner,
    gateway: sandbox.gateway,
    ...keys,
    charset: "utf-8",
    notifyUrl: "http://127.0.0.1:" + port + "/alipay/notify",
    retries: 0
  })
  const listener = wk.notificationListener({
    inbox: { sqlite: "./witkey-inbox.db" },
    handler: async (n) => {
      received.push(n)
    }
  })
  app.post("/alipay/notify", listener)
  app.use(express.json())
  await listener.ready

  const first = await wk.confirmByPlatform({ outerTaskId: task.outer_task_id, transfers: task.transfers })
  check(first.status === "confirmed" && first.outerTaskId === task.outer_task_id, "confirmed")
  const again = await wk.confirmByPlatform({ outerTaskId: task.outer_task_id, transfers: task.transfers })
  check(again.status === "already_confirmed", "already_confirmed")

  const invalid = await rejection(() => wk!.confirmByPlatform({ outerTaskId: task.outer_task_id, transfers: [] }))
  check(invalid instanceof InvalidRequestError && invalid.name === "InvalidRequestError" && invalid.issues.length > 0, "InvalidRequestError")
  const rejected = await rejection(() => wk!.confirmByPlatform({ outerTaskId: "no-such-task", transfers: ["x"] }))
  check(rejected instanceof GatewayRejectedError && rejected.code === "WITKEY_TASK_NOT_EXIST" && rejected.category === "business", "GatewayRejectedError")
  const aborted = await rejection(() =>
    wk!.confirmByPlatform({ outerTaskId: task.outer_task_id, transfers: task.transfers }, { signal: AbortSignal.abort() })
  )
  check(aborted instanceof UnknownOutcomeError && aborted.reason === "aborted" && !aborted.mayHaveReached, "aborted call")
  const nowhere = new Witkey({ partner: sandbox.partner, gateway: "http://127.0.0.1:1/gateway.do", ...keys, retries: 0 })
  const unknown = await rejection(() => nowhere.confirmByPlatform({ outerTaskId: task.outer_task_id, transfers: task.transfers }))
  check(unknown instanceof UnknownOutcomeError && unknown.name === "UnknownOutcomeError" && unknown.reason === "transport" && !unknown.mayHaveReached, "UnknownOutcomeError")
  await nowhere.close()

  // The sandbox delivers two ASSIGN notifications and the service fee's, at once.
  const deadline = Date.now() + 60_000
  while (received.length < task.transfers.length + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  check(received.length === task.transfers.length + 1, "received " + received.length + " notifications")
  check(received.every((n) => n.outerTaskId === task.outer_task_id), "notifications of the task")

  await wk.close()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  process.stdout.write(JSON.stringify({ ok: true, first, again, notifications: received.map((n) => [n.subType, n.outerTransferNo ?? null, n.transferAmount]) }) + "\\n")
}

main().catch((error: unknown) => {
  process.stderr.write(String(error instanceof Error ? error.stack : error) + "\\n")
  process.exit(1)
})
`

/** Starts the sandbox from the installed CLI in `project`; its first stdout line, and a stop function. */
const startSandbox = (project, tasks) =>
  new Promise((resolveStart, rejectStart) => {
    const [command, ...prefix] = (process.env.WITKEY_BIN ?? "npx witkey").split(" ")
    const argv = [...prefix, "sandbox", "--port", "0", "--json", "--tasks", String(tasks)]
    log(`$ ${command} ${argv.join(" ")}   (in ${project})`)
    // Its own process group, so that stopping it also stops what npx started.
    const child = spawn(command, argv, { cwd: project, stdio: ["ignore", "pipe", "pipe"], detached: true })
    let out = ""
    let err = ""
    const stop = () => {
      try {
        process.kill(-child.pid, "SIGTERM")
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => {
      stop()
      rejectStart(new Error(`the sandbox printed no JSON line within 60 s: ${err.slice(-2000)}`))
    }, 60_000)
    child.stderr.on("data", (chunk) => (err += chunk))
    child.stdout.on("data", (chunk) => {
      out += chunk
      const line = out.split("\n").find((l) => l.trim().startsWith("{"))
      if (line === undefined) return
      clearTimeout(timer)
      resolveStart({ info: JSON.parse(line), stop })
    })
    child.on("exit", (code) => {
      clearTimeout(timer)
      rejectStart(new Error(`the sandbox exited (${code}): ${err.slice(-2000)}`))
    })
  })

/** Type-checks, compiles and runs the consumer's script in `project`; its stdout and stderr. */
const payIn = (project, sandbox, taskIndex) => {
  run("npx", ["tsc", "-p", "."], { cwd: project })
  const script = join(project, "out", "pay.js")
  // A fresh inbox: one kept from an earlier run (--work) already holds these tasks' events, as duplicates.
  for (const suffix of ["", "-wal", "-shm"])
    rmSync(join(project, `witkey-inbox.db${suffix}`), { force: true })
  log(`$ node out/pay.js   (in ${project})`)
  const result = spawnSync("node", [script], {
    cwd: project,
    encoding: "utf8",
    env: { ...process.env, WITKEY_SANDBOX: JSON.stringify(sandbox), WITKEY_TASK_INDEX: String(taskIndex) }
  })
  if (result.status !== 0)
    throw new Error(
      `the script failed (exit ${result.status}):\n${result.stdout ?? ""}${result.stderr ?? ""}`
    )
  const last = result.stdout.trim().split("\n").pop() ?? ""
  if (!last.startsWith('{"ok":true')) throw new Error(`unexpected output:\n${result.stdout.slice(-4000)}`)
  if (/Executing an Effect versioned/.test(result.stdout + result.stderr))
    throw new Error("two copies of effect at run time (Executing an Effect versioned … warnings)")
  log(last)
  return last
}

/** The lower bound of @witkey/core's effect peer range, when it has one. */
const oldEffect = (project) => {
  if (process.env.OLD_EFFECT) return process.env.OLD_EFFECT
  const manifest = join(project, "node_modules", "@witkey", "core", "package.json")
  const range = existsSync(manifest)
    ? JSON.parse(readFileSync(manifest, "utf8")).peerDependencies?.effect
    : undefined
  const lower = typeof range === "string" ? /(?:\^|~|>=\s*)(3\.\d+\.\d+)/.exec(range) : null
  return lower ? lower[1] : "3.17.0"
}

/** Every installed copy of effect, by path, from `npm ls effect --all --json`. */
const effectCopies = (project) => {
  let text
  try {
    text = run("npm", ["ls", "effect", "--all", "--json"], { cwd: project })
  } catch (error) {
    // `npm ls` exits 1 on invalid or unmet peers; its JSON is still printed.
    text = error.message.slice(error.message.indexOf("{"))
  }
  const versions = new Set()
  const walk = (node) => {
    for (const [name, dep] of Object.entries(node.dependencies ?? {})) {
      if (name === "effect" && dep.version) versions.add(dep.version)
      walk(dep)
    }
  }
  walk(JSON.parse(text))
  const paths = execFileSync(
    "find",
    [join(project, "node_modules"), "-path", "*/node_modules/effect/package.json"],
    {
      encoding: "utf8"
    }
  )
    .trim()
    .split("\n")
    .filter(Boolean)
  return { versions: [...versions], paths }
}

const main = async () => {
  const work =
    workOption === undefined ? mkdtempSync(join(tmpdir(), "witkey-consumer-")) : resolve(workOption)
  mkdirSync(work, { recursive: true })
  log(`working in ${work}`)
  let sandbox
  try {
    const tarballs = step("pack every public package", () => pack(join(work, "tarballs")))
    if (tarballs === undefined) return
    log(`tarballs: ${tarballs.map((t) => t.split("/").pop()).join(", ")}`)
    const cjs = join(work, "consumer-cjs")
    const esm = join(work, "consumer-esm")
    step("CommonJS project: npm install", () => makeProject(cjs, { type: "commonjs", tarballs }))
    step("ESM project: npm install", () => makeProject(esm, { type: "module", tarballs }))
    for (const project of [cjs, esm]) {
      const problems = packedProblems(project)
      if (problems.length > 0) failures.push(`installed manifests (${project}): ${problems.join("; ")}`)
    }
    step("npx witkey --help from the installed CLI", () => {
      const [command, ...prefix] = (process.env.WITKEY_BIN ?? "npx witkey").split(" ")
      const started = Date.now()
      run(command, [...prefix, "--help"], { cwd: esm })
      log(`--help took ${Date.now() - started} ms`)
    })
    sandbox = await startSandbox(esm, 4).catch((error) => {
      failures.push(`sandbox from the installed CLI: ${error.message.split("\n")[0]}`)
      log(`FAILED: sandbox\n${error.message}`)
      return undefined
    })
    if (sandbox === undefined) return
    log(`sandbox at ${sandbox.info.gateway}`)
    step("CommonJS project: type-check, pay, receive", () => payIn(cjs, sandbox.info, 0))
    step("ESM project: type-check, pay, receive", () => payIn(esm, sandbox.info, 1))

    const old = join(work, "consumer-old-effect")
    const version = oldEffect(esm)
    step(`project on effect@${version}: npm install`, () =>
      makeProject(old, { type: "module", tarballs, first: [`effect@${version}`] })
    )
    step(`project on effect@${version}: one copy of effect`, () => {
      const { versions, paths } = effectCopies(old)
      log(`npm ls effect: ${versions.join(", ")}; installed at ${paths.join(", ")}`)
      if (paths.length !== 1)
        throw new Error(`${paths.length} copies of effect installed (${versions.join(", ")})`)
    })
    step(`project on effect@${version}: type-check, pay, receive`, () => payIn(old, sandbox.info, 2))

    // An Effect 4 application: it cannot share Effect 3's runtime, and uses the Promise API next to its own
    // effect@4, which must stay the one its own code imports.
    const four = join(work, "consumer-effect-4")
    step("project on effect 4: npm install", () =>
      makeProject(four, { type: "module", tarballs, first: ["effect@4"] })
    )
    step("project on effect 4: its own effect stays 4.x", () => {
      const version = run("node", ["-p", 'require("effect/package.json").version'], { cwd: four }).trim()
      if (!version.startsWith("4.")) throw new Error(`the application's effect is ${version}`)
    })
    step("project on effect 4: type-check, pay, receive", () => payIn(four, sandbox.info, 3))
  } finally {
    sandbox?.stop()
    if (args.has("--keep") || workOption !== undefined) log(`kept ${work}`)
    else rmSync(work, { recursive: true, force: true })
  }
}

await main()
if (failures.length > 0) {
  for (const failure of failures) process.stderr.write(`consumer-check: FAILED ${failure}\n`)
  process.exit(1)
}
log("every step passed")
