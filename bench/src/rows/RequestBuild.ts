/**
 * Row 1: a signed request built through the path users call, `Client.prepare` (the input read, validated,
 * the canonical string, encoded, signed with the crypto-dsa Signer, the URL, and its span when a tracer is
 * installed), every request validated inside the timed loop as an application does, against the one operation
 * it cannot avoid: a bare `crypto.sign` of the same canonical bytes with a cached KeyObject.
 */
import * as Client from "@witkey/core/Client"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as SigningString from "@witkey/core/SigningString"
import * as Transport from "@witkey/core/Transport"
import { Effect, Either } from "effect"
import * as crypto from "node:crypto"
import {
  bareSide,
  GATEWAY,
  PARTNER,
  partnerPrivateKey,
  requestInput,
  runSync,
  sdkSide,
  signer,
  verifier
} from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"

/** A transport the row never reaches: `prepare` sends nothing. */
const unused = Transport.make(() => Effect.dieMessage("row 1 sends nothing"))

/** The client an application builds once, from its layers. */
export const client = Client.fromServices(
  { partner: PARTNER, gateway: GATEWAY },
  { signer, verifier, transport: unused }
)

/** One request as the application hands it over: `prepare` reads and validates it on every call. */
export const build = (input: ReturnType<typeof requestInput>) => client.prepare(input)

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
    sdk: "request build: Client.prepare (validate, sign, URL; crypto-dsa)",
    baseline: "crypto.sign sha1/DSA, same bytes",
    result,
    target: 0.9
  }
}
