// Where row 1's SDK microseconds go, in CPU time rather than wall clock (the machine is shared): `Client.prepare`
// with a signer that returns a fixed signature (the SDK's own work alone), the crypto-dsa signer alone, the
// whole row side and the bare `crypto.sign`. Each figure is the least CPU µs per operation over several
// passes, 20 operations per runtime entry as row 1 runs them. Not part of `pnpm bench`:
//
//   node run.mjs prepare-profile                      the table
//   node run.mjs --cpu-prof prepare-profile sdk-only  a long loop of the SDK's own work, for a CPU profile
import * as Client from "@witkey/core/Client"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import * as Transport from "@witkey/core/Transport"
import { Effect, Either } from "effect"
import * as crypto from "node:crypto"
import {
  GATEWAY,
  PARTNER,
  partnerPrivateKey,
  PER_CALL,
  requestInput,
  runSync,
  signer,
  verifier
} from "./src/Inputs.js"

const unused = Transport.make(() => Effect.dieMessage("prepare-profile sends nothing"))
const input = requestInput()
const request = Either.getOrThrow(ConfirmRequest.validate(input))
const bytes = SigningString.bytes(ConfirmRequest.toParams(request), request.charset)
const fixedSign = crypto
  .sign("sha1", bytes, { key: partnerPrivateKey, dsaEncoding: "der" })
  .toString("base64")

const clientWith = (s: Signer.Signer) =>
  Client.fromServices({ partner: PARTNER, gateway: GATEWAY }, { signer: s, verifier, transport: unused })
// Synchronous, as crypto-dsa's Signer is (`Signer.makeSync`), the path row 1 takes; on a core without
// `makeSync` (an older build, to compare with) the plain Signer.
const makeSync = (Signer as { readonly makeSync?: (sign: () => string) => Signer.Signer }).makeSync
const sdkOnly = clientWith(
  makeSync ? makeSync(() => fixedSign) : Signer.make(() => Effect.succeed(fixedSign))
)
const whole = clientWith(signer)

const loop = <A, E>(effect: Effect.Effect<A, E, never>) =>
  Effect.gen(function* () {
    for (let i = 0; i < PER_CALL; i++) yield* effect
  })

const sdkLoop = loop(sdkOnly.prepare(input))
const wholeLoop = loop(whole.prepare(input))
const signerLoop = loop(signer.sign(bytes))

const WHOLE = "Client.prepare with DsaSigner (row 1 side)"
const BARE = "bare crypto.sign (row 1 baseline)"
const cases: ReadonlyArray<readonly [string, () => unknown, number]> = [
  ["Client.prepare, fixed signature (SDK alone)", () => runSync(sdkLoop), PER_CALL],
  ["DsaSigner.sign alone", () => runSync(signerLoop), PER_CALL],
  ["Client.prepare with DsaSigner (row 1 side)", () => runSync(wholeLoop), PER_CALL],
  [
    "bare crypto.sign (row 1 baseline)",
    () => {
      for (let i = 0; i < PER_CALL; i++)
        crypto.sign("sha1", bytes, { key: partnerPrivateKey, dsaEncoding: "der" })
    },
    PER_CALL
  ]
]

/** CPU µs per operation of `calls` calls of `run` (user + system time of this process). */
const cpuPerOp = (run: () => unknown, ops: number, calls: number): number => {
  const start = process.cpuUsage()
  for (let i = 0; i < calls; i++) run()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / (calls * ops)
}

if (process.argv[2] === "sdk-only") {
  const end = Date.now() + 8000
  while (Date.now() < end) runSync(sdkLoop)
} else {
  const best = new Map<string, number>()
  // Row 1's two sides, pass by pass: the ratio of their CPU times, whose median is what row 1 measures in wall
  // clock time, without the time the process waited for a core.
  const ratios: Array<number> = []
  const passes = Number(process.env["PASSES"] ?? 31)
  for (let pass = 0; pass < passes; pass++) {
    const perPass = new Map<string, number>()
    for (const [name, run, ops] of pass % 2 === 0 ? cases : [...cases].reverse()) {
      const calls = name.startsWith("Client.prepare, fixed") ? 500 : 25
      const micros = cpuPerOp(run, ops, calls)
      perPass.set(name, micros)
      best.set(name, Math.min(best.get(name) ?? Infinity, micros))
    }
    ratios.push(perPass.get(BARE)! / perPass.get(WHOLE)!)
  }
  for (const [name, micros] of best)
    process.stdout.write(
      `${name.padEnd(46)} ${micros.toFixed(2).padStart(8)} µs CPU (least of ${passes} passes)\n`
    )
  ratios.sort((a, b) => a - b)
  const median = ratios[ratios.length >> 1]!
  process.stdout.write(
    `row 1 from CPU time: median ratio ${median.toFixed(3)} (quartiles ${ratios[ratios.length >> 2]!.toFixed(3)}–${ratios[(3 * ratios.length) >> 2]!.toFixed(3)}), ` +
      `least whole minus least bare ${(best.get(WHOLE)! - best.get(BARE)!).toFixed(2)} µs\n`
  )
}
