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
// Synchronous, as crypto-dsa's Signer is (`Signer.makeSync`): the path row 1 takes.
const sdkOnly = clientWith(Signer.makeSync(() => fixedSign))
const whole = clientWith(signer)

const loop = <A, E>(effect: Effect.Effect<A, E, never>) =>
  Effect.gen(function* () {
    for (let i = 0; i < PER_CALL; i++) yield* effect
  })

const sdkLoop = loop(sdkOnly.prepare(input))
const wholeLoop = loop(whole.prepare(input))
const signerLoop = loop(signer.sign(bytes))

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
  for (let pass = 0; pass < 15; pass++)
    for (const [name, run, ops] of cases) {
      const calls = name.startsWith("Client.prepare, fixed") ? 500 : 25
      best.set(name, Math.min(best.get(name) ?? Infinity, cpuPerOp(run, ops, calls)))
    }
  for (const [name, micros] of best)
    process.stdout.write(`${name.padEnd(46)} ${micros.toFixed(2).padStart(8)} µs CPU\n`)
  const overhead =
    best.get("Client.prepare with DsaSigner (row 1 side)")! - best.get("bare crypto.sign (row 1 baseline)")!
  process.stdout.write(
    `row 1 side minus baseline: ${overhead.toFixed(2)} µs; ratio from CPU: ${(best.get("bare crypto.sign (row 1 baseline)")! / best.get("Client.prepare with DsaSigner (row 1 side)")!).toFixed(3)}\n`
  )
}
