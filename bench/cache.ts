// Row 5 in counts, not time (issue 17, BENCHMARKS.md "eleventh pass"): instructions and simulated L1/LL cache
// misses per payout, for the client process only, under `valgrind --tool=callgrind --cache-sim=yes`. The counts
// do not move with the machine's load, which moves row 5's ratios by a tenth from run to run. Four sides, each
// in a process of its own against the row's fixed-answer server, at WITKEY_CACHE_IN_FLIGHT in flight (default 1),
// keep-alive HTTP; WARMUP payouts first, then only the COUNT measured ones are counted (`callgrind_control -i`).
//
//   baseline  crypto.sign, a bare node:http GET of the pre-signed URL, crypto.verify (row 5's baseline)
//   floor     the same inside one Effect fiber per payout: the floor of any Effect SDK
//   modules   the SDK's modules composed by hand in one fiber: ConfirmRequest.validate, SignedRequest.makeWith,
//             HttpTransport's get, GatewayResponse.decodeWith (no Client, no retry loop)
//   sdk       Client.confirmByPlatform (row 5's SDK side)
//
// Not part of `pnpm bench` (about a minute a side): `pnpm cache [side …]`. Needs valgrind.
import * as Client from "@witkey/core/Client"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as SigningString from "@witkey/core/SigningString"
import * as Transport from "@witkey/core/Transport"
import { HttpTransport } from "@witkey/node-http"
import { Context, Effect, Either, Exit, Layer, Schedule, Scope } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as crypto from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as Http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { dsaSign, gatewayPublicKey, PARTNER, partnerPrivateKey, signer, verifier } from "./src/Inputs.js"
import { drive, nodeArguments, startChild } from "./src/Load.js"

const SIDES = ["baseline", "floor", "modules", "sdk"] as const
type Side = (typeof SIDES)[number]
const TASK = "bench-task-e2e"
const IN_FLIGHT = Number(process.env["WITKEY_CACHE_IN_FLIGHT"] ?? 1)
const WARMUP = 3000
const COUNT = 1000
const out = (line: string) => process.stdout.write(`${line}\n`)

/** In the measured process: run one side, counting only the measured payouts. */
const measure = async (side: Side): Promise<void> => {
  const server = await startChild<{ readonly http: string }>(
    new URL("./src/servers/FixedAnswerProcess.ts", import.meta.url),
    [TASK]
  )
  const scope = Effect.runSync(Scope.make())
  try {
    const services = await Effect.runPromise(Layer.buildWithScope(HttpTransport.layerNode(), scope))
    const transport = Context.get(services, Transport.Transport)
    const gateway = `${server.info.http}/gateway.do`
    const client = Client.fromServices(
      { partner: PARTNER, gateway, retry: Schedule.stop },
      { signer, verifier, transport }
    )
    const input = { outerTaskId: TASK, transfers: ["s-1", "s-2"] }
    const prepared = await Effect.runPromise(client.prepare(input))
    const canonical = Buffer.from(prepared.canonical, "utf8")
    const answerBytes = SigningString.bytes([["outer_task_id", TASK]], "utf-8")
    const answerSign = Buffer.from(dsaSign(answerBytes), "base64")
    const agent = new Http.Agent({ keepAlive: true, timeout: 4000 })

    const get = (done: (error: Error | undefined) => void) => {
      const req = Http.request(prepared.url, { agent }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => done(Buffer.concat(chunks).length > 0 ? undefined : new Error("empty answer")))
      })
      req.on("error", done)
      req.end()
    }
    const sign = () =>
      crypto.sign("sha1", canonical, { key: partnerPrivateKey, dsaEncoding: "der" }).toString("base64")
    const verify = () => {
      if (!crypto.verify("sha1", answerBytes, { key: gatewayPublicKey, dsaEncoding: "der" }, answerSign))
        throw new Error("the answer does not verify")
    }
    const operations: Record<Side, () => Promise<unknown>> = {
      baseline: () => {
        sign()
        return new Promise<void>((resolve, reject) =>
          get((error) => (error === undefined ? resolve(verify()) : reject(error)))
        )
      },
      floor: () =>
        Effect.runPromise(
          Effect.suspend(() => {
            sign()
            return Effect.map(
              Effect.async<void, Error>((resume) =>
                get((error) => resume(error === undefined ? Effect.void : Effect.fail(error)))
              ),
              verify
            )
          })
        ),
      modules: () =>
        Effect.runPromise(
          Effect.suspend((): Effect.Effect<unknown, unknown> => {
            const request = ConfirmRequest.validate(
              { ...input, partner: PARTNER },
              { defaultCharset: "utf-8" }
            )
            if (Either.isLeft(request)) return Effect.fail(request.left)
            return SignedRequest.makeWith(signer, request.right, { gateway }).pipe(
              Effect.flatMap((signed) => transport.get(signed.url)),
              Effect.flatMap((answer) => GatewayResponse.decodeWith(verifier, answer, "utf-8"))
            )
          })
        ),
      sdk: () => Effect.runPromise(client.confirmByPlatform(input))
    }
    const operation = operations[side]
    await drive({ count: WARMUP }, IN_FLIGHT, () => operation().then(() => undefined))
    execFileSync("callgrind_control", ["-i", "on", String(process.pid)], { stdio: "ignore" })
    await drive({ count: COUNT }, IN_FLIGHT, () => operation().then(() => undefined))
    execFileSync("callgrind_control", ["-i", "off", String(process.pid)], { stdio: "ignore" })
    agent.destroy()
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.stop()
  }
}

/** In the driving process: each side under callgrind, then one table of counts per payout. */
const countSides = async (sides: ReadonlyArray<Side>): Promise<void> => {
  const directory = mkdtempSync(join(tmpdir(), "witkey-cache-"))
  try {
    out(
      `row 5 in counts: client process, ${IN_FLIGHT} in flight, keep-alive HTTP, ${COUNT} payouts after ${WARMUP}`
    )
    out("| side | instructions | L1i misses | L1d read misses | L1d write misses | LL misses |")
    out("|---|--:|--:|--:|--:|--:|")
    for (const side of sides) {
      const file = join(directory, `${side}.out`)
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(
          "valgrind",
          [
            "--tool=callgrind",
            "-q",
            "--cache-sim=yes",
            "--instr-atstart=no",
            `--callgrind-out-file=${file}`,
            process.execPath,
            ...nodeArguments(new URL(import.meta.url.replace(/\.js$/, ".ts"))),
            side
          ],
          { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, WITKEY_CACHE_SIDE: side } }
        )
        child.once("error", reject)
        child.once("exit", resolve)
      })
      if (code !== 0) throw new Error(`${side}: valgrind exited with ${code}`)
      const text = readFileSync(file, "utf8")
      const events = /^events: (.*)$/m.exec(text)?.[1]?.split(" ") ?? []
      const totals = (/^totals: (.*)$/m.exec(text)?.[1]?.split(" ") ?? []).map(Number)
      const per = (name: string) => {
        const at = events.indexOf(name)
        return at < 0 ? Number.NaN : totals[at]! / COUNT
      }
      const k = (n: number) => `${(n / 1000).toFixed(1)}k`
      out(
        `| ${side} | ${k(per("Ir"))} | ${k(per("I1mr"))} | ${k(per("D1mr"))} | ${k(per("D1mw"))} | ${(per("ILmr") + per("DLmr") + per("DLmw")).toFixed(0)} |`
      )
    }
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

const named = process.env["WITKEY_CACHE_SIDE"]
if (named !== undefined) await measure(named as Side)
else {
  const asked = process.argv.slice(2)
  const unknown = asked.filter((side) => !(SIDES as ReadonlyArray<string>).includes(side))
  if (unknown.length > 0) {
    process.stderr.write(`witkey bench: unknown side ${unknown.join(", ")} (of ${SIDES.join(", ")})\n`)
    process.exit(2)
  }
  await countSides(asked.length > 0 ? (asked as ReadonlyArray<Side>) : SIDES)
}
