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
import { GATEWAY, partnerPrivateKey, requestInput, runSync } from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

export const build = (input: ReturnType<typeof requestInput>) =>
  Effect.gen(function* () {
    const request = yield* ConfirmRequest.validate(input)
    return yield* SignedRequest.make(request, { gateway: GATEWAY })
  })

export const run = async (): Promise<Row> => {
  const input = requestInput()
  const program = build(input)
  const request = Either.getOrThrow(ConfirmRequest.validate(input))
  const bytes = SigningString.bytes(ConfirmRequest.toParams(request), request.charset)
  const signed = runSync(program)
  if (signed.canonical !== new TextDecoder().decode(bytes))
    throw new Error("row 1: the sides sign different bytes")
  const result = await compare(
    { name: "sdk", run: () => runSync(program) },
    {
      name: "bare",
      run: () => crypto.sign("sha1", bytes, { key: partnerPrivateKey, dsaEncoding: "der" })
    }
  )
  return {
    id: "1",
    sdk: "request build: validate + SignedRequest.make (crypto-dsa)",
    baseline: "crypto.sign sha1/DSA, same bytes",
    result,
    target: 0.9
  }
}
