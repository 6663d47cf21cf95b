import { inspect } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Signer } from "@witkey/core/Signer"
import type { KeyError } from "@witkey/crypto-dsa"
import { DsaKey, DsaSigner, DsaVerifier, KeyGen } from "@witkey/crypto-dsa"
import { Cause, Effect, Exit, Layer, Logger, Redacted } from "effect"
import * as F from "./Fixtures.js"

/**
 * Pieces of the private key's body: none may show up in any rendering of anything. The end of a PKCS#8 DSA
 * key is the secret x itself; the rest (p, q, g) is shared with the public key, but is still never printed.
 */
const body = F.oneLine(F.partnerPrivatePem)
const secretX = (oneLine: string) => oneLine.slice(-26, -2)
const chunks = [body.slice(60, 90), body.slice(200, 230), secretX(body)]

const renderings = (value: unknown): ReadonlyArray<string> => [
  String(value),
  JSON.stringify(value) ?? "",
  inspect(value, { depth: Infinity, showHidden: true, getters: true }),
  inspect(value, { depth: Infinity, colors: false, customInspect: false })
]

const assertNoKeyMaterial = (label: string, value: unknown, secretChunks: ReadonlyArray<string> = chunks) => {
  for (const rendering of renderings(value)) {
    for (const chunk of secretChunks) {
      assert.notInclude(rendering, chunk, `${label} leaks key material`)
    }
    assert.notInclude(rendering, "-----BEGIN PRIVATE KEY-----", `${label} leaks key material`)
  }
}

const options = { privateKey: Redacted.make<string | Uint8Array>(F.partnerPrivatePem) }

/** A private key with one Base64 character changed: unusable, but still mostly a secret. */
const damaged = F.partnerPrivatePem.replace(body.slice(150, 151), body.slice(150, 151) === "A" ? "B" : "A")

describe("no key material in renderings", () => {
  it.effect("(control: the check does see a key)", () =>
    Effect.sync(() => {
      assert.throws(() => assertNoKeyMaterial("control", { key: F.partnerPrivatePem }))
      assert.throws(() => assertNoKeyMaterial("control", new Error(F.oneLine(F.partnerPrivatePem))))
    })
  )

  it.effect("the options", () => Effect.sync(() => assertNoKeyMaterial("options", options)))

  it.effect("the Signer service", () =>
    Effect.gen(function* () {
      assertNoKeyMaterial("service", yield* DsaSigner.make(options))
    })
  )

  it.effect("the layer's built context and the value behind the tag", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(DsaSigner.layer(options))
      assertNoKeyMaterial("context", context)
      assertNoKeyMaterial("context value", context.unsafeMap.get(Signer.key))
    }).pipe(Effect.scoped)
  )

  it.effect("KeyErrors for damaged, misplaced and foreign keys, and the causes of failed layers", () =>
    Effect.gen(function* () {
      const failures: ReadonlyArray<Effect.Effect<unknown, KeyError.KeyError>> = [
        DsaSigner.make({ privateKey: Redacted.make(damaged) }),
        DsaSigner.make({ privateKey: Redacted.make(F.oneLine(F.partnerPrivatePem).slice(0, 301)) }),
        DsaSigner.make({ privateKey: Redacted.make(F.partnerPrivatePem.slice(0, 400)) }),
        DsaVerifier.make({ publicKey: Redacted.make(F.partnerPrivatePem) }),
        DsaVerifier.make({ publicKey: Redacted.make(F.oneLine(F.partnerPrivatePem)) }),
        DsaKey.load(Redacted.make(body.slice(0, 150)))
      ]
      for (const failure of failures) {
        const error = yield* Effect.flip(failure)
        assertNoKeyMaterial(`${error.reason} error`, error)
        assertNoKeyMaterial(`${error.reason} message`, error.message)
        const exit = yield* Effect.exit(failure)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assertNoKeyMaterial("cause", Cause.pretty(exit.cause))
      }
    })
  )

  it.effect("logs of the options, the service and the errors", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make((entry) => {
        lines.push(
          Logger.stringLogger.log(entry),
          Logger.logfmtLogger.log(entry),
          Logger.jsonLogger.log(entry)
        )
      })
      yield* Effect.gen(function* () {
        const service = yield* DsaSigner.make(options)
        const exit = yield* Effect.exit(DsaSigner.make({ privateKey: Redacted.make(damaged) }))
        yield* Effect.log("built", options, service)
        yield* Effect.annotateLogs(Effect.logInfo("annotated"), { privateKey: options.privateKey })
        if (Exit.isFailure(exit)) yield* Effect.logError("failed", exit.cause)
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
      assert.isTrue(lines.some((line) => line.includes("built")))
      for (const line of lines) assertNoKeyMaterial("log line", line)
    })
  )

  it.effect("a generated key pair", () =>
    Effect.gen(function* () {
      const pair = yield* KeyGen.generate()
      const secret = F.oneLine(Redacted.value(pair.privateKeyPem))
      assertNoKeyMaterial("generated pair", pair, [secretX(secret)])
    })
  )
})
