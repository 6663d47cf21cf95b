import { assert, describe, it } from "@effect/vitest"
import * as Signer from "@witkey/core/Signer"
import * as Verifier from "@witkey/core/Verifier"
import { Effect, Redacted } from "effect"
import { readFileSync } from "node:fs"
import * as TestKeys from "../src/TestKeys.js"

const fixture = (name: string) =>
  readFileSync(new URL(`../../../fixtures/vectors/keys/${name}_key.pem`, import.meta.url), "utf8")

describe("TestKeys", () => {
  it("are byte-identical copies of the fixture keys", () => {
    assert.strictEqual(TestKeys.partnerPrivateKeyPem, fixture("partner_private"))
    assert.strictEqual(TestKeys.partnerPublicKeyPem, fixture("partner_public"))
    assert.strictEqual(TestKeys.gatewayPrivateKeyPem, fixture("gateway_private"))
    assert.strictEqual(TestKeys.gatewayPublicKeyPem, fixture("gateway_public"))
    assert.strictEqual(TestKeys.otherPrivateKeyPem, fixture("other_private"))
    assert.strictEqual(TestKeys.otherPublicKeyPem, fixture("other_public"))
    assert.strictEqual(Redacted.value(TestKeys.partnerPrivateKey), fixture("partner_private"))
  })

  it("private keys stay redacted in logs", () => {
    assert.notInclude(String(TestKeys.partnerPrivateKey), "BEGIN")
    assert.notInclude(JSON.stringify({ key: TestKeys.gatewayPrivateKey }), "BEGIN")
  })

  it("oneLine is the PEM body on one line", () => {
    const line = TestKeys.oneLine(TestKeys.partnerPublicKeyPem)
    assert.match(line, /^[A-Za-z0-9+/]+=*$/)
    assert.strictEqual(Buffer.from(line, "base64").length > 400, true)
  })

  const pairs = [
    ["partner", TestKeys.partnerSigner, TestKeys.partnerVerifier],
    ["gateway", TestKeys.gatewaySigner, TestKeys.gatewayVerifier],
    ["other", TestKeys.otherSigner, TestKeys.otherVerifier]
  ] as const
  for (const [name, signer, verifier] of pairs) {
    it.effect(`the ${name} signer and verifier are one pair, and no other`, () =>
      Effect.gen(function* () {
        const message = new TextEncoder().encode(`outer_task_id=${name}`)
        const signature = yield* (yield* Signer.Signer).sign(message)
        assert.isTrue(yield* (yield* Verifier.Verifier).verify(message, signature))
        for (const [otherName, , otherVerifier] of pairs)
          if (otherName !== name)
            assert.isFalse(
              yield* Effect.provide(Verifier.Verifier, otherVerifier).pipe(
                Effect.flatMap((v) => v.verify(message, signature))
              )
            )
      }).pipe(Effect.provide(signer), Effect.provide(verifier))
    )
  }
})
