import { Buffer } from "node:buffer"
import { assert, describe, it } from "@effect/vitest"
import { DsaSigner, DsaVerifier } from "@witkey/crypto-dsa"
import { Effect, FastCheck } from "effect"
import * as Base64 from "../src/internal/Base64.js"
import * as DerSignature from "../src/internal/DerSignature.js"
import * as F from "./Fixtures.js"

// Built once, not in every run of every property: parsing the keys cost more than the signing.
const services = Effect.all({
  signer: DsaSigner.make({ privateKey: F.partnerPrivate }),
  verifier: DsaVerifier.make({ publicKey: F.partnerPublic })
}).pipe(Effect.cached, Effect.runSync)

/** r and s of a DER signature, each as 20 big-endian bytes: the IEEE-P1363 form of the same signature. */
const toP1363 = (der: Buffer): Buffer => {
  const rLength = der[3]!
  const r = der.subarray(4, 4 + rLength)
  const s = der.subarray(4 + rLength + 2)
  const pad = (n: Buffer) => Buffer.concat([Buffer.alloc(20), n]).subarray(-20)
  return Buffer.concat([pad(r), pad(s)])
}

const message = FastCheck.uint8Array({ maxLength: 512 })
const BASE64_ALPHABET = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"]
const whitespace = FastCheck.constantFrom(" ", "\n", "\r\n", "\t")

describe("DSA-specific properties", () => {
  it.effect.prop("every signature is canonical DER that the shape check accepts", [message], ([m]) =>
    Effect.gen(function* () {
      const { signer } = yield* services
      const signature = yield* signer.sign(m)
      const der = Base64.decodeStrict(signature)
      assert.isDefined(der)
      assert.isTrue(DerSignature.isWellFormed(der!))
    })
  )

  it.effect.prop("the IEEE-P1363 form of a valid signature is false", [message], ([m]) =>
    Effect.gen(function* () {
      const { signer, verifier } = yield* services
      const der = Buffer.from(yield* signer.sign(m), "base64")
      assert.isFalse(yield* verifier.verify(m, toP1363(der).toString("base64")))
    })
  )

  it.effect.prop(
    "whitespace anywhere in a valid signature makes it false",
    [message, FastCheck.nat(), whitespace],
    ([m, at, space]) =>
      Effect.gen(function* () {
        const { signer, verifier } = yield* services
        const signature = yield* signer.sign(m)
        const i = at % (signature.length + 1)
        assert.isFalse(yield* verifier.verify(m, signature.slice(0, i) + space + signature.slice(i)))
      })
  )

  it.effect.prop(
    "verify never fails and is false on arbitrary Unicode",
    [message, FastCheck.fullUnicodeString()],
    ([m, s]) =>
      Effect.gen(function* () {
        const { verifier } = yield* services
        assert.isFalse(yield* verifier.verify(m, s))
      })
  )
})

describe("strict Base64 and the DER shape check", () => {
  it.prop(
    "decodeStrict inverts canonical encoding",
    [FastCheck.uint8Array({ minLength: 1, maxLength: 64 })],
    ([bytes]) => {
      const text = Buffer.from(bytes).toString("base64")
      assert.deepStrictEqual(Base64.decodeStrict(text), Buffer.from(bytes))
      assert.isUndefined(Base64.decodeStrict(text.replace(/=+$/, "") + (text.endsWith("=") ? "" : "A")))
    }
  )

  it.prop(
    "decodeStrict accepts exactly the text that re-encodes to itself",
    [
      FastCheck.oneof(
        FastCheck.string({ unit: FastCheck.constantFrom(..."AIQYgow4+/=Zz09"), maxLength: 12 }),
        FastCheck.uint8Array({ minLength: 1, maxLength: 8 }).chain((bytes) => {
          const text = Buffer.from(bytes).toString("base64")
          // A canonical text with its last data character swapped: the pad bits may now be set.
          return FastCheck.constantFrom(...BASE64_ALPHABET).map((c) => {
            const at = text.replace(/=+$/, "").length - 1
            return text.slice(0, at) + c + text.slice(at + 1)
          })
        })
      )
    ],
    ([text]) => {
      const canonical =
        text.length > 0 &&
        /^[A-Za-z0-9+/]*={0,2}$/.test(text) &&
        text.length % 4 === 0 &&
        Buffer.from(text, "base64").toString("base64") === text
      const decoded = Base64.decodeStrict(text)
      assert.strictEqual(decoded !== undefined, canonical, JSON.stringify(text))
      if (decoded !== undefined) assert.strictEqual(decoded.toString("base64"), text)
    }
  )

  it.prop(
    "any minimally encoded positive r and s below 2^160 pass the shape check",
    [
      FastCheck.bigInt({ min: 1n, max: (1n << 160n) - 1n }),
      FastCheck.bigInt({ min: 1n, max: (1n << 160n) - 1n })
    ],
    ([r, s]) => {
      const integer = (n: bigint) => {
        let hex = n.toString(16)
        if (hex.length % 2 === 1) hex = `0${hex}`
        if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`
        const bytes = Buffer.from(hex, "hex")
        return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes])
      }
      const content = Buffer.concat([integer(r), integer(s)])
      const der = Buffer.concat([Buffer.from([0x30, content.length]), content])
      assert.isTrue(DerSignature.isWellFormed(der))
      // The same with a redundant leading zero, or a trailing byte, is refused.
      assert.isFalse(DerSignature.isWellFormed(Buffer.concat([der, Buffer.from([0])])))
      const padded = Buffer.concat([Buffer.from([0x02, content[1]! + 1, 0x00]), content.subarray(2)])
      const paddedDer = Buffer.concat([Buffer.from([0x30, padded.length]), padded])
      assert.isFalse(DerSignature.isWellFormed(paddedDer))
    }
  )
})
