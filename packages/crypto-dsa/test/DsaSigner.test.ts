import { Buffer } from "node:buffer"
import { execFileSync, spawnSync } from "node:child_process"
import { createPrivateKey } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Signer } from "@witkey/core/Signer"
import { DsaSigner, DsaVerifier } from "@witkey/crypto-dsa"
import { Config, ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as F from "./Fixtures.js"

const partnerSigner = DsaSigner.make({ privateKey: F.partnerPrivate })
const partnerVerifier = DsaVerifier.make({ publicKey: F.partnerPublic })
const otherVerifier = DsaVerifier.make({ publicKey: Redacted.make(F.otherPublicPem) })

describe("DsaSigner", () => {
  for (const canonical of F.vectors.canonical) {
    it.effect(
      `signs the canonical bytes of ${canonical.name} so that the partner public key verifies them`,
      () =>
        Effect.gen(function* () {
          const signer = yield* partnerSigner
          const bytes = F.hex(canonical.bytes_hex)
          const signature = yield* signer.sign(bytes)
          assert.isTrue(yield* (yield* partnerVerifier).verify(bytes, signature))
          assert.isFalse(yield* (yield* otherVerifier).verify(bytes, signature))
        })
    )
  }

  it.effect("makes a DER SEQUENCE{r, s} in padded Base64 of at most 48 bytes", () =>
    Effect.gen(function* () {
      const signer = yield* partnerSigner
      for (let i = 0; i < 20; i++) {
        const signature = yield* signer.sign(new TextEncoder().encode(`message ${i}`))
        const der = Buffer.from(signature, "base64")
        assert.strictEqual(der.toString("base64"), signature)
        assert.strictEqual(der[0], 0x30)
        assert.strictEqual(der[1], der.length - 2)
        assert.isAtMost(der.length, 48)
        assert.strictEqual(signature.length % 4, 0)
      }
    })
  )

  it.effect("accepts the key as one-line Base64, DER bytes, PEM bytes and legacy PEM", () =>
    Effect.gen(function* () {
      const message = new TextEncoder().encode("forms")
      const verifier = yield* partnerVerifier
      const forms: ReadonlyArray<string | Uint8Array> = [
        F.oneLine(F.partnerPrivatePem),
        createPrivateKey(F.partnerPrivatePem).export({ format: "der", type: "pkcs8" }),
        Buffer.from(F.partnerPrivatePem),
        F.partnerTraditionalPem
      ]
      for (const form of forms) {
        const signer = yield* DsaSigner.make({ privateKey: Redacted.make(form) })
        assert.isTrue(yield* verifier.verify(message, yield* signer.sign(message)))
      }
    })
  )

  it.effect("refuses keys it cannot sign with, at construction", () =>
    Effect.gen(function* () {
      const reasonOf = (pem: string) =>
        Effect.map(Effect.flip(DsaSigner.make({ privateKey: Redacted.make(pem) })), (e) => e.reason)
      assert.strictEqual(yield* reasonOf(F.partnerPublicPem), "wrong_kind")
      assert.strictEqual(yield* reasonOf(F.q256PrivatePem), "q_not_160")
      assert.strictEqual(yield* reasonOf(F.oneLine(F.partnerPrivatePem).slice(0, 300)), "malformed")
      assert.strictEqual(yield* reasonOf(""), "missing")
    })
  )

  it.effect("decodes the key once, when it is built: wiping the input afterwards changes nothing", () =>
    Effect.gen(function* () {
      const bytes = Buffer.from(F.partnerPrivatePem)
      const privateKey = Redacted.make<Uint8Array>(bytes)
      const signer = yield* DsaSigner.make({ privateKey })
      bytes.fill(0)
      Redacted.unsafeWipe(privateKey)
      const message = new TextEncoder().encode("after wipe")
      assert.isTrue(yield* (yield* partnerVerifier).verify(message, yield* signer.sign(message)))
    })
  )

  it.effect("layer provides core's Signer tag", () =>
    Effect.gen(function* () {
      const signer = yield* Signer
      assert.strictEqual(signer.signType, "DSA")
      const signature = yield* signer.sign(new Uint8Array([1, 2, 3]))
      assert.isTrue(yield* (yield* partnerVerifier).verify(new Uint8Array([1, 2, 3]), signature))
    }).pipe(Effect.provide(DsaSigner.layer({ privateKey: F.partnerPrivate })))
  )
})

describe("DsaSigner.layerConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "witkey-dsa-signer-"))
  const pemPath = join(dir, "partner.pem")
  writeFileSync(pemPath, F.partnerPrivatePem)

  const withEnv = (env: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  const roundTrip = Effect.gen(function* () {
    const message = new TextEncoder().encode("config")
    const signature = yield* (yield* Signer).sign(message)
    return yield* (yield* partnerVerifier).verify(message, signature)
  })

  for (const [name, value] of [
    ["PEM", F.partnerPrivatePem],
    ["PEM with literal \\n escapes", F.partnerPrivatePem.replace(/\n/g, "\\n")],
    ["one-line Base64", F.oneLine(F.partnerPrivatePem)],
    ["a file path", pemPath]
  ] as const) {
    it.effect(`reads WITKEY_PRIVATE_KEY as ${name}`, () =>
      Effect.gen(function* () {
        assert.isTrue(yield* roundTrip)
      }).pipe(
        Effect.provide(
          DsaSigner.layerConfig().pipe(Layer.provide(withEnv({ [DsaSigner.DEFAULT_CONFIG_NAME]: value })))
        )
      )
    )
  }

  it.effect("reads another setting when given one", () =>
    Effect.gen(function* () {
      assert.isTrue(yield* roundTrip)
    }).pipe(
      Effect.provide(
        DsaSigner.layerConfig(Config.redacted("PLATFORM_KEY")).pipe(
          Layer.provide(withEnv({ PLATFORM_KEY: F.partnerPrivatePem }))
        )
      )
    )
  )

  it.effect("unset and empty settings are KeyErrors with reason missing", () =>
    Effect.gen(function* () {
      const unset = yield* Effect.flip(Layer.build(DsaSigner.layerConfig().pipe(Layer.provide(withEnv({})))))
      assert.isTrue(unset._tag === "KeyError" && unset.reason === "missing")
      assert.include(unset.message, "WITKEY_PRIVATE_KEY")
      const empty = yield* Effect.flip(
        Layer.build(DsaSigner.layerConfig().pipe(Layer.provide(withEnv({ WITKEY_PRIVATE_KEY: "  " }))))
      )
      assert.isTrue(empty._tag === "KeyError" && empty.reason === "missing")
      assert.include(empty.message, "platform private key is empty")
    }).pipe(Effect.scoped)
  )
})

describe("interoperability with the OpenSSL CLI", () => {
  const withTempDir = <A>(f: (dir: string) => A) =>
    Effect.acquireUseRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "witkey-dsa-openssl-"))),
      (dir) => Effect.sync(() => f(dir)),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )

  it.effect.skipIf(!F.hasOpenssl)("openssl dgst -sha1 -verify accepts our signatures", () =>
    Effect.gen(function* () {
      const signer = yield* partnerSigner
      const messages = [...F.vectors.canonical.map((c) => F.hex(c.bytes_hex)), new Uint8Array(0)]
      for (const message of messages) {
        const signature = yield* signer.sign(message)
        const output = yield* withTempDir((dir) => {
          writeFileSync(join(dir, "pub.pem"), F.partnerPublicPem)
          writeFileSync(join(dir, "msg"), message)
          writeFileSync(join(dir, "sig.der"), Buffer.from(signature, "base64"))
          return execFileSync(
            "openssl",
            [
              "dgst",
              "-sha1",
              "-verify",
              join(dir, "pub.pem"),
              "-signature",
              join(dir, "sig.der"),
              join(dir, "msg")
            ],
            { encoding: "utf8" }
          )
        })
        assert.strictEqual(output.trim(), "Verified OK")
      }
    })
  )

  it.effect.skipIf(!F.hasOpenssl)("openssl dgst -sha1 -verify rejects our signature of another message", () =>
    Effect.gen(function* () {
      const signature = yield* (yield* partnerSigner).sign(new TextEncoder().encode("one"))
      const result = yield* withTempDir((dir) => {
        writeFileSync(join(dir, "pub.pem"), F.partnerPublicPem)
        writeFileSync(join(dir, "msg"), "two")
        writeFileSync(join(dir, "sig.der"), Buffer.from(signature, "base64"))
        return spawnSync(
          "openssl",
          [
            "dgst",
            "-sha1",
            "-verify",
            join(dir, "pub.pem"),
            "-signature",
            join(dir, "sig.der"),
            join(dir, "msg")
          ],
          { encoding: "utf8" }
        )
      })
      assert.notStrictEqual(result.status, 0)
      assert.include(result.stdout, "Verification failure")
    })
  )

  it.effect.skipIf(!F.hasOpenssl)("we verify what openssl dgst -sha1 -sign makes", () =>
    Effect.gen(function* () {
      const verifier = yield* partnerVerifier
      const message = new TextEncoder().encode("_input_charset=utf-8&outer_task_id=from-openssl")
      const signature = yield* withTempDir((dir) => {
        writeFileSync(join(dir, "msg"), message)
        execFileSync("openssl", [
          "dgst",
          "-sha1",
          "-sign",
          F.vectorKeyPath("partner_private_key.pem"),
          "-out",
          join(dir, "sig.der"),
          join(dir, "msg")
        ])
        return readFileSync(join(dir, "sig.der")).toString("base64")
      })
      assert.isTrue(yield* verifier.verify(message, signature))
    })
  )
})
