// Runs the real `witkey` binary as a subprocess (node --import tsx packages/cli/src/bin.ts ...), so every test
// goes through argument parsing, stdout/stderr and the exit code exactly as a user or another tool sees them.
import { execFile, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"

/**
 * Per-test bound for tests that start the CLI: each process starts a TypeScript runtime, which takes seconds
 * on a busy 2-core machine. A bound against hangs, not a claim about speed.
 */
export const TIMEOUT = 120_000

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))

export interface Result {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export const run = (args: ReadonlyArray<string>, options: { readonly timeoutMs?: number } = {}) =>
  Effect.async<Result>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", bin, ...args],
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

/** A long-running `witkey` process (sandbox, serve), killed when the scope closes. */
export interface Server {
  readonly stdout: () => string
  readonly stderr: () => string
  /** Waits (bounded) until the output satisfies `ready`; fails with what was printed if it never does. */
  readonly waitFor: <A>(
    ready: (out: { stdout: string; stderr: string }) => A | undefined
  ) => Effect.Effect<A, Error>
}

export const start = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, ["--import", "tsx", bin, ...args], {
        cwd: repoRoot,
        env: { ...process.env, NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const server: Server = {
        stdout: () => stdout,
        stderr: () => stderr,
        waitFor: (ready) =>
          Effect.async((resume) => {
            const deadline = Date.now() + 90_000
            const check = () => {
              const found = ready({ stdout, stderr })
              if (found !== undefined) return resume(Effect.succeed(found))
              if (child.exitCode !== null || Date.now() > deadline)
                return resume(
                  Effect.fail(
                    new Error(`witkey ${args[0]} never got ready\nstdout: ${stdout}\nstderr: ${stderr}`)
                  )
                )
              timer = setTimeout(check, 50)
            }
            let timer = setTimeout(check, 0)
            return Effect.sync(() => clearTimeout(timer))
          })
      }
      return { child, server }
    }),
    ({ child }) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  ).pipe(Effect.map(({ server }) => server))
