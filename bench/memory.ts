// Memory check: 100k notifications through verify and decode (Notification.decode with the crypto-dsa
// Verifier). RSS after must be within 50 MB of RSS before; exits 1 if not. Run with --expose-gc for a
// settled reading (`pnpm bench` does): `pnpm --filter @witkey/bench memory`
import * as Notification from "@witkey/core/Notification"
import * as Verifier from "@witkey/core/Verifier"
import { Effect } from "effect"
import { notification, verifier } from "./src/Inputs.js"

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
process.exitCode = ok ? 0 : 1
