// The GBK tables (internal/Gbk.ts) against iconv-lite, the reference they were built from: whatever the
// tables answer, iconv-lite answers the same; whatever they do not know, they say so (`undefined` / false).
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import iconv from "iconv-lite"
import * as Gbk from "../src/internal/Gbk.js"

/** The reference strict decode: iconv-lite's text, only when it encodes back to exactly the bytes. */
const strictDecode = (bytes: Uint8Array): string | undefined => {
  const buffer = Buffer.from(bytes)
  const text = iconv.decode(buffer, "gbk")
  return iconv.encode(text, "gbk").equals(buffer) ? text : undefined
}

const reference = (text: string) => new Uint8Array(iconv.encode(text, "gbk"))

/** Text weighted towards what matters: ASCII, `?`, CJK, €, the one four-byte U+E7C7, emoji, lone surrogates. */
const textArb = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "?",
        "a",
        "任",
        "务",
        "€",
        "😀",
        "\uD800",
        "\uDC00",
        "\uE7C7",
        "\u00B7",
        "ｱ",
        "\uFEFF",
        " "
      ),
      fc.string({ unit: "binary", maxLength: 3 }),
      fc.integer({ min: 0x80, max: 0xffff }).map((c) => String.fromCharCode(c)),
      fc.integer({ min: 0x4e00, max: 0x9fa5 }).map((c) => String.fromCharCode(c))
    ),
    { maxLength: 16 }
  )
  .map((parts) => parts.join(""))

/** Bytes weighted towards GBK: lead and trail ranges, the four-byte bytes 0x30-0x39, 0x80, 0xFF, ASCII. */
const bytesArb = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0x81, max: 0xfe }),
      fc.integer({ min: 0x40, max: 0xfe }),
      fc.integer({ min: 0x30, max: 0x39 }),
      fc.constantFrom(0x80, 0xff, 0x7f, 0x3f, 0x0a, 0x00),
      fc.integer({ min: 0, max: 0xff })
    ),
    { maxLength: 24 }
  )
  .map((bytes) => Uint8Array.from(bytes))

describe("internal/Gbk tables", () => {
  it("every BMP character the table knows encodes as iconv-lite encodes it and decodes back", () => {
    let known = 0
    const wrong: Array<string> = []
    for (let code = 0; code < 0x10000; code++) {
      const text = String.fromCharCode(code)
      const bytes = Gbk.encode(text)
      if (Gbk.known(text) !== (bytes !== undefined)) wrong.push(`known U+${code.toString(16)}`)
      if (bytes === undefined) continue
      known++
      // Plain comparisons in the loop (an assertion per character costs seconds), one assertion after.
      const expected = iconv.encode(text, "gbk")
      if (!expected.equals(bytes) || Gbk.decode(bytes) !== text || strictDecode(bytes) !== text)
        wrong.push(`U+${code.toString(16)}`)
    }
    assert.deepStrictEqual(wrong, [])
    // Not vacuous: ASCII and the two-byte GBK repertoire (about 21,900 characters) are in.
    assert.isAbove(known, 21_000)
    for (const text of ["任", "务", "€", "a", "?"]) assert.isTrue(Gbk.known(text), text)
    for (const text of ["😀", "\uD800", "\uE7C7", "\uFEFF"]) assert.isFalse(Gbk.known(text), text)
  })

  it.prop(
    "encode: defined only for known text, and then iconv-lite's bytes",
    [textArb],
    ([text]) => {
      const bytes = Gbk.encode(text)
      assert.strictEqual(Gbk.known(text), bytes !== undefined)
      if (bytes !== undefined) {
        assert.deepStrictEqual(bytes, reference(text))
        assert.strictEqual(strictDecode(bytes), text)
      }
    },
    { fastCheck: { numRuns: 1000 } }
  )

  it.prop(
    "decode: defined only for bytes the strict reference accepts, and then its text",
    [bytesArb],
    ([bytes]) => {
      const text = Gbk.decode(bytes)
      if (text !== undefined) assert.strictEqual(text, strictDecode(bytes))
    },
    { fastCheck: { numRuns: 3000 } }
  )

  it.prop(
    "decode takes the fast way for the bytes of known text (the property above is not vacuous)",
    [textArb],
    ([text]) => {
      const bytes = Gbk.encode(text)
      if (bytes !== undefined) assert.strictEqual(Gbk.decode(bytes), text)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it("a view into a larger buffer, and inputs longer than the scratch buffer", () => {
    const bytes = reference("任务-42€".repeat(400))
    const backing = new Uint8Array(bytes.length + 10).fill(0x41)
    backing.set(bytes, 5)
    assert.strictEqual(Gbk.decode(backing.subarray(5, 5 + bytes.length)), "任务-42€".repeat(400))
    // A lead byte cut off at the end, an invalid trail, a four-byte form: not known.
    assert.isUndefined(Gbk.decode(Uint8Array.of(0x41, 0xc8)))
    assert.isUndefined(Gbk.decode(Uint8Array.of(0x81, 0x7f)))
    assert.isUndefined(Gbk.decode(reference("\uE7C7")))
  })
})
