/**
 * Row 3: a notification decoded and verified (Notification.decode with the crypto-dsa Verifier) against (3)
 * the bare minimum a hand-written receiver does: split the form, `crypto.verify` the canonical string, parse
 * the `xml` field with fast-xml-parser; and (3b) the floor: one bare `crypto.verify` of the same canonical
 * bytes alone, signature already in DER.
 */
import * as Notification from "@witkey/core/Notification"
import { XMLParser } from "fast-xml-parser"
import * as crypto from "node:crypto"
import { bareSide, gatewayPublicKey, notification, sdkSide } from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

const parser = new XMLParser({ parseTagValue: false })

const formValue = (s: string) => decodeURIComponent(s.replace(/\+/g, " "))

/** The form of a utf-8 notification: its canonical bytes and its signature, as a bare receiver reads them. */
export const bareCanonical = (body: Uint8Array) => {
  const fields = new Map<string, string>()
  for (const part of Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    .toString("latin1")
    .split("&")) {
    const eq = part.indexOf("=")
    fields.set(formValue(part.slice(0, eq)), formValue(part.slice(eq + 1)))
  }
  const canonical = [...fields]
    .filter(([name, value]) => name !== "sign" && name !== "sign_type" && value !== "")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&")
  return {
    fields,
    bytes: Buffer.from(canonical, "utf8"),
    signature: Buffer.from(fields.get("sign")!, "base64")
  }
}

/** The bare baseline: what a hand-written receiver does at the least (utf-8 only). */
export const bareDecode = (body: Uint8Array, key: crypto.KeyObject = gatewayPublicKey) => {
  const { bytes, fields, signature } = bareCanonical(body)
  const ok = crypto.verify("sha1", bytes, { key, dsaEncoding: "der" }, signature)
  if (!ok) throw new Error("bare notification decode: signature does not verify")
  return { notifyId: fields.get("notify_id"), payload: parser.parse(fields.get("xml")!) }
}

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const n = notification(1)
  const program = Notification.decode({ body: n.body, contentType: n.contentType })
  const result = await compare(
    sdkSide("sdk", program),
    bareSide("bare", () => bareDecode(n.body))
  )
  // 3b: the canonical bytes and the DER signature taken out of the body once, before timing.
  const { bytes, signature } = bareCanonical(n.body)
  const verifyOnly = () => {
    if (!crypto.verify("sha1", bytes, { key: gatewayPublicKey, dsaEncoding: "der" }, signature))
      throw new Error("row 3b baseline: signature does not verify")
  }
  const floor = await compare(sdkSide("sdk", program), bareSide("bare", verifyOnly))
  return [
    {
      id: "3",
      sdk: "notification: Notification.decode (crypto-dsa)",
      baseline: "form split + crypto.verify + fast-xml-parser",
      result,
      target: 0.85
    },
    {
      id: "3b",
      sdk: "notification: Notification.decode (crypto-dsa)",
      baseline: "crypto.verify alone, same canonical bytes",
      result: floor,
      target: 0.8
    }
  ]
}
