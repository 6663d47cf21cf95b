// Where the time of rows 2, 3 and 6 goes, in processor time (robust on a shared machine): (1) the SDK's own
// work per operation with the signature check or signature taken out (a verifier or signer that answers at
// once), 20 per runtime entry as the rows run; (2) rows 2b, 3b, 6a and 6b again as processor-time ratios,
// alternating batches, with the ratio of the best batches (the least disturbed) beside the median.
// `pnpm --filter @witkey/bench decode`. Not part of `pnpm bench`.
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as Notification from "@witkey/core/Notification"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import * as Verifier from "@witkey/core/Verifier"
import { Effect, Either, Runtime } from "effect"
import * as crypto from "node:crypto"
import * as os from "node:os"
import {
  bareSide,
  CHINESE_TASK_ID,
  GATEWAY,
  gatewayPublicKey,
  notification,
  partnerPrivateKey,
  requestInput,
  responseBody,
  runSync,
  sdkSide
} from "./src/Inputs.js"
import { bareCanonical } from "./src/rows/NotificationDecode.js"

const cpu = (f: () => unknown, calls: number, perCall: number) => {
  const start = process.cpuUsage()
  for (let i = 0; i < calls; i++) f()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / calls / perCall
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

process.stdout.write(`load average ${os.loadavg()[0]!.toFixed(2)}\n`)

// (1) The SDK's own work, verification and signing answered at once.
const instant = Verifier.make(() => Effect.succeed(true))
const noSigner = Signer.make(() =>
  Effect.succeed("MC0CFQCQ8Yg2uJf5eBtrVhNpvH3Zb8TAuQIUQk1ToCe0e8zw1xDBlqoeuBZv1s8=")
)
const runInstant = Runtime.runSync(
  Runtime.defaultRuntime.pipe(
    Runtime.provideService(Verifier.Verifier, instant),
    Runtime.provideService(Signer.Signer, noSigner)
  )
)
const twenty = <A, E>(effect: Effect.Effect<A, E, Verifier.Verifier | Signer.Signer>) => {
  const loop = Effect.gen(function* () {
    for (let i = 0; i < 20; i++) yield* effect
  })
  return () => runInstant(loop)
}
const built = (input: ReturnType<typeof requestInput>) =>
  Effect.suspend(() =>
    Effect.flatMap(ConfirmRequest.validate(input), (r) => SignedRequest.make(r, { gateway: GATEWAY }))
  )
const n1 = notification(1)
const ngbk = notification(7, "gbk", CHINESE_TASK_ID)
const nutf8 = notification(7, "utf-8", CHINESE_TASK_ID)
const body = responseBody()
const response = GatewayResponse.decode({ body, contentType: "text/xml; charset=utf-8" }, "utf-8")
const own: ReadonlyArray<readonly [string, () => unknown]> = [
  ["row 2  GatewayResponse.decode, verify answered at once", twenty(response)],
  ["row 3  Notification.decode, verify answered at once", twenty(Notification.decode(n1))],
  [
    "row 6b Notification.decode GBK, verify answered at once",
    twenty(Notification.decode(ngbk, { charset: "gbk" }))
  ],
  ["row 6b the same in UTF-8", twenty(Notification.decode(nutf8, { charset: "utf-8" }))],
  [
    "row 6a validate + make GBK, signing answered at once",
    twenty(built(requestInput("gbk", CHINESE_TASK_ID)))
  ],
  ["row 1  validate + make UTF-8, signing answered at once", twenty(built(requestInput()))]
]
const best = new Map<string, number>()
for (let round = 0; round < 60; round++)
  for (const [name, run] of own) best.set(name, Math.min(best.get(name) ?? Infinity, cpu(run, 10, 20)))
for (const [name, micros] of best)
  process.stdout.write(`${name.padEnd(58)} ${micros.toFixed(1).padStart(6)} µs\n`)

// (2) The rows' ratios in processor time.
const signedLeaf = runSync(response).signed
const leafBytes = Buffer.from(SigningString.make(Object.entries(signedLeaf)), "utf8")
const leafSignature = Buffer.from(/<sign>([^<]*)<\/sign>/.exec(Buffer.from(body).toString())![1]!, "base64")
const form = bareCanonical(n1.body)
const gbkInput = requestInput("gbk", CHINESE_TASK_ID)
const gbkBytes = Either.getOrThrow(
  SigningString.encode(ConfirmRequest.toParams(Either.getOrThrow(ConfirmRequest.validate(gbkInput))), "gbk")
)
const verifyWith = (bytes: Uint8Array, signature: Uint8Array) => () => {
  if (!crypto.verify("sha1", bytes, { key: gatewayPublicKey, dsaEncoding: "der" }, signature))
    throw new Error("does not verify")
}
const rows: ReadonlyArray<readonly [string, { run: () => unknown }, { run: () => unknown }]> = [
  ["2b decode vs crypto.verify", sdkSide("s", response), bareSide("b", verifyWith(leafBytes, leafSignature))],
  [
    "3b decode vs crypto.verify",
    sdkSide("s", Notification.decode(n1)),
    bareSide("b", verifyWith(form.bytes, form.signature))
  ],
  [
    "6a GBK build vs crypto.sign",
    sdkSide("s", built(gbkInput)),
    bareSide("b", () => crypto.sign("sha1", gbkBytes, { key: partnerPrivateKey, dsaEncoding: "der" }))
  ],
  [
    "6b GBK vs UTF-8 decode",
    sdkSide("s", Notification.decode(ngbk, { charset: "gbk" })),
    sdkSide("b", Notification.decode(nutf8, { charset: "utf-8" }))
  ]
]
for (const [name, sdk, bare] of rows) {
  for (let i = 0; i < 20; i++) (sdk.run(), bare.run())
  const s: Array<number> = []
  const b: Array<number> = []
  for (let round = 0; round < 31; round++) {
    const first = round % 2 === 0 ? sdk : bare
    const second = first === sdk ? bare : sdk
    const x = cpu(first.run, 10, 20)
    const y = cpu(second.run, 10, 20)
    s.push(first === sdk ? x : y)
    b.push(first === sdk ? y : x)
  }
  const ratios = s.map((v, i) => b[i]! / v)
  process.stdout.write(
    `${name.padEnd(30)} processor-time ratio: median ${median(ratios).toFixed(2)}, best batches ${(Math.min(...b) / Math.min(...s)).toFixed(2)} (sdk ${Math.min(...s).toFixed(1)} µs, baseline ${Math.min(...b).toFixed(1)} µs)\n`
  )
}
process.stdout.write(`load average ${os.loadavg()[0]!.toFixed(2)}\n`)
