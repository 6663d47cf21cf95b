/**
 * A conformance suite for a `Signer` and a `Verifier` built from one key pair: what core relies on, whatever
 * the implementation. Call it at the top level of a test file:
 *
 * ```ts
 * SignatureSuite.suite("DSA on node:crypto", Layer.merge(signerLayer, verifierLayer))
 * ```
 *
 * Signatures are treated as opaque padded Base64; nothing here assumes DSA's DER layout, so the suite also
 * fits a deterministic scheme (the "two signatures" test only asks that both verify).
 *
 * @since 0.1.0
 */
import { assert, layer as withLayer } from "@effect/vitest"
import { Signer } from "@witkey/core/Signer"
import { Verifier } from "@witkey/core/Verifier"
import type { Layer } from "effect"
import { Effect, Either, Encoding, FastCheck, Option } from "effect"

export interface Options {
  /** Runs per property; defaults to `WITKEY_FUZZ_RUNS` when set, else fast-check's 100. */
  readonly numRuns?: number
}

const PADDED_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

const flipBit = (bytes: Uint8Array, bit: number): Uint8Array => {
  const copy = Uint8Array.from(bytes)
  const index = bit % (copy.length * 8)
  copy[index >> 3] = copy[index >> 3]! ^ (1 << (index & 7))
  return copy
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i])

const decodeSignature = (signature: string): Uint8Array =>
  Either.getOrThrowWith(
    Encoding.decodeBase64(signature),
    () => new Error("the signer produced invalid Base64")
  )

/** Strings that are not signatures of anything; each must verify as `false`. */
const GARBAGE: ReadonlyArray<string> = [
  "",
  " ",
  "=",
  "====",
  "AAAA",
  "AA==",
  "not base64!",
  "MAYCAQECAQE=", // a well-formed DER SEQUENCE{1, 1}
  "MC0CFQCLwcYnl4K669APQIy2TVYXW0ByPwIUSkaymD7iZnyvPGikzFVOY2wIk64=", // a valid signature of another message
  "\u0000",
  "é",
  "A".repeat(10_000)
]

export const suite = (
  name: string,
  layer: Layer.Layer<Signer | Verifier, unknown>,
  options: Options = {}
): void => {
  const envRuns = Number(process.env["WITKEY_FUZZ_RUNS"])
  const numRuns = options.numRuns ?? (Number.isInteger(envRuns) && envRuns > 0 ? envRuns : undefined)
  const fastCheck = numRuns === undefined ? {} : { fastCheck: { numRuns } }
  const message = FastCheck.uint8Array({ maxLength: 1024 })
  const nonEmptyMessage = FastCheck.uint8Array({ minLength: 1, maxLength: 1024 })
  const bit = FastCheck.nat()

  withLayer(layer)(`SignatureSuite: ${name}`, (it) => {
    it.effect("both services name the same sign_type", () =>
      Effect.gen(function* () {
        const signer = yield* Signer
        const verifier = yield* Verifier
        assert.strictEqual(signer.signType, verifier.signType)
      })
    )

    it.effect.prop(
      "verify(m, sign(m)) holds for any bytes, and the signature is padded Base64",
      [message],
      ([m]) =>
        Effect.gen(function* () {
          const signature = yield* (yield* Signer).sign(m)
          assert.match(signature, PADDED_BASE64)
          assert.isTrue(signature.length > 0)
          assert.isTrue(yield* (yield* Verifier).verify(m, signature))
        }),
      fastCheck
    )

    it.effect.prop(
      "flipping any bit of the message makes the signature invalid",
      [nonEmptyMessage, bit],
      ([m, b]) =>
        Effect.gen(function* () {
          const signature = yield* (yield* Signer).sign(m)
          assert.isFalse(yield* (yield* Verifier).verify(flipBit(m, b), signature))
        }),
      fastCheck
    )

    it.effect.prop(
      "flipping any bit of the signature makes it invalid",
      [message, bit],
      ([m, b]) =>
        Effect.gen(function* () {
          const signature = yield* (yield* Signer).sign(m)
          const flipped = Encoding.encodeBase64(flipBit(decodeSignature(signature), b))
          assert.isFalse(yield* (yield* Verifier).verify(m, flipped))
        }),
      fastCheck
    )

    it.effect.prop(
      "a signature of one message does not verify another",
      [message, message],
      ([m1, m2]) =>
        Effect.gen(function* () {
          if (sameBytes(m1, m2)) return
          const signature = yield* (yield* Signer).sign(m1)
          assert.isFalse(yield* (yield* Verifier).verify(m2, signature))
        }),
      fastCheck
    )

    it.effect.prop(
      "verify answers false, never fails, on arbitrary strings",
      [message, FastCheck.string({ maxLength: 200 })],
      ([m, garbage]) =>
        Effect.gen(function* () {
          const result = yield* Effect.exit((yield* Verifier).verify(m, garbage))
          assert.strictEqual(result._tag, "Success")
          assert.isFalse(result._tag === "Success" && result.value)
        }),
      fastCheck
    )

    it.effect.prop(
      "verify answers false on the Base64 of arbitrary bytes",
      [message, FastCheck.uint8Array({ maxLength: 128 })],
      ([m, bytes]) =>
        Effect.gen(function* () {
          assert.isFalse(yield* (yield* Verifier).verify(m, Encoding.encodeBase64(bytes)))
        }),
      fastCheck
    )

    it.effect.prop(
      "match agrees with verify and names a listed key; a changed message matches none",
      [nonEmptyMessage, bit],
      ([m, b]) =>
        Effect.gen(function* () {
          const verifier = yield* Verifier
          const signature = yield* (yield* Signer).sign(m)
          const matched = yield* verifier.match(m, signature)
          assert.isTrue(Option.isSome(matched))
          if (Option.isSome(matched)) {
            assert.isTrue(matched.value.keyId.length > 0)
            assert.include(["active", "retired"], matched.value.status)
          }
          assert.isTrue(Option.isNone(yield* verifier.match(flipBit(m, b), signature)))
        }),
      fastCheck
    )

    it.effect("empty and garbage signatures are false", () =>
      Effect.gen(function* () {
        const verifier = yield* Verifier
        const m = new TextEncoder().encode("_input_charset=utf-8&outer_task_id=t1")
        for (const garbage of GARBAGE) {
          assert.isFalse(yield* verifier.verify(m, garbage), JSON.stringify(garbage.slice(0, 40)))
          assert.isTrue(
            Option.isNone(yield* verifier.match(m, garbage)),
            JSON.stringify(garbage.slice(0, 40))
          )
          assert.isFalse(
            yield* verifier.verify(new Uint8Array(0), garbage),
            JSON.stringify(garbage.slice(0, 40))
          )
        }
      })
    )

    it.effect("the empty message can be signed and verified", () =>
      Effect.gen(function* () {
        const signature = yield* (yield* Signer).sign(new Uint8Array(0))
        assert.isTrue(yield* (yield* Verifier).verify(new Uint8Array(0), signature))
        assert.isFalse(yield* (yield* Verifier).verify(new Uint8Array([0]), signature))
      })
    )

    it.effect("two signatures of the same message both verify (randomized signing is fine)", () =>
      Effect.gen(function* () {
        const signer = yield* Signer
        const verifier = yield* Verifier
        const m = new TextEncoder().encode("the same message")
        const first = yield* signer.sign(m)
        const second = yield* signer.sign(m)
        assert.isTrue(yield* verifier.verify(m, first))
        assert.isTrue(yield* verifier.verify(m, second))
      })
    )

    it.effect("signing does not modify the message", () =>
      Effect.gen(function* () {
        const m = Uint8Array.from([1, 2, 3, 255])
        yield* (yield* Signer).sign(m)
        assert.deepStrictEqual(Array.from(m), [1, 2, 3, 255])
      })
    )
  })
}
