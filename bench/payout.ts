// Where the time of row 5 goes: client CPU per operation (process.cpuUsage, which holds up better than wall
// time on a busy machine) of each step of a payout, each one run after a bare GET of the same server as row 5
// (`servers/FixedAnswerProcess.ts`, its own process), so that every step pays what it pays between network
// events (cold caches, the event loop in between) and not what it pays in a tight loop. Keep-alive HTTP,
// `WITKEY_PAYOUT_IN_FLIGHT` in flight (default 32), best of 4 alternating rounds of 1,000 operations. Not part
// of `pnpm bench`; run it with `pnpm --filter @witkey/bench payout`. A step's cost is its line minus the bare GET's.
import * as Client from "@witkey/core/Client"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as SigningString from "@witkey/core/SigningString"
import * as Transport from "@witkey/core/Transport"
import { HttpTransport } from "@witkey/node-http"
import { Context, Effect, Exit, Layer, Schedule, Scope } from "effect"
import * as crypto from "node:crypto"
import * as Http from "node:http"
import {
  dsaSign,
  gatewayPublicKey,
  PARTNER,
  partnerPrivateKey,
  responseBody,
  signer,
  verifier
} from "./src/Inputs.js"
import { drive, startChild } from "./src/Load.js"

const TASK = "bench-task-e2e"
const IN_FLIGHT = Number(process.env["WITKEY_PAYOUT_IN_FLIGHT"] ?? 32)
const OPS = 1000
const ROUNDS = 4

const server = await startChild<{ readonly http: string }>(
  new URL("./src/servers/FixedAnswerProcess.ts", import.meta.url),
  [TASK]
)
const scope = Effect.runSync(Scope.make())
try {
  const services = await Effect.runPromise(Layer.buildWithScope(HttpTransport.layerNode(), scope))
  const transport = Context.get(services, Transport.Transport)
  const client = Client.fromServices(
    { partner: PARTNER, gateway: `${server.info.http}/gateway.do`, retry: Schedule.stop },
    { signer, verifier, transport }
  )
  const input = { outerTaskId: TASK, transfers: ["s-1", "s-2"] }
  const prepared = await Effect.runPromise(client.prepare(input))
  const url = prepared.url
  const canonical = Buffer.from(prepared.canonical, "utf8")
  const answer = { status: 200, body: responseBody(TASK), contentType: "text/xml; charset=utf-8" }
  const answerBytes = SigningString.bytes([["outer_task_id", TASK]], "utf-8")
  const answerSign = Buffer.from(dsaSign(answerBytes), "base64")
  const agent = new Http.Agent({ keepAlive: true, timeout: 4000 })

  const bareGet = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = Http.request(url, { agent }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () =>
          Buffer.concat(chunks).length > 0 ? resolve() : reject(new Error("empty answer"))
        )
      })
      req.on("error", reject)
      req.end()
    })
  const sign = () =>
    crypto.sign("sha1", canonical, { key: partnerPrivateKey, dsaEncoding: "der" }).toString("base64")
  const verify = () => {
    if (!crypto.verify("sha1", answerBytes, { key: gatewayPublicKey, dsaEncoding: "der" }, answerSign))
      throw new Error("the answer does not verify")
  }
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
  agent.destroy()
} finally {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await server.stop()
}
