/**
 * Loopback load for the HTTP rows: servers run in child processes (one core for the server, one for the
 * client loop), and the client keeps a fixed number of requests in flight.
 */
import { spawn } from "node:child_process"
import * as Http from "node:http"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

export interface Child<Info> {
  readonly info: Info
  readonly stop: () => Promise<void>
}

// Compiled (bench/dist/bench/src/Load.js, `pnpm bench`) or through tsx (WITKEY_BENCH_TSX=1).
const compiled = !import.meta.url.endsWith(".ts")

/**
 * Node arguments that run the bench source `file` (a `.ts` URL next to the caller's `import.meta.url`) the way
 * this process runs: its compiled `.js` through `Dist.js` (the built packages), or the `.ts` through tsx.
 */
export const nodeArguments = (file: URL): Array<string> =>
  compiled
    ? [
        "--import",
        new URL("./Dist.js", import.meta.url).href,
        fileURLToPath(file.href.replace(/\.ts$/, ".js"))
      ]
    : ["--import", "tsx", fileURLToPath(file)]

/**
 * Starts `file` (a bench source, `.ts`; see `nodeArguments`) in a child process and waits for its first stdout
 * line, a JSON description.
 */
export const startChild = <Info>(file: URL, args: ReadonlyArray<string> = []): Promise<Child<Info>> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArguments(file), ...args], {
      cwd: new URL("..", import.meta.url).pathname,
      stdio: ["ignore", "pipe", "inherit"]
    })
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    const lines = createInterface({ input: child.stdout! })
    let ready = false
    child.once("exit", (code) => {
      if (!ready) reject(new Error(`${file.pathname} exited with ${code} before it was ready`))
    })
    lines.once("line", (line) => {
      ready = true
      resolve({
        info: JSON.parse(line) as Info,
        stop: async () => {
          child.kill("SIGTERM")
          await exited
        }
      })
    })
  })

/**
 * Runs operations `0, 1, …` with `concurrency` in flight until `count` are issued or `maxMs` has passed;
 * returns completed operations per second.
 */
export const drive = async (
  limits: { readonly count: number; readonly maxMs?: number },
  concurrency: number,
  operation: (index: number) => Promise<void>
): Promise<number> => {
  let next = 0
  let done = 0
  const start = performance.now()
  const deadline = start + (limits.maxMs ?? Number.POSITIVE_INFINITY)
  const worker = async () => {
    while (next < limits.count && performance.now() < deadline) {
      await operation(next++)
      done++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return done / ((performance.now() - start) / 1000)
}

export interface Answer {
  readonly status: number
  readonly body: string
}

/** One request with node:http, the whole answer read. */
export const request = (
  url: string,
  options: {
    readonly agent: Http.Agent
    readonly method?: string
    readonly body?: Uint8Array
    readonly contentType?: string
  }
): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = Http.request(
      url,
      {
        method: options.method ?? "GET",
        agent: options.agent,
        headers:
          options.body === undefined
            ? {}
            : {
                "content-type": options.contentType ?? "application/octet-stream",
                "content-length": options.body.length
              }
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })
        )
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end(options.body === undefined ? undefined : Buffer.from(options.body))
  })
