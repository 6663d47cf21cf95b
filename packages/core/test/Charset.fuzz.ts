// Hostile input for Charset.decode: arbitrary bytes, invalid UTF-8 and GBK sequences, NUL bytes, BOMs, views
// into larger buffers. Decoding is strict: either the exact text the bytes hold (encoding it again gives the
// same bytes) or a "invalid … byte sequence" message; never a throw, never a silent U+FFFD.
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, FastCheck as fc } from "effect"
import * as Charset from "../src/Charset.js"
import { assertLinear, HANG_BOUND_MS, prop } from "./fuzz.js"

const decode = (bytes: Uint8Array, charset: Charset.Charset) => {
  const start = performance.now()
  const exit = Effect.runSyncExit(Effect.sync(() => Charset.decode(bytes, charset)))
  const elapsed = performance.now() - start
  assert.isBelow(elapsed, HANG_BOUND_MS, `took ${elapsed.toFixed(0)} ms`)
  if (Exit.isFailure(exit)) return assert.fail(`defect: ${Cause.pretty(exit.cause)}`)
  const result = exit.value
  if (Either.isLeft(result)) assert.match(result.left, /^invalid (utf-8|gbk|gb2312) byte sequence$/)
  // Injective: the text encodes back to exactly the bytes it came from.
  else assert.deepStrictEqual(Charset.encode(result.right, charset), Uint8Array.from(bytes))
  return result
}

const charsetArb = fc.constantFrom<Charset.Charset>("utf-8", "gbk", "gb2312")

const invalidUtf8: Array<Array<number>> = [
  [0xc0, 0xaf],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0xaf],
  [0xf0, 0x80, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xfc, 0x84, 0x80, 0x80, 0x80, 0x80],
  [0xe4, 0xb8],
  [0xf0, 0x9f, 0x98],
  [0x80],
  [0xbf],
  [0xfe],
  [0xff]
]

const invalidGbk: Array<Array<number>> = [[0x81], [0x81, 0x7f], [0x81, 0xff], [0xff], [0xfe, 0x30]]

const validTextArb = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom("任务-42", "支付宝", "€", "\u0000", "\uFEFFx", "ａ", "😀")
)

/** A view that does not start at offset 0 of its buffer, as Buffer slices from a socket do. */
const view = (bytes: Uint8Array, offset: number) => {
  const backing = new Uint8Array(bytes.length + offset + 3).fill(0x41)
  backing.set(bytes, offset)
  return backing.subarray(offset, offset + bytes.length)
}

describe("Charset.decode on hostile input", () => {
  prop(
    "arbitrary bytes, at any offset: the exact text or an invalid-sequence error",
    [fc.uint8Array({ maxLength: 512 }), charsetArb, fc.integer({ min: 0, max: 7 })],
    ([bytes, charset, offset]) => {
      decode(view(bytes, offset), charset)
    }
  )

  prop(
    "an invalid UTF-8 sequence anywhere in valid text is refused",
    [validTextArb, fc.constantFrom(...invalidUtf8), fc.nat()],
    ([text, bad, at]) => {
      const good = Charset.encode(text, "utf-8")
      const i = at % (good.length + 1)
      // Only cut at a character boundary, so the inserted bytes are the only fault.
      if (i < good.length && (good[i]! & 0xc0) === 0x80) return
      const bytes = new Uint8Array([...good.subarray(0, i), ...bad, ...good.subarray(i)])
      assert.isTrue(Either.isLeft(decode(bytes, "utf-8")))
    }
  )

  prop(
    "an invalid GBK sequence at the end of valid GBK text is refused",
    [validTextArb, fc.constantFrom(...invalidGbk), fc.constantFrom<Charset.Charset>("gbk", "gb2312")],
    ([text, bad, charset]) => {
      const bytes = new Uint8Array([...Charset.encode(text, charset), ...bad])
      assert.isTrue(Either.isLeft(decode(bytes, charset)))
    }
  )

  prop(
    "valid text with NUL bytes and BOMs round-trips exactly",
    [fc.array(fc.oneof(validTextArb, fc.constantFrom("\u0000", "\uFEFF")), { maxLength: 8 }), charsetArb],
    ([pieces, charset]) => {
      const text = pieces.join("")
      const bytes = Charset.encode(text, charset)
      const result = decode(bytes, charset)
      // utf-8 holds every well-formed string; GBK only what it can represent (the rest became "?").
      if (charset === "utf-8" && Charset.canEncode(text, "utf-8"))
        assert.deepStrictEqual(result, Either.right(text))
      else assert.isTrue(Either.isRight(result))
    }
  )

  it("huge inputs stay linear", () => {
    for (const unit of [[0x41], [0xe4, 0xbb, 0xbb], [0xc8, 0xce], [0x00]])
      for (const charset of ["utf-8", "gbk", "gb2312"] as const)
        assertLinear(
          `${charset} decode of ${unit.map((b) => b.toString(16)).join(" ")} repeated`,
          (n) => {
            const bytes = new Uint8Array(n * unit.length)
            for (let i = 0; i < n; i++) bytes.set(unit, i * unit.length)
            return bytes
          },
          (bytes) => Charset.decode(bytes, charset),
          2_000
        )
  })
})
