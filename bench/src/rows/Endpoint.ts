/**
 * Row 7: notifications accepted per second through the HTTP endpoint (node-http `NotificationEndpoint` with
 * the SQLite `SqlInbox`), against a bare node:http handler doing the same verification and one
 * better-sqlite3 insert per request. Each server runs in its own process on its own SQLite file; both are
 * driven by the same loopback client loop (32 in flight, keep-alive) with the same unique signed
 * notifications.
 */
import { mkdtempSync, rmSync } from "node:fs"
import * as Http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { notification, type SignedNotification } from "../Inputs.js"
import { drive, request, startChild } from "../Load.js"
import { median } from "../Measure.js"
import type { Row } from "../Report.js"

const IN_FLIGHT = 32
/** Per side and round: stop after this long, or when the round's notifications run out. */
const SLICE_MS = 1500
const PER_ROUND = 2500
const ROUNDS = 3
const WARMUP = 300

export const run = async (): Promise<Row> => {
  const dir = mkdtempSync(join(tmpdir(), "witkey-bench-"))
  const file = new URL("../servers/EndpointProcess.ts", import.meta.url)
  const sdk = await startChild<{ url: string }>(file, ["sdk", join(dir, "sdk.sqlite")])
  const bare = await startChild<{ url: string }>(file, ["bare", join(dir, "bare.sqlite")])
  const agent = new Http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT })
  try {
    // Every notification is new to both servers: each side sees each body exactly once.
    const batches: Array<ReadonlyArray<SignedNotification>> = []
    let i = 0
    for (const size of [WARMUP, ...Array.from({ length: ROUNDS }, () => PER_ROUND)])
      batches.push(Array.from({ length: size }, () => notification(i++)))
    const post = (url: string, batch: ReadonlyArray<SignedNotification>) => (k: number) =>
      request(url, { agent, method: "POST", body: batch[k]!.body, contentType: batch[k]!.contentType }).then(
        (answer) => {
          if (answer.status !== 200 || answer.body !== "success")
            throw new Error(`row 7: ${url} answered ${answer.status} ${answer.body}`)
        }
      )
    await drive({ count: WARMUP }, IN_FLIGHT, post(sdk.info.url, batches[0]!))
    await drive({ count: WARMUP }, IN_FLIGHT, post(bare.info.url, batches[0]!))
    const sdkHz: Array<number> = []
    const baseHz: Array<number> = []
    const ratios: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      const batch = batches[round + 1]!
      const first = round % 2 === 0 ? bare : sdk
      const second = first === sdk ? bare : sdk
      const limits = { count: batch.length, maxMs: SLICE_MS }
      const a = await drive(limits, IN_FLIGHT, post(first.info.url, batch))
      const b = await drive(limits, IN_FLIGHT, post(second.info.url, batch))
      const [s, base] = first === sdk ? [a, b] : [b, a]
      sdkHz.push(s)
      baseHz.push(base)
      ratios.push(s / base)
    }
    return {
      id: "7",
      sdk: "notify endpoint: NotificationEndpoint + SqlInbox (SQLite)",
      baseline: "node:http handler: crypto.verify + 1 better-sqlite3 insert",
      result: { sdk: median(sdkHz), baseline: median(baseHz), ratio: median(ratios), rounds: ROUNDS },
      target: 0.6
    }
  } finally {
    agent.destroy()
    await sdk.stop()
    await bare.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}
