// Row 5 in counts, not time (issue 17, BENCHMARKS.md "eleventh pass"): instructions and simulated L1/LL cache
// misses per payout, for the client process only, under `valgrind --tool=callgrind --cache-sim=yes`. Counts move
// far less than time with the machine's load (which moves row 5's ratios by a tenth from run to run), though the
// collector's and compiler's threads still make them differ a little between runs. Each side runs in a process of
// its own against the row's fixed-answer server, at WITKEY_CACHE_IN_FLIGHT in flight (default 1), keep-alive
// HTTP; WARMUP payouts first, then only the COUNT measured ones are counted (`callgrind_control -i`, which needs
// ptrace: where it is denied, the toggle can hang).
//
//   baseline  crypto.sign, a bare node:http GET of the pre-signed URL, crypto.verify (row 5's baseline)
//   floor     the same inside one Effect fiber per payout: the floor of any Effect SDK
//   prepare   the floor with Client.prepare in place of crypto.sign
//   decode    the floor with GatewayResponse.decodeWith (of the row's answer bytes, made once) in
//             place of crypto.verify
//   modules   the SDK's modules composed by hand in one fiber: ConfirmRequest.validate, SignedRequest.makeWith
//             (the signer's Effect, where Client calls it synchronously), HttpTransport's get,
//             GatewayResponse.decodeWith; no Client, no retry loop, no status or task-id check
//   sdk       Client.confirmByPlatform (row 5's SDK side)
//
// Not part of `pnpm bench` (about a minute a side): `pnpm cache [side …]`. Needs valgrind.
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as SignedRequest from "@witkey/core/SignedRequest"
import { Effect, Either } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PARTNER, signer, verifier } from "./src/Inputs.js"
import { drive, nodeArguments } from "./src/Load.js"
import { payoutSetup } from "./src/PayoutSetup.js"

const SIDES = ["baseline", "floor", "prepare", "decode", "modules", "sdk"] as const
type Side = (typeof SIDES)[number]
const isSide = (name: string): name is Side => (SIDES as ReadonlyArray<string>).includes(name)
const IN_FLIGHT = Number(process.env["WITKEY_CACHE_IN_FLIGHT"] ?? 1)
if (!Number.isInteger(IN_FLIGHT) || IN_FLIGHT < 1) {
  process.stderr.write("witkey bench: WITKEY_CACHE_IN_FLIGHT must be a positive integer\n")
  process.exit(2)
}
const WARMUP = 3000
const COUNT = 1000
const out = (line: string) => process.stdout.write(`${line}\n`)

/** In the measured process: run one side, counting only the measured payouts. */
const measure = async (side: Side): Promise<void> => {
  const setup = await payoutSetup()
  try {
    const { answer, bareGet, client, gateway, get, input, sign, transport, verify } = setup
    // The floor's GET: node:http's callback resuming the fiber, nothing else.
    const fiberGet = Effect.async<void, Error>((resume) =>
      get((error) => resume(error === undefined ? Effect.void : Effect.fail(error)))
    )
    const operations: Record<Side, () => Promise<unknown>> = {
      baseline: () => (sign(), bareGet().then(verify)),
      floor: () => Effect.runPromise(Effect.suspend(() => (sign(), Effect.map(fiberGet, verify)))),
      prepare: () =>
        Effect.runPromise(Effect.flatMap(client.prepare(input), () => Effect.map(fiberGet, verify))),
      decode: () =>
        Effect.runPromise(
          Effect.suspend(
            () => (
              sign(),
              Effect.flatMap(fiberGet, () => GatewayResponse.decodeWith(verifier, answer, "utf-8"))
            )
          )
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
              Effect.flatMap((raw) => GatewayResponse.decodeWith(verifier, raw, "utf-8"))
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
  } finally {
    await setup.close()
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
            // `nodeArguments` takes the source's `.ts` URL (and runs its compiled `.js` when this one is compiled).
            ...nodeArguments(new URL(import.meta.url.replace(/\.js$/, ".ts")))
          ],
          { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, WITKEY_CACHE_SIDE: side } }
        )
        // A signal to this process (run.mjs forwards SIGTERM and SIGINT) stops the measured one too.
        const forward = (signal: NodeJS.Signals) => child.kill(signal)
        process.on("SIGTERM", forward).on("SIGINT", forward)
        child.once("error", reject)
        child.once("exit", (exitCode, signal) => {
          process.off("SIGTERM", forward).off("SIGINT", forward)
          resolve(signal === null ? exitCode : 128)
        })
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

// Set only by this file for its measured processes.
const named = process.env["WITKEY_CACHE_SIDE"]
if (named !== undefined) {
  if (!isSide(named)) throw new Error(`unknown side ${named}`)
  await measure(named)
} else {
  const asked = process.argv.slice(2)
  const unknown = asked.filter((side) => !isSide(side))
  if (unknown.length > 0) {
    process.stderr.write(`witkey bench: unknown side ${unknown.join(", ")} (of ${SIDES.join(", ")})\n`)
    process.exit(2)
  }
  await countSides(asked.length > 0 ? (asked as ReadonlyArray<Side>) : SIDES)
}
