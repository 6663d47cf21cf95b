// Where the time of rows 1 and 3 goes: each step on its own, best of many short runs (the least disturbed
// by other load). Not part of `pnpm bench`; run it with `pnpm --filter @witkey/bench breakdown`.
// Each step runs alone and warm: run next to the provider call, the same JavaScript costs more (caches), so the
// steps do not add up to the whole.
import * as Charset from "@witkey/core/Charset"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as Notification from "@witkey/core/Notification"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import * as Verifier from "@witkey/core/Verifier"
import { Effect, Either, Tracer } from "effect"
import * as crypto from "node:crypto"
import {
  dsaSign,
  GATEWAY,
  gatewayPublicKey,
  notification,
  partnerPrivateKey,
  requestInput,
  runSync,
  bareSide,
  sdkSide,
  signer,
  verifier
} from "./src/Inputs.js"
import { compare } from "./src/Measure.js"
import { bareDecode } from "./src/rows/NotificationDecode.js"
import { build } from "./src/rows/RequestBuild.js"

const input = requestInput()
const request = Either.getOrThrow(ConfirmRequest.validate(input))
const params = ConfirmRequest.toParams(request)
const canonical = SigningString.make(params)
const bytes = Charset.encode(canonical, "utf-8")
const sign = dsaSign(bytes, partnerPrivateKey)
const gatewaySign = dsaSign(bytes)
const query = [...SigningString.signedPairs(params), ["sign", sign] as const, ["sign_type", "DSA"] as const]
const noSigner = Signer.make(() => Effect.succeed(sign))
const n = notification(1)
const fakeVerifier = Verifier.make(() => Effect.succeed(true))
// Row 1's SDK side: `Client.prepare`, validating on every call.
const program = build(input)
// The same two steps without the client: validate, then `SignedRequest.make`, composed with flatMap.
const bare2 = Effect.suspend(() =>
  Effect.flatMap(ConfirmRequest.validate(input), (validated) =>
    SignedRequest.make(validated, { gateway: GATEWAY })
  )
)
// Effect's default tracer, and a tracer that is not it (the same one wrapped): what a span costs when made.
const native = Effect.runSync(Effect.tracer)
const installed = Tracer.make({ span: (...args) => native.span(...args), context: native.context })
// The same work inside one running fiber, as in a server: no runtime entry per operation.
const batch20 = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* program
})

const steps: ReadonlyArray<readonly [string, () => unknown]> = [
  [
    "row 1  bare crypto.sign",
    () => crypto.sign("sha1", bytes, { key: partnerPrivateKey, dsaEncoding: "der" })
  ],
  ["row 1  DsaSigner.sign (runSync)", () => Effect.runSync(signer.sign(bytes))],
  ["row 1  ConfirmRequest.validate", () => ConfirmRequest.validate(input)],
  ["row 1  toParams + canonical string", () => SigningString.make(ConfirmRequest.toParams(request))],
  ["row 1  Charset.encode", () => Charset.encode(canonical, "utf-8")],
  ["row 1  SignedRequest.toQuery (URL)", () => SignedRequest.toQuery(query, "utf-8")],
  ["row 1  Effect.withSpan(void) (runSync)", () => Effect.runSync(Effect.withSpan(Effect.void, "x"))],
  ["row 1  Effect.runSync(void)", () => Effect.runSync(Effect.void)],
  [
    "row 1  Effect.provideService (runSync)",
    () =>
      Effect.runSync(
        Effect.provideService(
          Effect.sync(() => 1),
          Signer.Signer,
          noSigner
        )
      )
  ],
  [
    "row 1  SignedRequest.make, signing skipped",
    () => Effect.runSync(SignedRequest.makeWith(noSigner, request, { gateway: GATEWAY }))
  ],
  ["row 1  whole SDK side (Client.prepare)", () => runSync(program)],
  ["row 1  Client.prepare, a tracer installed", () => runSync(Effect.withTracer(program, installed))],
  ["row 1  validate + SignedRequest.make (flatMap)", () => runSync(bare2)],
  ["row 1  whole SDK side, 20 per runSync (per op)", () => runSync(batch20)],
  [
    "row 3  bare crypto.verify",
    () =>
      crypto.verify(
        "sha1",
        Buffer.from(bytes),
        { key: gatewayPublicKey, dsaEncoding: "der" },
        Buffer.from(gatewaySign, "base64")
      )
  ],
  [
    "row 3  Notification.decode, verify skipped",
    () => Effect.runSync(Notification.decodeWith(fakeVerifier, { body: n.body, contentType: n.contentType }))
  ],
  [
    "row 3  whole SDK side",
    () => Effect.runSync(Notification.decodeWith(verifier, { body: n.body, contentType: n.contentType }))
  ],
  ["row 3  whole baseline", () => bareDecode(n.body)]
]

const best = new Map<string, number>()
for (let round = 0; round < 40; round++)
  for (const [name, step] of steps) {
    const calls = name.includes("20 per runSync") ? 1 : 20
    const start = performance.now()
    for (let i = 0; i < calls; i++) step()
    const micros = ((performance.now() - start) * 1000) / calls / (name.includes("20 per runSync") ? 20 : 1)
    best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, micros))
  }
for (const [name, micros] of best)
  process.stdout.write(`${name.padEnd(44)} ${micros.toFixed(1).padStart(7)} µs\n`)

// Next to the signature, as row 1 measures (20 per runtime entry, alternating slices): what the SDK side adds
// over bare `crypto.sign`, composed as the row composes it (flatMap) and with `Effect.gen`.
const bareSign = bareSide("bare", () =>
  crypto.sign("sha1", bytes, { key: partnerPrivateKey, dsaEncoding: "der" })
)
const generated = Effect.suspend(() =>
  Effect.gen(function* () {
    const validated = yield* ConfirmRequest.validate(input)
    return yield* SignedRequest.make(validated, { gateway: GATEWAY })
  })
)
for (const [name, effect] of [
  ["row 1  in situ: Client.prepare (the row)", program],
  ["row 1  in situ: Client.prepare, a tracer installed", Effect.withTracer(program, installed)],
  ["row 1  in situ: validate + make, flatMap", bare2],
  ["row 1  in situ: validate + make, Effect.gen", generated]
] as const) {
  const result = await compare(sdkSide(name, effect), bareSign, { rounds: 11 })
  const added = 1e6 / result.sdk - 1e6 / result.baseline
  process.stdout.write(
    `${name.padEnd(52)} +${added.toFixed(1)} µs over bare (ratio ${result.ratio.toFixed(3)})\n`
  )
}
