/**
 * Row 4: the official `alipay-sdk` (v4), the package a platform would otherwise pick, doing the same two jobs
 * with its own algorithm (RSA2 = SHA-256 with RSA-2048): signing a request (`sdkExecute`) and checking a
 * notification (`checkNotifySignV2`). Each is measured against bare node:crypto doing its one RSA operation
 * with a cached KeyObject on the same string, so the ratio is the package's own overhead.
 */
import { AlipaySdk } from "alipay-sdk"
import * as crypto from "node:crypto"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }).toString()
const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString()

const sdk = new AlipaySdk({
  appId: "2021000000000000",
  privateKey: privatePem,
  keyType: "PKCS8",
  alipayPublicKey: publicPem,
  signType: "RSA2"
})

/** Comparable to our request: the same ids, as an openapi call's biz_content. */
const bizContent = {
  outTaskId: "wf301111010000977",
  transferDetail: "89944ID1~*~89944ID2~*~89944ID3",
  notifyUrl: "https://platform.example/alipay/notify"
}

/** The string `sdkExecute` signs: its parameters but `sign`, sorted, raw values. */
const signedString = (query: string): string => {
  const params = new URLSearchParams(query)
  params.delete("sign")
  return [...params]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&")
}

/** Our notification's fields, signed the way Alipay signs notifications: all but sign and sign_type. */
const notifyPost = (): Record<string, string> => {
  const xml =
    `<?xml version="1.0" encoding="utf-8"?><notify><notify_sub_type>ASSIGN_FOR_ANNOUNCE_PAYMENT</notify_sub_type>` +
    `<outer_task_id>bench-task-1</outer_task_id><outer_transfer_no>s-1</outer_transfer_no><transfer_amount>120.00` +
    `</transfer_amount><payee_user_id>2088102122524333</payee_user_id><gmt_transfer>20261125103000</gmt_transfer></notify>`
  const fields: Record<string, string> = { notify_id: "n-00000001", notify_time: "2026-11-25 10:30:00", xml }
  const content = Object.keys(fields)
    .sort()
    .map((k) => `${k}=${fields[k]}`)
    .join("&")
  const sign = crypto.sign("RSA-SHA256", Buffer.from(content, "utf8"), privateKey).toString("base64")
  return { ...fields, sign, sign_type: "RSA2" }
}

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const method = "alipay.fund.trans.uni.transfer"
  const sample = signedString(sdk.sdkExecute(method, { bizContent }))
  const sign = await compare(
    { name: "sdk", run: () => sdk.sdkExecute(method, { bizContent }) },
    {
      name: "bare",
      run: () => crypto.sign("RSA-SHA256", Buffer.from(sample, "utf8"), privateKey).toString("base64")
    }
  )
  const post = notifyPost()
  if (!sdk.checkNotifySignV2(post))
    throw new Error("row 4: alipay-sdk refuses a correctly signed notification")
  const content = `notify_id=${post["notify_id"]}&notify_time=${post["notify_time"]}&xml=${post["xml"]}`
  const check = await compare(
    { name: "sdk", run: () => sdk.checkNotifySignV2(post) },
    {
      name: "bare",
      run: () =>
        crypto.verify(
          "RSA-SHA256",
          Buffer.from(content, "utf8"),
          publicKey,
          Buffer.from(post["sign"]!, "base64")
        )
    }
  )
  return [
    {
      id: "4a",
      sdk: "alipay-sdk 4.14 sdkExecute (RSA2 sign)",
      baseline: "crypto.sign RSA-SHA256, same string",
      result: sign
    },
    {
      id: "4b",
      sdk: "alipay-sdk 4.14 checkNotifySignV2 (RSA2)",
      baseline: "crypto.verify RSA-SHA256, same string",
      result: check
    }
  ]
}
