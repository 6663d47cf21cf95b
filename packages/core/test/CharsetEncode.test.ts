// Encoding for signing: text a charset cannot represent is an EncodeError naming the field, the charset and
// the character, never substituted bytes. The fast check (one encode and a scan for `?`) is tied to the plain
// definition: the text survives encode then decode.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import * as Charset from "../src/Charset.js"
import * as ConfirmRequest from "../src/ConfirmRequest.js"
import * as Signer from "../src/Signer.js"
import * as SignedRequest from "../src/SignedRequest.js"
import * as SigningString from "../src/SigningString.js"

/** The reference definition: what the codec writes decodes back to the text itself. */
const roundTrips = (text: string, charset: Charset.Charset): boolean =>
  Either.getOrUndefined(Charset.decode(Charset.encode(text, charset), charset)) === text

const charsetArb = fc.constantFrom<Charset.Charset>(...Charset.values)

/** Text weighted towards what matters here: `?`, CJK, emoji, lone surrogates, the one-way U+E7C7, ASCII. */
const textArb = fc
  .array(
    fc.oneof(
      fc.constantFrom("?", "a", "任", "务", "€", "😀", "\uD800", "\uDC00", "\uE7C7", "\u00B7", "ｱ", " "),
      fc.string({ unit: "binary", maxLength: 3 }),
      fc.integer({ min: 0x80, max: 0xffff }).map((c) => String.fromCharCode(c))
    ),
    { maxLength: 12 }
  )
  .map((parts) => parts.join(""))

describe("Charset.canEncode and encodeExact", () => {
  it.prop(
    "canEncode is the round-trip definition, and encodeExact agrees",
    [textArb, charsetArb],
    ([text, charset]) => {
      const expected = roundTrips(text, charset)
      assert.strictEqual(Charset.canEncode(text, charset), expected)
      const exact = Charset.encodeExact(text, charset, "memo")
      assert.strictEqual(Either.isRight(exact), expected)
      if (Either.isRight(exact)) assert.deepStrictEqual(exact.right, Charset.encode(text, charset))
      else {
        const index = Charset.firstUnencodable(text, charset)
        assert.isAtLeast(index, 0)
        assert.strictEqual(exact.left.index, index)
        assert.isFalse(roundTrips(exact.left.character, charset))
        // The first such character: everything before it round-trips.
        assert.isTrue(roundTrips(text.slice(0, index), charset))
      }
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it("an emoji in GBK is an EncodeError naming the field, the charset and the character", () => {
    const result = Charset.encodeExact("任务😀", "gbk", "outer_task_id")
    assert.isTrue(Either.isLeft(result))
    const error = Either.getLeft(result).pipe((o) => (o._tag === "Some" ? o.value : assert.fail("no error")))
    assert.strictEqual(error._tag, "EncodeError")
    assert.deepStrictEqual(
      [error.field, error.charset, error.character, error.index],
      ["outer_task_id", "gbk", "😀", 2]
    )
    assert.include(error.message, "outer_task_id")
    assert.include(error.message, "U+1F600")
    assert.include(error.message, "gbk")
  })

  it("`?` in the text itself is no substitution; a lone surrogate in UTF-8 is", () => {
    assert.isTrue(Either.isRight(Charset.encodeExact("a?b??", "gbk", "x")))
    assert.isTrue(Either.isLeft(Charset.encodeExact("?😀", "gbk", "x")))
    const lone = Charset.encodeExact("ab\uD800", "utf-8", "x")
    assert.isTrue(Either.isLeft(lone) && lone.left.index === 2 && lone.left.character === "\uD800")
  })
})

describe("Charset.encode", () => {
  it.prop(
    "UTF-8 is TextEncoder's answer, short ASCII (copied by a loop) and the rest alike",
    [fc.oneof(textArb, fc.string({ maxLength: 70 }), fc.stringMatching(/^[ -~]{0,80}$/))],
    ([text]) => {
      assert.deepStrictEqual(Charset.encode(text, "utf-8"), new TextEncoder().encode(text))
    },
    { fastCheck: { numRuns: 1000 } }
  )
})

describe("SigningString.encode", () => {
  it("names the parameter that cannot be represented", () => {
    const result = SigningString.encode(
      [
        ["service", "x"],
        ["memo", "任务😀"]
      ],
      "gbk"
    )
    assert.isTrue(Either.isLeft(result) && result.left.field === "memo" && result.left.character === "😀")
    const ok = SigningString.encode([["memo", "任务"]], "gbk")
    assert.isTrue(Either.isRight(ok))
    assert.deepStrictEqual(Either.getOrThrow(ok), SigningString.bytes([["memo", "任务"]], "gbk"))
  })
})

describe("SignedRequest.make", () => {
  const signer: Signer.Signer = {
    signType: "DSA",
    sign: () => Effect.succeed("c2lnbg==")
  } as unknown as Signer.Signer

  it.effect(
    "a request GBK cannot represent (built past validate) fails with EncodeError, nothing signed",
    () =>
      Effect.gen(function* () {
        // A ConfirmRequest is a plain struct: a caller can build one without validate.
        const request = {
          partner: "2088101012352995",
          outerTaskId: "任务😀",
          transfers: ["s1"],
          charset: "gbk"
        } as unknown as ConfirmRequest.ConfirmRequest
        const error = yield* Effect.flip(
          SignedRequest.makeWith(signer, request, { gateway: "https://gw.example/" })
        )
        assert.strictEqual(error._tag, "EncodeError")
        assert.strictEqual((error as Charset.EncodeError).field, "outer_task_id")
      })
  )

  it("validate names the field, the charset and the character", () => {
    const result = ConfirmRequest.validate({
      partner: "2088101012352995",
      outerTaskId: "任务😀",
      transfers: ["s1"],
      charset: "gbk"
    })
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      const issue = result.left.issues.find((i) => i.rule === "charset")
      assert.strictEqual(issue?.field, "outer_task_id")
      assert.include(issue?.message, "U+1F600")
      assert.include(issue?.message, "gbk")
    }
  })
})
