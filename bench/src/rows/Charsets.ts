/**
 * Row 6: what GBK costs, on inputs with Chinese text. (6a) A GBK request built per request as an application
 * builds it (`ConfirmRequest.validate` of the input, then `SignedRequest.make`) against a bare `crypto.sign`
 * of the same GBK canonical bytes; (6b) a GBK notification decode against the same notification in UTF-8;
 * (6c) the 6a request in GBK against the same request in UTF-8, both validated per request (information).
 */
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as Notification from "@witkey/core/Notification"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as SigningString from "@witkey/core/SigningString"
import { Effect, Either } from "effect"
import * as crypto from "node:crypto"
import {
  bareSide,
  CHINESE_TASK_ID,
  GATEWAY,
  notification,
  partnerPrivateKey,
  requestInput,
  runSync,
  sdkSide
} from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

/**
 * Validation inside the timed effect: `Effect.suspend` runs `validate` each time the effect runs, as an
 * application validates each payout it is handed (as row 1 does through `Client.prepare`, since issue 17).
 */
const buildPerRequest = (input: ReturnType<typeof requestInput>) =>
  Effect.suspend(() =>
    Effect.flatMap(ConfirmRequest.validate(input), (request) =>
      SignedRequest.make(request, { gateway: GATEWAY })
    )
  )

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const gbkInput = requestInput("gbk", CHINESE_TASK_ID)
  const gbkBuild = buildPerRequest(gbkInput)
  const utf8Build = buildPerRequest(requestInput("utf-8", CHINESE_TASK_ID))
  const request = Either.getOrThrow(ConfirmRequest.validate(gbkInput))
  const bytes = Either.getOrThrow(SigningString.encode(ConfirmRequest.toParams(request), "gbk"))
  // The sides sign the same bytes: the SDK's signature verifies over the baseline's bytes.
  const signed = runSync(gbkBuild)
  if (
    !crypto.verify(
      "sha1",
      bytes,
      { key: crypto.createPublicKey(partnerPrivateKey), dsaEncoding: "der" },
      Buffer.from(signed.sign, "base64")
    )
  )
    throw new Error("row 6a: the sides sign different bytes")
  const gbkVsSign = await compare(
    sdkSide("sdk", gbkBuild),
    bareSide("bare", () => crypto.sign("sha1", bytes, { key: partnerPrivateKey, dsaEncoding: "der" })),
    // As rows 1 and 8: a gap of a few microseconds on a noisy ~90 µs signature.
    { rounds: 11 }
  )
  const decode = (charset: "gbk" | "utf-8") => {
    const n = notification(7, charset, CHINESE_TASK_ID)
    // The receiver is configured with the charset: the Content-Type's label alone would be refused.
    return Notification.decode({ body: n.body, contentType: n.contentType }, { charset })
  }
  const notify = await compare(sdkSide("sdk", decode("gbk")), sdkSide("bare", decode("utf-8")))
  const gbkVsUtf8 = await compare(sdkSide("sdk", gbkBuild), sdkSide("bare", utf8Build))
  return [
    {
      id: "6a",
      sdk: "request build, GBK, Chinese task id, validated per request",
      baseline: "crypto.sign sha1/DSA, same GBK bytes",
      result: gbkVsSign,
      target: 0.85
    },
    {
      id: "6b",
      sdk: "notification decode, GBK, Chinese text",
      baseline: "the same notification in UTF-8",
      result: notify,
      target: 0.95
    },
    {
      id: "6c",
      sdk: "request build, GBK, Chinese task id, validated per request",
      baseline: "the same request in UTF-8",
      result: gbkVsUtf8
    }
  ]
}
