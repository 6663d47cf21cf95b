// Where the time of row 5 goes: client CPU per operation (process.cpuUsage, which holds up better than wall
// time on a busy machine) of each step of a payout, each one run after a bare GET of the same server as row 5
// (`servers/FixedAnswerProcess.ts`, its own process), so that every step pays what it pays between network
// events (cold caches, the event loop in between) and not what it pays in a tight loop. Keep-alive HTTP,
// `WITKEY_PAYOUT_IN_FLIGHT` in flight (default 32), best of 4 alternating rounds of 1,000 operations. Not part
// of `pnpm bench`; run it with `pnpm --filter @witkey/bench payout`. A step's cost is its line minus the bare GET's.
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import { Effect } from "effect"
import { verifier } from "./src/Inputs.js"
import { drive } from "./src/Load.js"
import { payoutSetup } from "./src/PayoutSetup.js"

const IN_FLIGHT = Number(process.env["WITKEY_PAYOUT_IN_FLIGHT"] ?? 32)
const OPS = 1000
const ROUNDS = 4

const setup = await payoutSetup()
try {
  const { answer, bareGet, client, input, prepared, sign, transport, verify } = setup
  const url = prepared.url
  // With the verifier given, as the Client decodes (no `provideService` per answer, which costs more than the
  // rest of the decode between network events).
  const decode = () => Effect.runSync(GatewayResponse.decodeWith(verifier, answer, "utf-8"))

  const steps: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
    ["bare GET", bareGet],
    ["bare GET, then crypto.sign", () => bareGet().then(sign)],
    [
      "bare GET, then Client.prepare (runSync)",
      () => bareGet().then(() => Effect.runSync(client.prepare(input)))
    ],
    ["bare GET, then crypto.verify", () => bareGet().then(verify)],
    ["bare GET, then GatewayResponse.decodeWith (runSync)", () => bareGet().then(decode)],
    ["crypto.sign, bare GET, crypto.verify (row 5's baseline)", () => (sign(), bareGet().then(verify))],
    ["HttpTransport.get (runPromise)", () => Effect.runPromise(transport.get(url))],
    ["Client.send (runPromise)", () => Effect.runPromise(client.send(prepared))],
    [
      "Client.confirmByPlatform (runPromise, row 5's SDK side)",
      () => Effect.runPromise(client.confirmByPlatform(input))
    ]
  ]
  for (const [, step] of steps) await drive({ count: 200 }, IN_FLIGHT, () => step().then(() => undefined))
  const best = new Map<string, number>()
  for (let round = 0; round < ROUNDS; round++)
    for (const [name, step] of round % 2 === 0 ? steps : [...steps].reverse()) {
      const before = process.cpuUsage()
      await drive({ count: OPS }, IN_FLIGHT, () => step().then(() => undefined))
      const used = process.cpuUsage(before)
      best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, (used.user + used.system) / OPS))
    }
  process.stdout.write(
    `row 5 steps, ${IN_FLIGHT} in flight, client CPU per operation (best of ${ROUNDS} rounds)\n`
  )
  for (const [name, micros] of best)
    process.stdout.write(`  ${name.padEnd(58)} ${micros.toFixed(0).padStart(6)} µs\n`)
} finally {
  await setup.close()
}
