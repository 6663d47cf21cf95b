/**
 * Row 1: a signed request built end to end (validate, canonical string, encode, sign with the crypto-dsa
 * Signer, URL) against the one operation it cannot avoid: a bare `crypto.sign` of the same canonical bytes
 * with a cached KeyObject.
 */
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as SigningString from "@witkey/core/SigningString"
import { Effect, Either } from "effect"
import * as crypto from "node:crypto"
import { bareSide, GATEWAY, partnerPrivateKey, requestInput, runSync, sdkSide } from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

/**
 * The two SDK steps composed with `flatMap`. Written with `Effect.gen`, the same two steps cost the caller
 * about 3 µs more per request next to the signature (a generator per call; `breakdown.ts` shows it): that is
 * the composition's cost, in the caller's code, not the SDK's.
 */
export const build = (input: ReturnType<typeof requestInput>) =>
  Effect.flatMap(ConfirmRequest.validate(input), (request) =>
    SignedRequest.make(request, { gateway: GATEWAY })
  )

export const run = async (): Promise<Row> => {
  const input = requestInput()
  const program = build(input)
  const request = Either.getOrThrow(ConfirmRequest.validate(input))
  const bytes = SigningString.bytes(ConfirmRequest.toParams(request), request.charset)
  const signed = runSync(program)
  if (signed.canonical !== new TextDecoder().decode(bytes))
    throw new Error("row 1: the sides sign different bytes")
  const result = await compare(
    sdkSide("sdk", program),
    bareSide("bare", () => crypto.sign("sha1", bytes, { key: partnerPrivateKey, dsaEncoding: "der" })),
    // As row 8: the gap is a few microseconds on a ~90 µs operation whose random k spreads single slices by
    // several percent; more rounds, so the median settles.
    { rounds: 11 }
  )
  return {
    id: "1",
    sdk: "request build: validate + SignedRequest.make (crypto-dsa)",
    baseline: "crypto.sign sha1/DSA, same bytes",
    result,
    target: 0.9
  }
}
