/**
 * Row 2: a gateway answer decoded and verified (GatewayResponse.decode with the crypto-dsa Verifier) against
 * a bare fast-xml-parser parse of the same body plus a bare `crypto.verify` of the signed leaf.
 */
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import { XMLParser } from "fast-xml-parser"
import * as crypto from "node:crypto"
import { bareSide, gatewayPublicKey, responseBody, sdkSide } from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

export const run = async (): Promise<Row> => {
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
  return {
    id: "2",
    sdk: "response: GatewayResponse.decode (crypto-dsa)",
    baseline: "crypto.verify + fast-xml-parser parse",
    result,
    target: 0.85
  }
}
