// The consumer check (issue 14, item 4): what a new user outside this repository gets from npm.
//
//   node scripts/consumer-check.mjs [--keep] [--no-pack] [--work=DIR]
//
// Uses the tarballs of scripts/pack.mjs (dist-pack/); --no-pack reuses those already there (CI runs
// `pnpm pack:check` first), else it builds and packs. --keep leaves the temporary directory; --work=DIR works in
// DIR and keeps it, reusing the projects it already installed.
//
// better-sqlite3 compiles from source (about 80 s) in every npm install that includes it, so exactly one project
// installs it:
// 1. A CommonJS `npm init -y` project (no effect of its own): installs the @witkey/cli tarball first (timed, du;
//    asserts that vitest is not installed and that `npx witkey --help` works), then @witkey/node, TypeScript and
//    Express. It starts the sandbox from the installed CLI (`npx witkey sandbox --port 0 --json`) and pays a task
//    through `Witkey`, receiving the notifications through `notificationListener` in Express, into SQLite.
// 2. A `"type": "module"` `npm init -y` project that is an Effect 4 application (effect@4 installed first) and
//    uses PostgreSQL: installs only the @witkey/node tarball (timed, du), asserts that better-sqlite3 is absent
//    and that the application's effect is still 4.x, then pays and receives the same way, into PostgreSQL.
// The script of both (one text, compiled as CommonJS and as ESM) meets both outcomes (confirmed, then
// already_confirmed), InvalidRequestError, GatewayRejectedError and UnknownOutcomeError (a refused connection,
// an aborted call), and a bad key thrown in the constructor.
// The other @witkey/* packages come from their tarballs through npm `overrides` (they are not on a registry),
// as npm would fetch them. The one-copy-of-effect check on an older effect 3.x is scripts/peer-range.sh low.
//
// Exit code 0 when every step passed; 1 otherwise, with one line per failed step. Needs Node 20, npm, the npm
// registry, and PostgreSQL (WITKEY_PG_URL, default postgres://postgres@127.0.0.1:5432/test).
// Environment: CONSUMER_TS the TypeScript version the projects use (default the workspace's).
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

/** The tarballs of scripts/pack.mjs (dist-pack/), by package name; builds and packs first unless --no-pack. */
const pack = () => {
  if (!args.has("--no-pack")) {
    run("npx", [...PNPM, "build"], { cwd: root })
    run("node", [join(root, "scripts", "pack.mjs")], { cwd: root })
  }
  const out = join(root, "dist-pack")
  const tarballs = {}
  for (const { manifest } of publicPackages()) {
    const file = join(out, `${manifest.name.slice(1).replace("/", "-")}-${manifest.version}.tgz`)
    if (!existsSync(file)) throw new Error(`${file} is missing: run pnpm pack:check, or drop --no-pack`)
    tarballs[manifest.name] = file
  }
  return tarballs
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

/** du -sk of a project's node_modules, in MB. */
const sizeMb = (dir) =>
  existsSync(join(dir, "node_modules"))
    ? Math.round(
        Number(execFileSync("du", ["-sk", join(dir, "node_modules")], { encoding: "utf8" }).split("\t")[0]) /
          1024
      )
    : 0

/**
 * A fresh `npm init -y` project: `first` (the application's own dependencies, exact as a lockfile holds them),
 * then `measured` (tarballs; timed and sized), then TypeScript and Express. The @witkey/* dependencies of the
 * tarballs resolve to their tarballs through `overrides`.
 */
const makeProject = (dir, { type, tarballs, first = [], measured }) => {
  const installed = workOption !== undefined && existsSync(join(dir, "node_modules", "@witkey", "node"))
  mkdirSync(dir, { recursive: true })
  if (!installed) {
    run("npm", ["init", "-y"], { cwd: dir })
    if (type === "module") run("npm", ["pkg", "set", "type=module"], { cwd: dir })
    // Only for packages that are dependencies of others: npm refuses an override of a direct dependency.
    for (const [name, file] of Object.entries(tarballs))
      if (name !== "@witkey/cli" && name !== "@witkey/node")
        run("npm", ["pkg", "set", `overrides.${name}=file:${file}`], { cwd: dir })
    if (first.length > 0) run("npm", ["install", "--save-exact", ...first], { cwd: dir })
    const before = sizeMb(dir)
    const started = Date.now()
    run("npm", ["install", ...measured], { cwd: dir })
    log(
      `install of ${measured.map((t) => t.split("/").pop()).join(" ")}: ${((Date.now() - started) / 1000).toFixed(1)} s, node_modules +${sizeMb(dir) - before} MB`
    )
    const ts = process.env.CONSUMER_TS ?? workspaceTypeScript
    run("npm", ["install", `typescript@${ts}`, "@types/node@20", "express@5", "@types/express@5"], {
      cwd: dir
    })
  }
  if (type === "module") run("npm", ["pkg", "set", "type=module"], { cwd: dir })
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

/** Fails unless `predicate` holds of the path inside the project. */
const assertPath = (project, path, present) => {
  if (existsSync(join(project, path)) !== present)
    throw new Error(`${path} is ${present ? "missing" : "installed"} in ${project}`)
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
import type { InboxOptions, Notification } from "@witkey/node"

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
    inbox: JSON.parse(process.env["WITKEY_INBOX"] ?? "") as InboxOptions,
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
    const command = "npx"
    const argv = ["witkey", "sandbox", "--port", "0", "--json", "--tasks", String(tasks)]
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
const payIn = (project, sandbox, taskIndex, inbox) => {
  run("npx", ["tsc", "-p", "."], { cwd: project })
  const script = join(project, "out", "pay.js")
  // A fresh inbox: one kept from an earlier run (--work) already holds these tasks' events, as duplicates.
  for (const suffix of ["", "-wal", "-shm"])
    rmSync(join(project, `witkey-inbox.db${suffix}`), { force: true })
  log(`$ node out/pay.js   (in ${project})`)
  const result = spawnSync("node", [script], {
    cwd: project,
    encoding: "utf8",
    env: {
      ...process.env,
      WITKEY_SANDBOX: JSON.stringify(sandbox),
      WITKEY_TASK_INDEX: String(taskIndex),
      WITKEY_INBOX: JSON.stringify(inbox)
    }
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

const main = async () => {
  const work =
    workOption === undefined ? mkdtempSync(join(tmpdir(), "witkey-consumer-")) : resolve(workOption)
  mkdirSync(work, { recursive: true })
  log(`working in ${work}`)
  let sandbox
  try {
    const tarballs = step("pack every public package", () => pack())
    if (tarballs === undefined) return
    log(
      `tarballs: ${Object.values(tarballs)
        .map((t) => t.split("/").pop())
        .join(", ")}`
    )
    const cjs = join(work, "consumer-cjs")
    const esm = join(work, "consumer-esm")
    step("CommonJS project: npm install the CLI, then @witkey/node", () =>
      makeProject(cjs, { type: "commonjs", tarballs, measured: [tarballs["@witkey/cli"]] })
    )
    step("CommonJS project: @witkey/node installed next to the CLI", () => {
      run("npm", ["install", tarballs["@witkey/node"]], { cwd: cjs })
    })
    step("ESM project (Effect 4, PostgreSQL only): npm install @witkey/node", () =>
      makeProject(esm, {
        type: "module",
        tarballs,
        first: ["effect@4"],
        measured: [tarballs["@witkey/node"]]
      })
    )
    for (const project of [cjs, esm]) {
      const problems = packedProblems(project)
      if (problems.length > 0) failures.push(`installed manifests (${project}): ${problems.join("; ")}`)
    }
    step("installing the CLI installs no vitest", () => {
      assertPath(cjs, "node_modules/vitest", false)
      assertPath(cjs, "node_modules/vite", false)
    })
    step("a PostgreSQL-only install has no better-sqlite3", () => {
      assertPath(esm, "node_modules/@witkey/node", true)
      const found = execFileSync(
        "find",
        [join(esm, "node_modules"), "-type", "d", "-name", "better-sqlite3"],
        {
          encoding: "utf8"
        }
      ).trim()
      if (found !== "") throw new Error(`better-sqlite3 installed: ${found}`)
    })
    step("the Effect 4 application keeps its effect 4, @witkey/node its effect 3", () => {
      const app = run("node", ["-p", 'require("effect/package.json").version'], { cwd: esm }).trim()
      const own = JSON.parse(
        readFileSync(join(esm, "node_modules/@witkey/node/node_modules/effect/package.json"), "utf8")
      ).version
      log(`application effect ${app}, @witkey/node's effect ${own}`)
      if (!app.startsWith("4.") || !own.startsWith("3.")) throw new Error(`effect ${app} and ${own}`)
    })
    step("npx witkey --help from the installed CLI", () => {
      const started = Date.now()
      const help = run("npx", ["witkey", "--help"], { cwd: cjs })
      log(`npx witkey --help took ${Date.now() - started} ms`)
      if (!/sandbox/.test(help)) throw new Error(`--help does not name the sandbox command:\n${help}`)
    })
    sandbox = await startSandbox(cjs, 2).catch((error) => {
      failures.push(`sandbox from the installed CLI: ${error.message.split("\n")[0]}`)
      log(`FAILED: sandbox\n${error.message}`)
      return undefined
    })
    if (sandbox === undefined) return
    log(`sandbox at ${sandbox.info.gateway}`)
    step("CommonJS project: type-check, pay, receive in Express (SQLite inbox)", () =>
      payIn(cjs, sandbox.info, 0, { sqlite: "./witkey-inbox.db" })
    )
    // A table prefix of its own: the tasks' ids repeat from run to run, and other runs share the database.
    const prefix = `witkey_cc_${process.pid}_${Date.now().toString(36)}_`
    step("ESM project: type-check, pay, receive in Express (PostgreSQL inbox)", () =>
      payIn(esm, sandbox.info, 1, {
        postgres: process.env.WITKEY_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test",
        tablePrefix: prefix
      })
    )
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
