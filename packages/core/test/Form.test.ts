// The form reader of the notification path (internal/Form.ts) against plain definitions: its pairs are the
// segments split on `&` and `=`, percent-unescaped byte by byte and decoded strictly; the canonical bytes it
// puts together from the bytes that came in are the canonical string encoded in the charset; its signed order
// is `SigningString.signedPairs`.
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as Charset from "../src/Charset.js"
import * as Form from "../src/internal/Form.js"
import * as SigningString from "../src/SigningString.js"

/** The definition, written plainly: one segment at a time, one byte at a time, one error message each. */
const reference = (
  body: Uint8Array,
  charset: Charset.Charset,
  maxFields: number
): Either.Either<Array<readonly [string, string]>, string> => {
  const latin = Buffer.from(body).toString("latin1")
  const unescape = (s: string): Either.Either<string, string> | undefined => {
    const bytes: Array<number> = []
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c === 0x2b) bytes.push(0x20)
      else if (c === 0x25) {
        if (!/^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) return undefined
        bytes.push(parseInt(s.slice(i + 1, i + 3), 16))
        i += 2
      } else bytes.push(c)
    }
    return Charset.decode(Uint8Array.from(bytes), charset)
  }
  const pairs: Array<readonly [string, string]> = []
  let offset = 0
  for (const segment of latin.split("&")) {
    const start = offset
    offset += segment.length + 1
    if (segment === "") continue
    if (pairs.length >= maxFields) return Either.left(`more than ${maxFields} fields`)
    const eq = segment.indexOf("=")
    if (eq < 0) return Either.left(`field without "=" at byte ${start}`)
    const name = unescape(segment.slice(0, eq))
    const value = unescape(segment.slice(eq + 1))
    if (name === undefined || value === undefined)
      return Either.left(`invalid percent-escape near byte ${start}`)
    if (Either.isLeft(name)) return Either.left(`field name: ${name.left}`)
    if (Either.isLeft(value)) return Either.left(`field ${name.right}: ${value.left}`)
    if (name.right === "") return Either.left(`empty field name at byte ${start}`)
    pairs.push([name.right, value.right])
  }
  return Either.right(pairs)
}

const charsetArb = fc.constantFrom<Charset.Charset>("utf-8", "gbk", "gb2312")

/** One name or value as a sender might write it: escaped or not, `+` or `%20`, raw bytes beyond ASCII. */
const wireText = (text: string, charset: Charset.Charset, style: number): Array<number> => {
  const out: Array<number> = []
  for (const byte of Charset.encode(text, charset)) {
    const plain = /[A-Za-z0-9._~-]/.test(String.fromCharCode(byte))
    if (byte === 0x20 && style % 2 === 0) out.push(0x2b)
    else if (plain && style % 3 !== 0) out.push(byte)
    else if (byte >= 0x80 && style % 5 === 0) out.push(byte)
    else out.push(...Buffer.from(`%${byte.toString(16).padStart(2, "0")}`))
  }
  return out
}

const textArb = fc.oneof(
  fc.constantFrom(
    "",
    "sign",
    "sign_type",
    "notify_id",
    "xml",
    "a b",
    "任务",
    "<notify>&amp;</notify>",
    "€",
    "%",
    "+"
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 6 })
)

/** A form body: pairs written in some style, sometimes with an empty segment or a broken tail. */
const bodyArb = fc
  .tuple(
    fc.array(fc.tuple(textArb, textArb, fc.nat(29)), { maxLength: 8 }),
    charsetArb,
    fc.constantFrom("", "&", "&&x", "=v", "&%zz=1", "&a=%4", "&n=%C8", "&\u00ff=1")
  )
  .map(([pairs, charset, tail]) => {
    const bytes: Array<number> = []
    pairs.forEach(([name, value, style], i) => {
      if (i > 0) bytes.push(0x26)
      bytes.push(...wireText(name, charset, style), 0x3d, ...wireText(value, charset, style + 1))
    })
    bytes.push(...Buffer.from(tail, "latin1"))
    return { body: Uint8Array.from(bytes), charset }
  })

/** Arbitrary bytes weighted towards the form's own: `&`, `=`, `%`, hex digits, `+`, bytes beyond ASCII. */
const bytesArb = fc
  .array(
    fc.oneof(
      fc.constantFrom(0x26, 0x3d, 0x25, 0x2b, 0x41, 0x66, 0x30, 0x39, 0x61, 0x20),
      fc.integer({ min: 0x80, max: 0xff }),
      fc.integer({ min: 0, max: 0xff })
    ),
    { maxLength: 40 }
  )
  .map((bytes) => Uint8Array.from(bytes))

/** A view that does not start at offset 0 of its buffer, as Buffer slices from a socket do. */
const view = (bytes: Uint8Array) => {
  const backing = new Uint8Array(bytes.length + 6).fill(0x26)
  backing.set(bytes, 3)
  return backing.subarray(3, 3 + bytes.length)
}

const check = (body: Uint8Array, charset: Charset.Charset, maxFields = 32) => {
  const ours = Form.parse(view(body), charset, maxFields)
  const expected = reference(body, charset, maxFields)
  if (Either.isLeft(expected)) return assert.deepStrictEqual(ours, Either.left(expected.left))
  assert.isTrue(Either.isRight(ours))
  const parsed = Either.getOrThrow(ours)
  assert.deepStrictEqual(parsed.pairs, expected.right)
  // The canonical bytes, from the bytes that came in, are the canonical string encoded.
  const order = Form.signedOrder(parsed.pairs)
  assert.deepStrictEqual(
    Form.canonicalBytes(parsed, order),
    Charset.encode(SigningString.make(parsed.pairs), charset)
  )
}

describe("internal/Form", () => {
  it.prop("parse and canonicalBytes: well-formed bodies in every charset", [bodyArb], ([{ body, charset }]) =>
    check(body, charset)
  )

  it.prop(
    "parse: arbitrary bytes, the same pairs or the same error",
    [bytesArb, charsetArb],
    ([body, charset]) => check(body, charset, 4)
  )

  it.prop(
    "signedOrder is signedPairs as indices (empty values, sign, sign_type, repeats, any size)",
    [
      fc.array(
        fc.tuple(
          fc.oneof(
            fc.constantFrom("sign", "sign_type", "a", "b", "B", "ab", "é", "😀", "\uFFFF"),
            fc.string()
          ),
          fc.constantFrom("", "v", "w")
        ),
        { maxLength: 40 }
      )
    ],
    ([pairs]) => {
      const order = Form.signedOrder(pairs)
      const signed = SigningString.signedPairs(pairs)
      assert.strictEqual(order.length, signed.length)
      order.forEach((i, k) => assert.strictEqual(pairs[i], signed[k]))
    }
  )
})
