// Runs `witkey` two ways. `run` and `start` run the command line in this process (Cli.run is an Effect), with
// stdout and stderr captured and the exit code returned, exactly as bin.ts does minus the process: most tests
// use these. `runProcess` starts the real binary, src/bin.ts bundled into one JavaScript file and run by plain
// `node`: a handful of tests use it, for what only a process shows (argv as the shell passes it, the exit code,
// the streams). `node --import tsx` would transform the workspace's sources on every start, seconds of
// processor time each; the bundle is built once per test worker (about a second).
import * as NodeContext from "@effect/platform-node/NodeContext"
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { inspect } from "node:util"
import { assert } from "@effect/vitest"
import { Clock, Effect } from "effect"
import type * as Console from "effect/Console"
import * as Bundle from "../../inbox-sql/test/Bundle.js"
import * as Cli from "../src/Cli.js"

/**
 * Per-test bound for tests that start the CLI (or a demo) and may wait on a busy 2-core machine. A bound against
 * hangs, not a claim about speed.
 */
export const TIMEOUT = 120_000

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

const format = (args: ReadonlyArray<unknown>) =>
  `${args.map((a) => (typeof a === "string" ? a : inspect(a))).join(" ")}\n`

/** A Console whose output lands in two strings instead of the process's streams. */
const capturing = (base: Console.Console) => {
  const out = { stdout: "", stderr: "" }
  const toStdout = (...args: ReadonlyArray<unknown>) => void (out.stdout += format(args))
  const toStderr = (...args: ReadonlyArray<unknown>) => void (out.stderr += format(args))
  const unsafe = {
    ...base.unsafe,
    log: toStdout,
    info: toStdout,
    error: toStderr,
    warn: toStderr,
    debug: toStderr,
    trace: toStderr
  }
  const console: Console.Console = {
    ...base,
    log: (...args) => Effect.sync(() => toStdout(...args)),
    info: (...args) => Effect.sync(() => toStdout(...args)),
    error: (...args) => Effect.sync(() => toStderr(...args)),
    warn: (...args) => Effect.sync(() => toStderr(...args)),
    debug: (...args) => Effect.sync(() => toStderr(...args)),
    trace: (...args) => Effect.sync(() => toStderr(...args)),
    unsafe
  }
  return { console, out }
}

const inProcess = (args: ReadonlyArray<string>) =>
  Effect.flatMap(Effect.console, (base) => {
    const { console, out } = capturing(base)
    // The real clock even under it.effect's TestClock: a command's sleeps and timeouts must pass.
    const run = Cli.run(["node", "witkey", ...args]).pipe(
      Effect.provide(NodeContext.layer),
      Effect.withConsole(console),
      Effect.withClock(Clock.make())
    )
    return Effect.succeed({ run, out })
  })

/** Runs `witkey args…` in this process: its exit code and what it printed. */
export const run = (args: ReadonlyArray<string>): Effect.Effect<Result> =>
  Effect.flatMap(inProcess(args), ({ out, run }) =>
    Effect.map(run, (code) => ({ code, stdout: out.stdout, stderr: out.stderr }))
  )

/** Runs the real `witkey` binary (bundled, see above) as a subprocess. */
export const runProcess = (args: ReadonlyArray<string>, options: { readonly timeoutMs?: number } = {}) =>
  Effect.flatMap(Bundle.bundled(bin), (script) =>
    Effect.async<Result>((resume) => {
      const child = execFile(
        process.execPath,
        [script, ...args],
        {
          cwd: repoRoot,
          encoding: "utf8",
          timeout: options.timeoutMs ?? TIMEOUT,
          maxBuffer: 16 * 1024 * 1024,
          env: { ...process.env, NO_COLOR: "1" }
        },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
          resume(Effect.succeed({ code, stdout, stderr }))
        }
      )
      return Effect.sync(() => child.kill())
    })
  )

/** Exactly one line on stderr, starting `witkey:`, and nothing on stdout. */
export const assertOneErrorLine = (result: { stdout: string; stderr: string }, pattern: RegExp) => {
  assert.strictEqual(result.stdout, "")
  const lines = result.stderr.split("\n").filter((line) => line !== "")
  assert.strictEqual(lines.length, 1, result.stderr)
  assert.match(lines[0]!, /^witkey: /)
  assert.match(lines[0]!, pattern)
}

/** The last non-empty line of stdout, parsed: the contract's `--json` result. */
export const lastJson = (result: Result): Record<string, unknown> => {
  const lines = result.stdout.split("\n").filter((line) => line.trim() !== "")
  const last = lines[lines.length - 1]
  if (last === undefined) throw new Error(`no stdout; stderr: ${result.stderr}`)
  return JSON.parse(last)
}

const tempDirs: Array<string> = []

/** A fresh temporary directory; `removeTempDirs` (in `afterAll`) deletes them all. */
export const tempDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `witkey-cli-${prefix}-`))
  tempDirs.push(dir)
  return dir
}

export const removeTempDirs = (): void => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export const writeBytes = (dir: string, name: string, bytes: Uint8Array): string => {
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}

export const keyPath = (name: string): string => join(repoRoot, "fixtures/vectors/keys", `${name}_key.pem`)

export interface Vectors {
  readonly canonical: ReadonlyArray<{
    name: string
    charset: string
    params: Array<[string, string]>
    canonical: string
    bytes_hex: string
  }>
  readonly responses: ReadonlyArray<{
    name: string
    charset: string
    body_b64: string
    expect: Record<string, unknown>
  }>
  readonly notifications: ReadonlyArray<{
    name: string
    charset: string
    content_type: string
    body_b64: string
    expect: Record<string, unknown>
  }>
}

export const vectors: Vectors = JSON.parse(
  readFileSync(join(repoRoot, "fixtures/vectors/vectors.json"), "utf8")
)

/** A long-running `witkey` (sandbox, serve), stopped when the scope closes. */
export interface Server {
  readonly stdout: () => string
  readonly stderr: () => string
  /** Waits (bounded) until the output satisfies `ready`; fails with what was printed if it never does. */
  readonly waitFor: <A>(
    ready: (out: { stdout: string; stderr: string }) => A | undefined
  ) => Effect.Effect<A, Error>
}

/** Polls the output (bounded) until `ready` finds what it wants there. */
const makeServer = (
  args: ReadonlyArray<string>,
  output: () => { stdout: string; stderr: string },
  ended: () => boolean
): Server => ({
  stdout: () => output().stdout,
  stderr: () => output().stderr,
  waitFor: (ready) =>
    Effect.async((resume) => {
      const deadline = Date.now() + 90_000
      const check = () => {
        const found = ready(output())
        if (found !== undefined) return resume(Effect.succeed(found))
        if (ended() || Date.now() > deadline) {
          const { stderr, stdout } = output()
          return resume(
            Effect.fail(new Error(`witkey ${args[0]} never got ready\nstdout: ${stdout}\nstderr: ${stderr}`))
          )
        }
        timer = setTimeout(check, 20)
      }
      let timer = setTimeout(check, 0)
      return Effect.sync(() => clearTimeout(timer))
    })
})

/** `witkey args…` running in this process as a fiber, interrupted when the scope closes. */
export const start = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const { out, run } = yield* inProcess(args)
    // Not forked inside an acquire: that region is uninterruptible, and the fiber would inherit it.
    const fiber = yield* Effect.forkScoped(run)
    let ended = false
    fiber.addObserver(() => (ended = true))
    return makeServer(
      args,
      () => out,
      () => ended
    )
  })

/**
 * `witkey sandbox` with one task and `witkey serve` on `db` against it, both in process: what the tests of the
 * three commands together start with. `receiver` is serve's notify URL.
 */
export const sandboxAndServe = (db: string) =>
  Effect.gen(function* () {
    const sandbox = yield* start(["sandbox", "--port", "0", "--tasks", "1", "--json"])
    const info = yield* sandbox.waitFor(({ stdout }) => {
      const line = stdout.split("\n").find((l) => l.startsWith("{"))
      return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>)
    })
    const gateway = String(info["gateway"])
    const task = (info["tasks"] as Array<{ outer_task_id: string; transfers: Array<string> }>)[0]!
    const serve = yield* start([
      "serve",
      "--port",
      "0",
      "--db",
      db,
      "--alipay-public-key",
      String(info["alipay_public_key"]),
      "--partner",
      String(info["partner"]),
      "--gateway",
      gateway
    ])
    const receiver = yield* serve.waitFor(
      ({ stderr }) => /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr)?.[1]
    )
    return { sandbox, info, gateway, task, serve, receiver }
  })
