import { Buffer } from "node:buffer"
import { createPrivateKey, createPublicKey, sign } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Verifier } from "@witkey/core/Verifier"
import { DsaVerifier } from "@witkey/crypto-dsa"
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as F from "./Fixtures.js"

const verifierFor = (pem: string) => DsaVerifier.make({ publicKey: Redacted.make(pem) })

const seed = F.vectors.dsa.find((v) => v.name === "openssl-signed-seed-sample")!
const seedMessage = F.hex(seed.message_hex)

describe("DsaVerifier against the shared vectors", () => {
  for (const vector of F.vectors.dsa) {
    it.effect(`${vector.name}: ${vector.valid}`, () =>
      Effect.gen(function* () {
        const verifier = yield* verifierFor(F.publicKeys[vector.key])
        assert.strictEqual(yield* verifier.verify(F.hex(vector.message_hex), vector.sign), vector.valid)
      })
    )
  }

  it.effect("the vectors verify with the one-line and DER forms of the key too", () =>
    Effect.gen(function* () {
      const oneLine = yield* verifierFor(F.oneLine(F.partnerPublicPem))
      const der = yield* DsaVerifier.make({
        publicKey: Redacted.make<Uint8Array>(
          createPublicKey(F.partnerPublicPem).export({ format: "der", type: "spki" })
        )
      })
      assert.isTrue(yield* oneLine.verify(seedMessage, seed.sign))
      assert.isTrue(yield* der.verify(seedMessage, seed.sign))
    })
  )
})

describe("DsaVerifier answers false for anything but the canonical signature", () => {
  const der = Buffer.from(seed.sign, "base64")
  const p1363 = sign("sha1", seedMessage, {
    key: createPrivateKey(F.partnerPrivatePem),
    dsaEncoding: "ieee-p1363"
  }).toString("base64")
  // The seed signature has 47 bytes, so its last Base64 group ends in "k64=" with 2 unused bits in "4".
  const nonCanonical = seed.sign.replace(/4=$/, "5=")
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["empty", ""],
    ["trailing newline", `${seed.sign}\n`],
    ["trailing CRLF", `${seed.sign}\r\n`],
    ["leading space", ` ${seed.sign}`],
    ["a space inside", `${seed.sign.slice(0, 20)} ${seed.sign.slice(20)}`],
    ["padding removed", seed.sign.replace(/=+$/, "")],
    ["non-canonical pad bits", nonCanonical],
    ["IEEE-P1363 r || s", p1363],
    ["a trailing zero byte", Buffer.concat([der, Buffer.from([0])]).toString("base64")],
    [
      "a long-form length",
      Buffer.concat([Buffer.from([0x30, 0x81, der[1]!]), der.subarray(2)]).toString("base64")
    ],
    ["truncated", der.subarray(0, der.length - 1).toString("base64")],
    ["doubled", seed.sign + seed.sign],
    ["Base64 of the Base64", Buffer.from(seed.sign).toString("base64")],
    ["hex", der.toString("hex")],
    ["huge", "A".repeat(1_000_000)]
  ]

  it.effect("the untouched signature is valid (control)", () =>
    Effect.gen(function* () {
      const verifier = yield* verifierFor(F.partnerPublicPem)
      assert.isTrue(yield* verifier.verify(seedMessage, seed.sign))
      assert.notStrictEqual(nonCanonical, seed.sign)
      assert.deepStrictEqual(Buffer.from(nonCanonical, "base64"), der)
    })
  )

  for (const [name, signature] of cases) {
    it.effect(name, () =>
      Effect.gen(function* () {
        const verifier = yield* verifierFor(F.partnerPublicPem)
        assert.isFalse(yield* verifier.verify(seedMessage, signature))
      })
    )
  }

  it.effect("URL-safe alphabet", () =>
    Effect.gen(function* () {
      // This vector's signature has both "+" and "/".
      const vector = F.vectors.dsa.find((v) => v.name === "openssl-signed-sign-excluded")!
      const urlSafe = vector.sign.replace(/\+/g, "-").replace(/\//g, "_")
      const verifier = yield* verifierFor(F.partnerPublicPem)
      assert.isTrue(yield* verifier.verify(F.hex(vector.message_hex), vector.sign))
      assert.notStrictEqual(urlSafe, vector.sign)
      assert.isFalse(yield* verifier.verify(F.hex(vector.message_hex), urlSafe))
    })
  )

  it.effect("a non-string signature or message from untyped callers is false, not a crash", () =>
    Effect.gen(function* () {
      const verifier = yield* verifierFor(F.partnerPublicPem)
      assert.isFalse(yield* verifier.verify(seedMessage, undefined as unknown as string))
      assert.isFalse(yield* verifier.verify(seedMessage, 42 as unknown as string))
      assert.isFalse(yield* verifier.verify("text" as unknown as Uint8Array, seed.sign))
    })
  )
})

describe("DsaVerifier construction", () => {
  it.effect("refuses a private key (wrong_kind) and other bad keys", () =>
    Effect.gen(function* () {
      const wrongKind = yield* Effect.flip(verifierFor(F.partnerPrivatePem))
      assert.strictEqual(wrongKind.reason, "wrong_kind")
      assert.strictEqual((yield* Effect.flip(verifierFor(F.q256PublicPem))).reason, "q_not_160")
      assert.strictEqual((yield* Effect.flip(verifierFor("garbage"))).reason, "malformed")
    })
  )

  it.effect("layer provides core's Verifier tag", () =>
    Effect.gen(function* () {
      const verifier = yield* Verifier
      assert.strictEqual(verifier.signType, "DSA")
      assert.isTrue(yield* verifier.verify(seedMessage, seed.sign))
    }).pipe(Effect.provide(DsaVerifier.layer({ publicKey: F.partnerPublic })))
  )
})

describe("DsaVerifier.layerConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "witkey-dsa-verifier-"))
  const datPath = join(dir, "alipay.dat")
  writeFileSync(datPath, F.oneLine(F.partnerPublicPem))

  const withEnv = (env: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  const check = Effect.gen(function* () {
    return yield* (yield* Verifier).verify(seedMessage, seed.sign)
  })

  for (const [name, value] of [
    ["PEM", F.partnerPublicPem],
    ["one-line Base64", F.oneLine(F.partnerPublicPem)],
    ["a file path", datPath]
  ] as const) {
    it.effect(`reads WITKEY_ALIPAY_PUBLIC_KEY as ${name}`, () =>
      Effect.gen(function* () {
        assert.isTrue(yield* check)
      }).pipe(
        Effect.provide(
          DsaVerifier.layerConfig().pipe(Layer.provide(withEnv({ [DsaVerifier.DEFAULT_CONFIG_NAME]: value })))
        )
      )
    )
  }

  it.effect("an unset setting is a KeyError with reason missing that names it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Layer.build(DsaVerifier.layerConfig().pipe(Layer.provide(withEnv({}))))
      )
      assert.strictEqual(error._tag, "KeyError")
      assert.isTrue(error._tag === "KeyError" && error.reason === "missing")
      assert.include(error.message, "WITKEY_ALIPAY_PUBLIC_KEY")
      assert.include(error.message, "Alipay public key")
    }).pipe(Effect.scoped)
  )
})
