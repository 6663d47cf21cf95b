// Memory check: 100k notifications through verify and decode (Notification.decode with the crypto-dsa
// Verifier), then 100k deliveries through the HTTP endpoint with each SQL inbox (below). RSS after must be
// within 50 MB of RSS before, each time; exits 1 if not. Run with --expose-gc for a
// settled reading (`pnpm bench` does): `pnpm --filter @witkey/bench memory`
import * as Notification from "@witkey/core/Notification"
import * as Verifier from "@witkey/core/Verifier"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import * as Http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { notification, verifier } from "./src/Inputs.js"
import { drive, request, startChild } from "./src/Load.js"
import { urlFor, withSchemas } from "./src/rows/Endpoint.js"

const TOTAL = Number(process.env["WITKEY_BENCH_MEMORY_NOTIFICATIONS"] ?? 100_000)
const LIMIT_MB = 50
const DISTINCT = 1000
const BATCH = 500

const gc = (globalThis as { gc?: () => void }).gc
const settle = () => {
  if (gc === undefined) return
  for (let i = 0; i < 3; i++) gc()
}
const rssMb = () => process.memoryUsage().rss / 1024 / 1024

// Distinct bodies (unique notify_id, task and serial), reused round robin: each decode allocates afresh.
const inputs = Array.from({ length: DISTINCT }, (_, i) => notification(i))

const batch = (from: number) =>
  Effect.gen(function* () {
    for (let k = from; k < from + BATCH; k++) {
      const n = inputs[k % DISTINCT]!
      const decoded = yield* Notification.decode({ body: n.body, contentType: n.contentType })
      if (decoded.notifyId !== n.notifyId)
        throw new Error(`decoded ${decoded.notifyId}, expected ${n.notifyId}`)
    }
  }).pipe(Effect.provideService(Verifier.Verifier, verifier))

// Warm up first (JIT, pools), so "before" is the steady state a server starts from.
for (let k = 0; k < 2 * DISTINCT; k += BATCH) Effect.runSync(batch(k))
settle()
const before = rssMb()
const heapBefore = process.memoryUsage().heapUsed / 1024 / 1024
const start = performance.now()
let peak = before
for (let k = 0; k < TOTAL; k += BATCH) {
  Effect.runSync(batch(k))
  if (k % 10_000 === 0) peak = Math.max(peak, rssMb())
}
const seconds = (performance.now() - start) / 1000
settle()
const after = rssMb()
const heapAfter = process.memoryUsage().heapUsed / 1024 / 1024
const growth = after - before
const ok = growth <= LIMIT_MB

process.stdout.write(
  [
    `memory: ${TOTAL} notifications verified and decoded in ${seconds.toFixed(1)} s (${Math.round(TOTAL / seconds)}/s)${gc === undefined ? " (no --expose-gc: readings unsettled)" : ""}`,
    `memory: RSS ${before.toFixed(1)} MB before, ${after.toFixed(1)} MB after (peak seen ${peak.toFixed(1)} MB): ${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MB, limit +${LIMIT_MB} MB: ${ok ? "ok" : "OVER"}`,
    `memory: heap used ${heapBefore.toFixed(1)} MB before, ${heapAfter.toFixed(1)} MB after`
  ].join("\n") + "\n"
)

// --- through the endpoint ------------------------------------------------------------------------------------
//
// 100k deliveries of unique signed notifications over HTTP (keep-alive, 64 in flight) into the endpoint's own
// process (`servers/EndpointProcess.ts`: `NodeNotificationListener`, verify, decode, the inbox, a no-op
// handler), once with the SQLite inbox and once with the PostgreSQL inbox (a schema of its own, dropped
// afterwards). The server's RSS after a warm-up and after the deliveries, each after three `gc()` calls there,
// must differ by at most 50 MB. (testkit's MemoryInbox keeps every entry by design, so it is not measured.)
// Without PostgreSQL the PostgreSQL line says why it is missing; the SQLite line still counts.

const DELIVERIES = Number(process.env["WITKEY_BENCH_MEMORY_DELIVERIES"] ?? 100_000)
const IN_FLIGHT = 64

interface Reading {
  readonly rss: number
  readonly heapUsed: number
}

const endpointMemory = async (mode: "sdk" | "sdk-pg", target: string, offset: number) => {
  const server = await startChild<{ url: string }>(
    new URL("./src/servers/EndpointProcess.ts", import.meta.url),
    mode === "sdk-pg" ? [mode, target, String(16)] : [mode, target]
  )
  const agent = new Http.Agent({ keepAlive: true, maxSockets: IN_FLIGHT })
  try {
    const reading = async (): Promise<Reading> =>
      JSON.parse(
        (await request(server.info.url.replace("/alipay/notify", "/__memory"), { agent })).body
      ) as Reading
    // Signed as they go: nothing to hold 100k bodies in this process.
    const post = (k: number) => {
      const n = notification(offset + k)
      return request(server.info.url, {
        agent,
        method: "POST",
        body: n.body,
        contentType: n.contentType
      }).then((answer) => {
        if (answer.body !== "success")
          throw new Error(`memory: ${mode} answered ${answer.status} ${answer.body}`)
      })
    }
    const WARM = 3000
    await drive({ count: WARM }, IN_FLIGHT, post)
    const before = await reading()
    let peak = before.rss
    const started = performance.now()
    for (let done = WARM; done < WARM + DELIVERIES; done += 10_000) {
      const count = Math.min(10_000, WARM + DELIVERIES - done)
      await drive({ count }, IN_FLIGHT, (k) => post(done + k))
      peak = Math.max(peak, (await reading()).rss)
    }
    const seconds = (performance.now() - started) / 1000
    const after = await reading()
    const growth = (after.rss - before.rss) / 1024 / 1024
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1)
    const label = mode === "sdk" ? "SQLite" : "PostgreSQL"
    process.stdout.write(
      [
        `memory: endpoint + ${label} inbox: ${DELIVERIES} deliveries over HTTP in ${seconds.toFixed(1)} s (${Math.round(DELIVERIES / seconds)}/s)`,
        `memory: endpoint + ${label} inbox: server RSS ${mb(before.rss)} MB before, ${mb(after.rss)} MB after (peak seen ${mb(peak)} MB): ${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MB, limit +${LIMIT_MB} MB: ${growth <= LIMIT_MB ? "ok" : "OVER"}`,
        `memory: endpoint + ${label} inbox: server heap used ${mb(before.heapUsed)} MB before, ${mb(after.heapUsed)} MB after`
      ].join("\n") + "\n"
    )
    return growth <= LIMIT_MB
  } finally {
    agent.destroy()
    await server.stop()
  }
}

const dir = mkdtempSync(join(tmpdir(), "witkey-memory-"))
let endpointOk = true
try {
  endpointOk = (await endpointMemory("sdk", join(dir, "inbox.sqlite"), 10_000_000)) && endpointOk
  const schema = `bench_pg_memory_${process.pid}`
  try {
    endpointOk =
      (await withSchemas([schema], () => endpointMemory("sdk-pg", urlFor(schema), 20_000_000))) && endpointOk
  } catch (error) {
    process.stdout.write(
      `memory: endpoint + PostgreSQL inbox not measured: ${error instanceof Error ? error.message : String(error)}\n`
    )
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
process.exitCode = ok && endpointOk ? 0 : 1
