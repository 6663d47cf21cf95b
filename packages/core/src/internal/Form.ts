// application/x-www-form-urlencoded, read by us from the raw bytes: `+` is a space, `%XX` a byte, each name
// and value decoded exactly once, in the given charset, strictly.
import { Either } from "effect"
import * as Charset from "../Charset.js"

const hexValue = (c: number) =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x41 && c <= 0x46
      ? c - 0x37
      : c >= 0x61 && c <= 0x66
        ? c - 0x57
        : -1

const unescape = (bytes: Uint8Array, start: number, end: number): Uint8Array | undefined => {
  const out = new Uint8Array(end - start)
  let n = 0
  for (let i = start; i < end; i++) {
    const b = bytes[i]!
    if (b === 0x2b) out[n++] = 0x20
    else if (b === 0x25) {
      if (i + 2 >= end) return undefined
      const hi = hexValue(bytes[i + 1]!)
      const lo = hexValue(bytes[i + 2]!)
      if (hi < 0 || lo < 0) return undefined
      out[n++] = (hi << 4) | lo
      i += 2
    } else out[n++] = b
  }
  return out.subarray(0, n)
}

/** Pairs in body order; an error names the first problem. Empty segments (`a=1&&b=2`) are skipped. */
export const parse = (
  body: Uint8Array,
  charset: Charset.Charset,
  maxFields: number
): Either.Either<Array<readonly [string, string]>, string> => {
  const pairs: Array<readonly [string, string]> = []
  let start = 0
  while (start <= body.length) {
    let end = body.indexOf(0x26 /* & */, start)
    if (end < 0) end = body.length
    if (end > start) {
      if (pairs.length >= maxFields) return Either.left(`more than ${maxFields} fields`)
      const eq = body.indexOf(0x3d /* = */, start)
      if (eq < 0 || eq > end) return Either.left(`field without "=" at byte ${start}`)
      const name = unescape(body, start, eq)
      const value = unescape(body, eq + 1, end)
      if (name === undefined || value === undefined)
        return Either.left(`invalid percent-escape near byte ${start}`)
      const nameText = Charset.decode(name, charset)
      const valueText = Charset.decode(value, charset)
      if (Either.isLeft(nameText)) return Either.left(`field name: ${nameText.left}`)
      if (Either.isLeft(valueText)) return Either.left(`field ${nameText.right}: ${valueText.left}`)
      if (nameText.right === "") return Either.left(`empty field name at byte ${start}`)
      pairs.push([nameText.right, valueText.right])
    }
    start = end + 1
  }
  return Either.right(pairs)
}
