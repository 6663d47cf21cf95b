import { Buffer } from "node:buffer"
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { DsaKey, KeyError } from "@witkey/crypto-dsa"
import { Effect, Redacted } from "effect"
import * as F from "./Fixtures.js"

const privateDer = createPrivateKey(F.partnerPrivatePem).export({ format: "der", type: "pkcs8" })
const publicDer = createPublicKey(F.partnerPublicPem).export({ format: "der", type: "spki" })

/** A slice from the middle of the private key's body: no message or rendering may ever contain it. */
const secretChunk = F.oneLine(F.partnerPrivatePem).slice(100, 132)

const expectKeyError = <A>(effect: Effect.Effect<A, KeyError.KeyError>, reason: KeyError.Reason) =>
  Effect.gen(function* () {
    const error = yield* Effect.flip(effect)
    assert.strictEqual(error._tag, "KeyError")
    assert.strictEqual(error.reason, reason, error.message)
    assert.isFalse(error.message.includes(secretChunk))
    return error
  })

const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 })
const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" })
const ed = generateKeyPairSync("ed25519")

describe("DsaKey.inspect accepts every form of a DSA 1024/160 key", () => {
  const cases: ReadonlyArray<readonly [string, DsaKey.KeyInput, DsaKey.KeyKind, DsaKey.KeyFormat]> = [
    ["PKCS#8 PEM", F.partnerPrivatePem, "private", "pem-pkcs8"],
    ["PKCS#8 PEM with CRLF", F.partnerPrivatePem.replace(/\n/g, "\r\n"), "private", "pem-pkcs8"],
    [
      "PKCS#8 PEM with literal \\n escapes",
      F.partnerPrivatePem.replace(/\n/g, "\\n"),
      "private",
      "pem-pkcs8"
    ],
    ["PKCS#8 PEM on one line with spaces", F.partnerPrivatePem.replace(/\n/g, " "), "private", "pem-pkcs8"],
    ["PKCS#8 PEM with a BOM and blank lines", `\uFEFF\n\n${F.partnerPrivatePem}\n\n`, "private", "pem-pkcs8"],
    ["PKCS#8 PEM bytes", Buffer.from(F.partnerPrivatePem), "private", "pem-pkcs8"],
    ["PKCS#8 Base64 on one line", F.oneLine(F.partnerPrivatePem), "private", "base64-pkcs8"],
    [
      "PKCS#8 Base64 body with its line breaks",
      F.partnerPrivatePem.replace(/-----[A-Z ]+-----/g, ""),
      "private",
      "base64-pkcs8"
    ],
    ["PKCS#8 DER bytes", new Uint8Array(privateDer), "private", "der-pkcs8"],
    ["legacy DSA PRIVATE KEY PEM", F.partnerTraditionalPem, "private", "pem-traditional"],
    ["SPKI PEM", F.partnerPublicPem, "public", "pem-spki"],
    ["SPKI Base64 on one line", F.oneLine(F.partnerPublicPem), "public", "base64-spki"],
    ["SPKI Base64 bytes", Buffer.from(F.oneLine(F.partnerPublicPem)), "public", "base64-spki"],
    ["SPKI DER bytes", publicDer, "public", "der-spki"],
    ["SPKI PEM after other text", `Alipay public key:\n${F.partnerPublicPem}`, "public", "pem-spki"]
  ]
  for (const [name, input, kind, format] of cases) {
    it.effect(name, () =>
      Effect.gen(function* () {
        const description = yield* DsaKey.inspect(Redacted.make(input))
        assert.deepStrictEqual(
          { ...description, fingerprint: "" },
          { kind, format, type: "dsa", modulusBits: 1024, divisorBits: 160, fingerprint: "" }
        )
      })
    )
  }

  it.effect("DSA PARAMETERS before the key are ignored", () =>
    Effect.gen(function* () {
      const params = "-----BEGIN DSA PARAMETERS-----\nAAAA\n-----END DSA PARAMETERS-----\n"
      const description = yield* DsaKey.inspect(Redacted.make(params + F.partnerTraditionalPem))
      assert.strictEqual(description.format, "pem-traditional")
    })
  )

  it.effect("a private key and its public key share a fingerprint; another key does not", () =>
    Effect.gen(function* () {
      const privateKey = yield* DsaKey.inspect(Redacted.make(F.partnerPrivatePem))
      const publicKey = yield* DsaKey.inspect(F.partnerPublicPem)
      const other = yield* DsaKey.inspect(F.otherPublicPem)
      assert.match(privateKey.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/)
      assert.strictEqual(privateKey.fingerprint, publicKey.fingerprint)
      assert.notStrictEqual(privateKey.fingerprint, other.fingerprint)
    })
  )
})

describe("DsaKey.parsePrivateKey / parsePublicKey", () => {
  it.effect("return KeyObjects of the right kind", () =>
    Effect.gen(function* () {
      const privateKey = yield* DsaKey.parsePrivateKey(F.partnerPrivate)
      const publicKey = yield* DsaKey.parsePublicKey(F.partnerPublic)
      assert.strictEqual(privateKey.type, "private")
      assert.strictEqual(publicKey.type, "public")
      assert.strictEqual(privateKey.asymmetricKeyType, "dsa")
    })
  )

  it.effect("a public key where a private key is needed is wrong_kind", () =>
    Effect.gen(function* () {
      for (const input of [F.partnerPublicPem, F.oneLine(F.partnerPublicPem), publicDer]) {
        const error = yield* expectKeyError(DsaKey.parsePrivateKey(Redacted.make(input)), "wrong_kind")
        assert.include(error.message, "found a DSA public key")
        assert.include(error.message, "expected a private key")
      }
    })
  )

  it.effect("a private key where a public key is needed is wrong_kind", () =>
    Effect.gen(function* () {
      for (const input of [F.partnerPrivatePem, F.oneLine(F.partnerPrivatePem), privateDer]) {
        const error = yield* expectKeyError(DsaKey.parsePublicKey(Redacted.make(input)), "wrong_kind")
        assert.include(error.message, "found a DSA private key")
        assert.include(error.message, "expected a public key")
      }
    })
  )

  it.effect("other algorithms are unsupported_type, naming what was found", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [DsaKey.KeyInput, string]> = [
        [rsa.privateKey.export({ format: "pem", type: "pkcs8" }), "RSA private key (1024-bit modulus)"],
        [rsa.privateKey.export({ format: "pem", type: "pkcs1" }), "RSA private key"],
        [rsa.privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"), "RSA private key"],
        [rsa.privateKey.export({ format: "der", type: "pkcs1" }), "RSA private key"],
        [rsa.publicKey.export({ format: "pem", type: "spki" }), "RSA public key"],
        [rsa.publicKey.export({ format: "der", type: "pkcs1" }).toString("base64"), "RSA public key"],
        [ec.privateKey.export({ format: "pem", type: "pkcs8" }), "EC private key (curve prime256v1)"],
        [ec.privateKey.export({ format: "pem", type: "sec1" }), "EC private key"],
        [ec.privateKey.export({ format: "der", type: "sec1" }), "EC private key (curve prime256v1)"],
        [ed.privateKey.export({ format: "pem", type: "pkcs8" }), "Ed25519 private key"],
        [ed.publicKey.export({ format: "der", type: "spki" }).toString("base64"), "Ed25519 public key"]
      ]
      for (const [input, found] of cases) {
        const error = yield* expectKeyError(DsaKey.inspect(Redacted.make(input)), "unsupported_type")
        assert.include(error.message, found)
        assert.include(error.message, "expected a DSA key")
        yield* expectKeyError(DsaKey.parsePrivateKey(Redacted.make(input)), "unsupported_type")
        yield* expectKeyError(DsaKey.parsePublicKey(Redacted.make(input)), "unsupported_type")
      }
    })
  )

  it.effect("a DSA key whose q is not 160 bits is q_not_160, with its sizes", () =>
    Effect.gen(function* () {
      for (const pem of [F.q256PrivatePem, F.q256PublicPem]) {
        const error = yield* expectKeyError(DsaKey.inspect(Redacted.make(pem)), "q_not_160")
        assert.include(error.message, "2048-bit p")
        assert.include(error.message, "256-bit q")
        assert.include(error.message, "160-bit q")
      }
      yield* expectKeyError(DsaKey.parsePrivateKey(Redacted.make(F.q256PrivatePem)), "q_not_160")
      yield* expectKeyError(DsaKey.parsePublicKey(F.q256PublicPem), "q_not_160")
    })
  )

  it.effect("encrypted keys are refused as encrypted", () =>
    Effect.gen(function* () {
      const key = createPrivateKey(F.partnerPrivatePem)
      const encrypted = { cipher: "aes-128-cbc", passphrase: "pw" } as const
      const legacy = F.partnerTraditionalPem.replace(
        "-----BEGIN DSA PRIVATE KEY-----\n",
        "-----BEGIN DSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n"
      )
      for (const input of [
        key.export({ format: "pem", type: "pkcs8", ...encrypted }),
        key.export({ format: "der", type: "pkcs8", ...encrypted }),
        key.export({ format: "der", type: "pkcs8", ...encrypted }).toString("base64"),
        legacy
      ]) {
        const error = yield* expectKeyError(DsaKey.parsePrivateKey(Redacted.make(input)), "encrypted")
        assert.include(error.message, "passphrase")
      }
    })
  )

  it.effect("empty input is missing", () =>
    Effect.gen(function* () {
      for (const input of ["", "  \n\t", new Uint8Array(0), "\uFEFF"]) {
        yield* expectKeyError(DsaKey.parsePrivateKey(Redacted.make<DsaKey.KeyInput>(input)), "missing")
      }
    })
  )

  it.effect("broken PEM, Base64 or DER is malformed, and says what it is", () =>
    Effect.gen(function* () {
      const body = F.oneLine(F.partnerPrivatePem)
      const lines = F.partnerPrivatePem.split("\n")
      const cases: ReadonlyArray<readonly [DsaKey.KeyInput, string]> = [
        [lines.slice(0, 4).join("\n"), "no matching END line"],
        [
          F.partnerPrivatePem.replace("-----END PRIVATE KEY-----", "-----END PUBLIC KEY-----"),
          "no matching END"
        ],
        [F.partnerPrivatePem.replace(lines[2]!, lines[2]!.replace(/[A-Za-z]/, "!")), "Base64 body"],
        [F.partnerPrivatePem.replace(lines[2]!, ""), "not a PKCS#8 private key"],
        [F.partnerPrivatePem + F.partnerPublicPem, "expected exactly one key"],
        [body.slice(0, body.length - 4), "are not a PKCS#8 private key or a SubjectPublicKeyInfo public key"],
        [body.replace(/=+$/, ""), "nor valid padded Base64"],
        [body.replace(/\+/g, "-").replace(/\//g, "_"), "nor valid padded Base64"],
        [privateDer.subarray(0, 100), "DER are not"],
        [Uint8Array.from([0x30, 0x82, 0xff, 0xff, 0x00]), "DER are not"],
        ["hello world", "neither PEM"],
        ["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "openssl x509 -pubkey"],
        [
          "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
          "OPENSSH PRIVATE KEY"
        ],
        ["-----BEGIN DSA PARAMETERS-----\nAAAA\n-----END DSA PARAMETERS-----", "no key"]
      ]
      for (const [input, says] of cases) {
        const error = yield* expectKeyError(DsaKey.inspect(Redacted.make(input)), "malformed")
        assert.include(error.message, says)
      }
    })
  )

  it.effect("a value that is neither text nor bytes is malformed, not a crash", () =>
    Effect.gen(function* () {
      const notAKey = Redacted.make(42 as unknown as string)
      const error = yield* expectKeyError(DsaKey.inspect(notAKey), "malformed")
      assert.include(error.message, "number")
    })
  )
})

describe("DsaKey.publicKeyOneLine", () => {
  const expected = F.oneLine(F.partnerPublicPem)

  it.effect("is the Base64 body of the SPKI PEM, from any form of either half of the pair", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* DsaKey.publicKeyOneLine(F.partnerPublicPem), expected)
      assert.strictEqual(yield* DsaKey.publicKeyOneLine(publicDer), expected)
      assert.strictEqual(yield* DsaKey.publicKeyOneLine(F.partnerPrivate), expected)
      assert.strictEqual(yield* DsaKey.publicKeyOneLine(Redacted.make(F.partnerTraditionalPem)), expected)
      assert.strictEqual(
        yield* DsaKey.publicKeyOneLine(yield* DsaKey.parsePrivateKey(F.partnerPrivate)),
        expected
      )
      assert.strictEqual(yield* DsaKey.publicKeyOneLine(createPublicKey(F.partnerPublicPem)), expected)
      assert.notInclude(expected, "\n")
    })
  )

  it.effect("refuses keys that are not DSA 1024/160", () =>
    Effect.gen(function* () {
      yield* expectKeyError(DsaKey.publicKeyOneLine(rsa.publicKey), "unsupported_type")
      yield* expectKeyError(DsaKey.publicKeyOneLine(F.q256PublicPem), "q_not_160")
    })
  )
})

describe("DsaKey.load", () => {
  const dir = mkdtempSync(join(tmpdir(), "witkey-dsa-load-"))
  const pemPath = join(dir, "partner.pem")
  const derPath = join(dir, "partner.der")
  const datPath = join(dir, "partner.dat")
  writeFileSync(pemPath, F.partnerPrivatePem)
  writeFileSync(derPath, privateDer)
  writeFileSync(datPath, `${F.oneLine(F.partnerPublicPem)}\n`)

  it.effect("passes key text through untouched", () =>
    Effect.gen(function* () {
      for (const text of [F.partnerPrivatePem, F.oneLine(F.partnerPrivatePem)]) {
        const value = Redacted.make(text)
        assert.strictEqual(yield* DsaKey.load(value), value)
      }
    })
  )

  it.effect("reads a PEM, DER or one-line Base64 file given by path", () =>
    Effect.gen(function* () {
      const fromPem = yield* DsaKey.inspect(yield* DsaKey.load(Redacted.make(pemPath)))
      const fromDer = yield* DsaKey.inspect(yield* DsaKey.load(Redacted.make(`  ${derPath}\n`)))
      const fromDat = yield* DsaKey.inspect(yield* DsaKey.load(Redacted.make(datPath)))
      assert.strictEqual(fromPem.format, "pem-pkcs8")
      assert.strictEqual(fromDer.format, "der-pkcs8")
      assert.strictEqual(fromDat.format, "base64-spki")
      assert.strictEqual(fromPem.fingerprint, fromDat.fingerprint)
    })
  )

  it.effect("a value that is neither a key nor an existing file is malformed, and not echoed", () =>
    Effect.gen(function* () {
      const error = yield* expectKeyError(DsaKey.load(Redacted.make(join(dir, "nope.pem"))), "malformed")
      assert.notInclude(error.message, "nope")
      assert.include(error.message, "nor the path of an existing file")
      const short = yield* expectKeyError(DsaKey.load(Redacted.make(secretChunk)), "malformed")
      assert.notInclude(short.message, secretChunk)
    })
  )

  it.effect("a directory is unreadable_file, and names the path", () =>
    Effect.gen(function* () {
      const error = yield* expectKeyError(DsaKey.load(Redacted.make(dir)), "unreadable_file")
      assert.include(error.message, dir)
    })
  )

  it.effect("an empty value is missing", () => expectKeyError(DsaKey.load(Redacted.make(" ")), "missing"))
})
