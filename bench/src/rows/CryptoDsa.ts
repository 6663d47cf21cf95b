/**
 * Row 8: `@witkey/crypto-dsa` on its own: its Signer and Verifier against bare `crypto.sign` / `crypto.verify`
 * with a cached KeyObject, on the same canonical bytes. What the adapter adds: the Effect wrapper, Base64, and
 * on verify the strict Base64 and DER checks.
 */
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as SigningString from "@witkey/core/SigningString"
import { Effect, Either } from "effect"
import * as crypto from "node:crypto"
import {
  bareSide,
  dsaSign,
  gatewayPublicKey,
  partnerPrivateKey,
  requestInput,
  sdkSide,
  signer,
  verifier
} from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const request = Either.getOrThrow(ConfirmRequest.validate(requestInput()))
  const bytes = SigningString.bytes(ConfirmRequest.toParams(request), "utf-8")
  // The gap measured here is about a microsecond on ~70-90 µs operations, while DSA's random k spreads single
  // slices by several percent: more rounds, so the median settles.
  const options = { rounds: 11 }
  const sign = await compare(
    sdkSide("sdk", signer.sign(bytes)),
    bareSide("bare", () =>
      crypto.sign("sha1", bytes, { key: partnerPrivateKey, dsaEncoding: "der" }).toString("base64")
    ),
    options
  )
  const signature = dsaSign(bytes)
  if (!Effect.runSync(verifier.verify(bytes, signature)))
    throw new Error("row 8: the signature does not verify")
  const verify = await compare(
    sdkSide("sdk", verifier.verify(bytes, signature)),
    // The baseline decodes the same Base64 text: the wire carries text, not DER.
    bareSide("bare", () =>
      crypto.verify(
        "sha1",
        bytes,
        { key: gatewayPublicKey, dsaEncoding: "der" },
        Buffer.from(signature, "base64")
      )
    ),
    options
  )
  return [
    {
      id: "8a",
      sdk: "crypto-dsa DsaSigner.sign",
      baseline: "crypto.sign sha1/DSA + Base64",
      result: sign,
      target: 0.95
    },
    {
      id: "8b",
      sdk: "crypto-dsa DsaVerifier.verify",
      baseline: "crypto.verify sha1/DSA from Base64",
      result: verify,
      target: 0.95
    }
  ]
}
