/**
 * Row 5: confirmations per second against the HTTP sandbox gateway (testkit `SandboxServer`, in its own
 * process), 32 in flight: core `Client` with node-http's `HttpTransport` (validate, sign, GET, read, verify,
 * decode) against a bare node:http GET loop of URLs signed beforehand, on fresh tasks of the same server. Both
 * sides open one connection per call, as `HttpTransport.layerNode` does (no keep-alive).
 */
import * as Client from "@witkey/core/Client"
import * as Transport from "@witkey/core/Transport"
import { HttpTransport } from "@witkey/node-http"
import { Context, Effect, Exit, Layer, Schedule, Scope } from "effect"
import * as Http from "node:http"
import { PARTNER, signer, verifier } from "../Inputs.js"
import { drive, request, startChild } from "../Load.js"
import { median } from "../Measure.js"
import type { Row } from "../Report.js"

const IN_FLIGHT = 32
/** Per side and round: stop after this long, or after this many confirmations. */
const SLICE_MS = 1500
const PER_ROUND = 2500
const ROUNDS = 3
const WARMUP = 200

export const run = async (): Promise<Row> => {
  const tasks = WARMUP * 2 + PER_ROUND * ROUNDS * 2
  const sandbox = await startChild<{ gateway: string }>(
    new URL("../servers/SandboxProcess.ts", import.meta.url),
    [String(tasks)]
  )
  const scope = Effect.runSync(Scope.make())
  try {
    const services = await Effect.runPromise(Layer.buildWithScope(HttpTransport.layerNode(), scope))
    const transport = Context.get(services, Transport.Transport)
    const client = Client.fromServices(
      { partner: PARTNER, gateway: sandbox.info.gateway, retry: Schedule.stop },
      { signer, verifier, transport }
    )
    let nextTask = 0
    const input = (i: number) => ({ outerTaskId: `bench-task-${i}`, transfers: [`s-${i}`] })
    const confirm = (i: number) =>
      Effect.runPromise(client.confirmByPlatform(input(i))).then((outcome) => {
        if (outcome._tag !== "Confirmed") throw new Error(`row 5: task ${i} answered ${outcome._tag}`)
      })
    const agent = new Http.Agent({ keepAlive: false })
    const presign = async (n: number) => {
      const urls: Array<string> = []
      for (let k = 0; k < n; k++) urls.push((await Effect.runPromise(client.prepare(input(nextTask++)))).url)
      return urls
    }
    const bare = (urls: ReadonlyArray<string>) => (k: number) =>
      request(urls[k]!, { agent }).then((answer) => {
        if (answer.status !== 200 || !answer.body.includes("<is_success>T</is_success>"))
          throw new Error(`row 5 baseline: ${answer.status} ${answer.body.slice(0, 200)}`)
      })
    const sdkRound = (limits: { readonly count: number; readonly maxMs?: number }) => {
      const first = nextTask
      nextTask += limits.count
      return drive(limits, IN_FLIGHT, (k) => confirm(first + k))
    }
    // Warm both paths (JIT, sockets) on tasks of their own.
    await sdkRound({ count: WARMUP })
    await drive({ count: WARMUP }, IN_FLIGHT, bare(await presign(WARMUP)))
    const sdkHz: Array<number> = []
    const baseHz: Array<number> = []
    const ratios: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      const urls = await presign(PER_ROUND)
      const order = round % 2 === 0 ? ["bare", "sdk"] : ["sdk", "bare"]
      let s = 0
      let b = 0
      for (const side of order) {
        if (side === "sdk") s = await sdkRound({ count: PER_ROUND, maxMs: SLICE_MS })
        else b = await drive({ count: PER_ROUND, maxMs: SLICE_MS }, IN_FLIGHT, bare(urls))
      }
      sdkHz.push(s)
      baseHz.push(b)
      ratios.push(s / b)
    }
    agent.destroy()
    return {
      id: "5",
      sdk: "end to end: Client.confirmByPlatform + HttpTransport, 32 in flight",
      baseline: "node:http GET of pre-signed URLs, 32 in flight",
      result: { sdk: median(sdkHz), baseline: median(baseHz), ratio: median(ratios), rounds: ROUNDS }
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await sandbox.stop()
  }
}
