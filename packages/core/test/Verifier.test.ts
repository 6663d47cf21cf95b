import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Logger, Option } from "effect"
import * as Verifier from "../src/Verifier.js"

/** Fake keys: key `id` "signs" a message by making the signature its own id. Counts every check. */
const fakeList = (keys: ReadonlyArray<{ readonly id: string; readonly status: Verifier.KeyStatus }>) => {
  const checked: Array<string> = []
  const trusted = keys.map((k): Verifier.TrustedKey => ({
    ...k,
    check: (_message, signature) => Effect.sync(() => (checked.push(k.id), signature === k.id))
  }))
  return {
    verifier: Verifier.fromKeys(trusted as [Verifier.TrustedKey, ...Array<Verifier.TrustedKey>]),
    checked
  }
}

const m = new Uint8Array([1, 2, 3])

const withLogs = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const logs: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
    const result = yield* effect.pipe(Effect.provide(Logger.add(logger)))
    return [result, logs] as const
  })

describe("Verifier trust list", () => {
  it.effect("tries active keys first, in order, then retired ones; stops at the first match", () =>
    Effect.gen(function* () {
      const { checked, verifier } = fakeList([
        { id: "old", status: "retired" },
        { id: "a", status: "active" },
        { id: "b", status: "active" }
      ])
      assert.deepStrictEqual(yield* verifier.match(m, "a"), Option.some({ keyId: "a", status: "active" }))
      assert.deepStrictEqual(checked.splice(0), ["a"])
      assert.deepStrictEqual(yield* verifier.match(m, "b"), Option.some({ keyId: "b", status: "active" }))
      assert.deepStrictEqual(checked.splice(0), ["a", "b"])
      // A forged message costs one check per key.
      assert.isTrue(Option.isNone(yield* verifier.match(m, "forged")))
      assert.deepStrictEqual(checked.splice(0), ["a", "b", "old"])
      assert.isFalse(yield* verifier.verify(m, "forged"))
    })
  )

  it.effect("a retired key that matches is reported and logged as a warning; an active one is not", () =>
    Effect.gen(function* () {
      const { verifier } = fakeList([
        { id: "new", status: "active" },
        { id: "old", status: "retired" }
      ])
      const [retired, warned] = yield* withLogs(verifier.match(m, "old"))
      assert.deepStrictEqual(retired, Option.some({ keyId: "old", status: "retired" }))
      assert.strictEqual(warned.length, 1)
      assert.match(warned[0]!, /^WARN .*retired Alipay public key "old"/)
      const [active, quiet] = yield* withLogs(verifier.match(m, "new"))
      assert.deepStrictEqual(active, Option.some({ keyId: "new", status: "active" }))
      assert.deepStrictEqual(quiet, [])
      assert.isTrue(yield* verifier.verify(m, "old"))
    })
  )

  it.effect("one active key: verify is the key's own check, match names it", () =>
    Effect.gen(function* () {
      const check: Verifier.TrustedKey["check"] = (_m, s) => Effect.succeed(s === "k")
      const verifier = Verifier.fromKeys([{ id: "k", status: "active", check }])
      assert.strictEqual(verifier.verify, check)
      assert.deepStrictEqual(yield* verifier.match(m, "k"), Option.some({ keyId: "k", status: "active" }))
      const single = Verifier.make((_m, s) => Effect.succeed(s === "k"))
      assert.deepStrictEqual(
        yield* single.match(m, "k"),
        Option.some({ keyId: Verifier.DEFAULT_KEY_ID, status: "active" })
      )
      assert.isTrue(Option.isNone(yield* single.match(m, "x")))
    })
  )

  const statuses = fc.array(fc.constantFrom<Verifier.KeyStatus>("active", "retired"), {
    minLength: 1,
    maxLength: 8
  })

  it.effect.prop(
    "match names the signing key, after exactly the keys before it in active-then-retired order",
    [statuses.chain((s) => fc.tuple(fc.constant(s), fc.nat({ max: s.length })))],
    ([[list, signer]]) =>
      Effect.gen(function* () {
        const keys = list.map((status, i) => ({ id: `k${i}`, status }))
        const { checked, verifier } = fakeList(keys)
        const ordered = Verifier.order(keys)
        // `signer === list.length` stands for a forgery.
        const signature = signer < list.length ? `k${signer}` : "forged"
        const matched = yield* verifier.match(m, signature)
        const position = ordered.findIndex((k) => k.id === signature)
        if (position < 0) {
          assert.isTrue(Option.isNone(matched))
          assert.deepStrictEqual(
            checked,
            ordered.map((k) => k.id)
          )
        } else {
          assert.deepStrictEqual(matched, Option.some({ keyId: signature, status: list[signer]! }))
          assert.deepStrictEqual(
            checked,
            ordered.slice(0, position + 1).map((k) => k.id)
          )
        }
        assert.strictEqual(yield* verifier.verify(m, signature), position >= 0)
      })
  )
})
