// Every character, one at a time: Charset.canEncode (the fast check) equals the round-trip definition. A few
// seconds of iconv calls, so it runs with the fuzz suite; CharsetEncode.test.ts has the property over strings.
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import * as Charset from "../src/Charset.js"

const roundTrips = (text: string, charset: Charset.Charset): boolean =>
  Either.getOrUndefined(Charset.decode(Charset.encode(text, charset), charset)) === text

const check = (code: number, charset: Charset.Charset) => {
  const text = String.fromCodePoint(code)
  assert.strictEqual(Charset.canEncode(text, charset), roundTrips(text, charset), `U+${code.toString(16)}`)
}

describe("Charset.canEncode over every character", () => {
  // GBK maps only BMP characters; beyond it every character is one case (a surrogate pair), sampled.
  it("GBK: every BMP character (lone surrogates included) and a sample beyond", () => {
    for (let code = 0; code < 0x10000; code++) check(code, "gbk")
    for (let code = 0x10000; code < 0x110000; code += 4099) check(code, "gbk")
  })

  // UTF-8 represents every code point; only lone surrogates are not text.
  it("UTF-8: the surrogates, their neighbours, and a sample of the rest", () => {
    for (let code = 0xd700; code < 0xe100; code++) check(code, "utf-8")
    for (let code = 0; code < 0x110000; code += 257) check(code, "utf-8")
  })
})
