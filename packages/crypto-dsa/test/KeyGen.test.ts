import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { DsaKey, DsaSigner, DsaVerifier, KeyGen } from "@witkey/crypto-dsa"
import { Effect, Redacted } from "effect"
import * as F from "./Fixtures.js"

describe("KeyGen.generate", () => {
  it.effect("makes a DSA 1024/160 pair in PKCS#8 and SPKI PEM, and the one-line public key", () =>
    Effect.gen(function* () {
      const pair = yield* KeyGen.generate()
      const privateKey = yield* DsaKey.inspect(pair.privateKeyPem)
      const publicKey = yield* DsaKey.inspect(pair.publicKeyPem)
      assert.deepStrictEqual(
        { ...privateKey, fingerprint: "" },
        {
          kind: "private",
          format: "pem-pkcs8",
          type: "dsa",
          modulusBits: 1024,
          divisorBits: 160,
          fingerprint: ""
        }
      )
      assert.strictEqual(publicKey.format, "pem-spki")
      assert.strictEqual(privateKey.fingerprint, publicKey.fingerprint)
      assert.strictEqual(pair.publicKeyOneLine, F.oneLine(pair.publicKeyPem))
      assert.strictEqual(pair.publicKeyOneLine, yield* DsaKey.publicKeyOneLine(pair.privateKeyPem))
      assert.strictEqual((yield* DsaKey.inspect(pair.publicKeyOneLine)).format, "base64-spki")
    })
  )

  it.effect("the pair signs and verifies, and two pairs differ", () =>
    Effect.gen(function* () {
      const [a, b] = yield* Effect.all([KeyGen.generate(), KeyGen.generate()], { concurrency: 2 })
      const signer = yield* DsaSigner.make({ privateKey: a.privateKeyPem })
      const verifier = yield* DsaVerifier.make({ publicKey: Redacted.make(a.publicKeyOneLine) })
      const otherVerifier = yield* DsaVerifier.make({ publicKey: Redacted.make(b.publicKeyPem) })
      const message = new TextEncoder().encode("generated")
      const signature = yield* signer.sign(message)
      assert.isTrue(yield* verifier.verify(message, signature))
      assert.isFalse(yield* otherVerifier.verify(message, signature))
      assert.notStrictEqual(a.publicKeyOneLine, b.publicKeyOneLine)
    })
  )

  it.effect.skipIf(!F.hasOpenssl)("openssl reads the generated private key as DSA 1024", () =>
    Effect.acquireUseRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "witkey-dsa-keygen-"))),
      (dir) =>
        Effect.gen(function* () {
          const pair = yield* KeyGen.generate()
          const path = join(dir, "key.pem")
          writeFileSync(path, Redacted.value(pair.privateKeyPem), { mode: 0o600 })
          const text = execFileSync("openssl", ["pkey", "-in", path, "-noout", "-text"], { encoding: "utf8" })
          assert.match(text, /^Private-Key: \(1024 bit\)/)
          const publicPem = execFileSync("openssl", ["pkey", "-in", path, "-pubout"], { encoding: "utf8" })
          assert.strictEqual(publicPem, pair.publicKeyPem)
        }),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
  )
})
