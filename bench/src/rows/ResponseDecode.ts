/**
 * Row 2: a gateway answer decoded and verified (GatewayResponse.decode with the crypto-dsa Verifier) against
 * (2) a bare fast-xml-parser parse of the same body plus a bare `crypto.verify` of the signed leaf, and (2b)
 * the floor: one bare `crypto.verify` of the same signed bytes alone, signature already in DER, nothing
 * parsed. Everything the SDK does beside the verification (size bound, charset, XML, schema, Effect) is what
 * 2b's gap shows.
 */
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import { XMLParser } from "fast-xml-parser"
import * as crypto from "node:crypto"
import { bareSide, gatewayPublicKey, responseBody, runSync, sdkSide } from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const body = responseBody()
  const answer = { body, contentType: "text/xml; charset=utf-8" }
  const program = GatewayResponse.decode(answer, "utf-8")
  const parser = new XMLParser({ parseTagValue: false })
  const bare = () => {
    const doc = parser.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"))
    const alipay = doc.alipay
    const ok = crypto.verify(
      "sha1",
      Buffer.from(`outer_task_id=${alipay.response.task_info.outer_task_id}`, "utf8"),
      { key: gatewayPublicKey, dsaEncoding: "der" },
      Buffer.from(alipay.sign, "base64")
    )
    if (!ok) throw new Error("row 2 baseline: signature does not verify")
    return alipay.response.task_info.outer_task_id
  }
  const result = await compare(sdkSide("sdk", program), bareSide("bare", bare))

  // 2b: the signed bytes and the DER signature taken out of the body once, before timing.
  const doc = parser.parse(Buffer.from(body).toString("utf8")).alipay
  const signed = runSync(program).signed
  const bytes = Buffer.from(`outer_task_id=${signed["outer_task_id"]}`, "utf8")
  const der = Buffer.from(doc.sign, "base64")
  const verifyOnly = () => {
    if (!crypto.verify("sha1", bytes, { key: gatewayPublicKey, dsaEncoding: "der" }, der))
      throw new Error("row 2b baseline: signature does not verify")
  }
  const floor = await compare(sdkSide("sdk", program), bareSide("bare", verifyOnly))
  return [
    {
      id: "2",
      sdk: "response: GatewayResponse.decode (crypto-dsa)",
      baseline: "crypto.verify + fast-xml-parser parse",
      result,
      target: 0.85
    },
    {
      id: "2b",
      sdk: "response: GatewayResponse.decode (crypto-dsa)",
      baseline: "crypto.verify alone, same signed bytes",
      result: floor,
      target: 0.8
    }
  ]
}
