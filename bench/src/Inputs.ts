/**
 * What every row works on: the fixture keys (read by path relative to this file), one payout request, one
 * signed gateway answer, signed notifications, and the services of `@witkey/crypto-dsa` built once.
 */
import * as Charset from "@witkey/core/Charset"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import * as Verifier from "@witkey/core/Verifier"
import { DsaSigner, DsaVerifier } from "@witkey/crypto-dsa"
import { Effect, Redacted, Runtime } from "effect"
import * as crypto from "node:crypto"
import { readFileSync } from "node:fs"

const keysDir = new URL("../../fixtures/vectors/keys/", import.meta.url)

export const pem = (
  name: "partner_private" | "partner_public" | "gateway_private" | "gateway_public"
): string => readFileSync(new URL(`${name}_key.pem`, keysDir), "utf8")

/** Cached KeyObjects: what the bare baselines use. */
export const partnerPrivateKey = crypto.createPrivateKey(pem("partner_private"))
export const partnerPublicKey = crypto.createPublicKey(pem("partner_public"))
export const gatewayPrivateKey = crypto.createPrivateKey(pem("gateway_private"))
export const gatewayPublicKey = crypto.createPublicKey(pem("gateway_public"))

/** The SDK's own services, from `@witkey/crypto-dsa`. */
export const signer: Signer.Signer = Effect.runSync(
  DsaSigner.make({ privateKey: Redacted.make(pem("partner_private")) })
)
export const verifier: Verifier.Verifier = Effect.runSync(
  DsaVerifier.make({ publicKey: Redacted.make(pem("gateway_public")) })
)

/**
 * Runs an effect with the services above in its context, provided once, as an application does when it
 * builds its runtime from layers. Providing a service per call (`Effect.provideService`) costs about 4 µs in
 * Effect 3, which is not a cost a running server pays.
 */
export const runSync: <A, E>(effect: Effect.Effect<A, E, Signer.Signer | Verifier.Verifier>) => A =
  Runtime.runSync(
    Runtime.defaultRuntime.pipe(
      Runtime.provideService(Signer.Signer, signer),
      Runtime.provideService(Verifier.Verifier, verifier)
    )
  )

/**
 * How many operations one timed call runs. An application runs the SDK inside fibers that are already running
 * (a payout job, a request handler), not one runtime entry per operation: each SDK side runs its operation
 * this many times inside one fiber, and each baseline calls its bare operation this many times. What entering
 * the runtime costs per call (about a microsecond alone, more next to OpenSSL) is in `breakdown.ts`.
 */
export const PER_CALL = 20

/** An SDK side for `Measure.compare`: `effect` `PER_CALL` times inside one fiber of the runtime above. */
export const sdkSide = <A, E>(
  name: string,
  effect: Effect.Effect<A, E, Signer.Signer | Verifier.Verifier>
): { readonly name: string; readonly run: () => unknown; readonly opsPerCall: number } => {
  const loop = Effect.gen(function* () {
    for (let i = 0; i < PER_CALL; i++) yield* effect
  })
  return { name, run: () => runSync(loop), opsPerCall: PER_CALL }
}

/** A baseline side for `Measure.compare`: `operation` called `PER_CALL` times. */
export const bareSide = (
  name: string,
  operation: () => unknown
): { readonly name: string; readonly run: () => unknown; readonly opsPerCall: number } => ({
  name,
  run: () => {
    let last: unknown
    for (let i = 0; i < PER_CALL; i++) last = operation()
    return last
  },
  opsPerCall: PER_CALL
})

export const PARTNER = "2088101012352995"
export const GATEWAY = "http://127.0.0.1:8080/gateway.do"

/** A typical payout: three winners and a notify_url. */
export const requestInput = (charset: Charset.Charset = "utf-8", outerTaskId = "wf301111010000977") => ({
  partner: PARTNER,
  outerTaskId,
  transfers: ["89944ID1", "89944ID2", "89944ID3"],
  notifyUrl: "https://platform.example/alipay/notify",
  charset
})

/** The same request with Chinese text in its task id (GBK vs UTF-8 row). */
export const CHINESE_TASK_ID = "悬赏任务-设计大赛-第42期"

export const dsaSign = (bytes: Uint8Array, key: crypto.KeyObject = gatewayPrivateKey): string =>
  crypto.sign("sha1", bytes, { key, dsaEncoding: "der" }).toString("base64")

/** A successful gateway answer to `outerTaskId`, signed with the gateway key as PROTOCOL.md §4 says. */
export const responseBody = (
  outerTaskId = "wf301111010000977",
  charset: Charset.Charset = "utf-8"
): Uint8Array => {
  const sign = dsaSign(SigningString.bytes([["outer_task_id", outerTaskId]], charset))
  const xml =
    `<?xml version="1.0" encoding="${charset}"?><alipay><is_success>T</is_success><request>` +
    `<param name="service">alipay.witkey.task.confirm.by.platform</param><param name="partner">${PARTNER}</param>` +
    `<param name="_input_charset">${charset}</param></request><response><task_info><outer_task_id>${outerTaskId}` +
    `</outer_task_id></task_info></response><sign>${sign}</sign><sign_type>DSA</sign_type></alipay>`
  return Charset.encode(xml, charset)
}

const formEncode = (text: string, charset: Charset.Charset): string => {
  let out = ""
  for (const byte of Charset.encode(text, charset)) {
    const plain =
      (byte >= 0x30 && byte <= 0x39) ||
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2d ||
      byte === 0x2e ||
      byte === 0x5f
    out += plain
      ? String.fromCharCode(byte)
      : byte === 0x20
        ? "+"
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
  }
  return out
}

export interface SignedNotification {
  readonly body: Uint8Array
  readonly contentType: string
  readonly charset: Charset.Charset
  readonly notifyId: string
}

/** One ASSIGN notification (PROTOCOL.md §6), unique by `i`, form-encoded and signed with the gateway key. */
export const notification = (
  i: number,
  charset: Charset.Charset = "utf-8",
  outerTaskId = `bench-task-${i}`
): SignedNotification => {
  const xml =
    `<?xml version="1.0" encoding="${charset}"?><notify><notify_sub_type>ASSIGN_FOR_ANNOUNCE_PAYMENT` +
    `</notify_sub_type><outer_task_id>${outerTaskId}</outer_task_id><outer_transfer_no>s-${i}</outer_transfer_no>` +
    `<transfer_amount>120.00</transfer_amount><payee_user_id>2088102122524333</payee_user_id>` +
    `<gmt_transfer>20261125103000</gmt_transfer></notify>`
  const notifyId = `n-${i.toString().padStart(8, "0")}`
  const fields: Array<readonly [string, string]> = [
    ["notify_id", notifyId],
    ["notify_time", "2026-11-25 10:30:00"],
    ["xml", xml]
  ]
  const sign = dsaSign(SigningString.bytes(fields, charset))
  const all = [...fields, ["sign", sign] as const, ["sign_type", "DSA"] as const]
  const body = new TextEncoder().encode(all.map(([n, v]) => `${n}=${formEncode(v, charset)}`).join("&"))
  return {
    body,
    contentType: `application/x-www-form-urlencoded; text/html; charset=${charset}`,
    charset,
    notifyId
  }
}
