// application/x-www-form-urlencoded, read by us from the raw bytes: `+` is a space, `%XX` a byte, each name
// and value decoded exactly once, in the given charset, strictly.
import { Either } from "effect"
import * as Charset from "../Charset.js"
import * as Percent from "./percent.js"

// Unescaped bytes land in one reused buffer (grown on demand): decoding copies them out before the next use.
let scratch = Buffer.alloc(1024)

/** Percent-unescapes `latin[start, end)` (one char per body byte) into `scratch`; its length, or -1. */
const unescape = (latin: string, start: number, end: number): number => {
  if (scratch.length < end - start) scratch = Buffer.alloc(Math.max(end - start, 2 * scratch.length))
  const n = Percent.unescapeInto(latin, start, end, scratch)
  return n < 0 ? -1 : n
}

/**
 * One name or value: unescaped, then decoded strictly in `charset`. ASCII (nearly every field) takes the
 * short way: its bytes are the same text in every charset we speak.
 */
const text = (
  latin: string,
  start: number,
  end: number,
  charset: Charset.Charset
): Either.Either<string, string> | undefined => {
  let plain = true
  for (let i = start; i < end && plain; i++) {
    const b = latin.charCodeAt(i)
    plain = b !== 0x25 && b !== 0x2b && b < 0x80
  }
  if (plain) return Either.right(latin.slice(start, end))
  const n = unescape(latin, start, end)
  if (n < 0) return undefined
  let ascii = true
  for (let i = 0; i < n && ascii; i++) ascii = scratch[i]! < 0x80
  return ascii
    ? Either.right(scratch.toString("latin1", 0, n))
    : Charset.decode(scratch.subarray(0, n), charset)
}

/** Pairs in body order; an error names the first problem. Empty segments (`a=1&&b=2`) are skipped. */
export const parse = (
  body: Uint8Array,
  charset: Charset.Charset,
  maxFields: number
): Either.Either<Array<readonly [string, string]>, string> => {
  // The body as latin1 is one char per byte: offsets stay byte offsets, and scanning a string is cheap.
  const latin = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1")
  const pairs: Array<readonly [string, string]> = []
  let start = 0
  while (start <= latin.length) {
    let end = latin.indexOf("&", start)
    if (end < 0) end = latin.length
    if (end > start) {
      if (pairs.length >= maxFields) return Either.left(`more than ${maxFields} fields`)
      const eq = latin.indexOf("=", start)
      if (eq < 0 || eq > end) return Either.left(`field without "=" at byte ${start}`)
      const nameText = text(latin, start, eq, charset)
      const valueText = text(latin, eq + 1, end, charset)
      if (nameText === undefined || valueText === undefined)
        return Either.left(`invalid percent-escape near byte ${start}`)
      if (Either.isLeft(nameText)) return Either.left(`field name: ${nameText.left}`)
      if (Either.isLeft(valueText)) return Either.left(`field ${nameText.right}: ${valueText.left}`)
      if (nameText.right === "") return Either.left(`empty field name at byte ${start}`)
      pairs.push([nameText.right, valueText.right])
    }
    start = end + 1
  }
  return Either.right(pairs)
}
