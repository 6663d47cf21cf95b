// application/x-www-form-urlencoded, read by us from the raw bytes: `+` is a space, `%XX` a byte, each name
// and value decoded exactly once, in the given charset, strictly.
//
// Every name and value is also kept as its bytes (percent-unescaped, before the charset decoding), so the
// canonical string that is verified is put together from the bytes that came in, not encoded again from the
// decoded text. Both are the same bytes: decoding is strict, so a text encodes back to exactly the bytes it
// was decoded from (test/Form.test.ts holds `canonicalBytes` equal to encoding the canonical string).
import { Either } from "effect"
import * as Charset from "../Charset.js"
import { Param } from "../Protocol.js"
import { allocate } from "./allocate.js"
import { hexValue } from "./percent.js"
import { compareNames } from "../SigningString.js"

export interface Parsed {
  /** Names and values in body order. */
  readonly pairs: Array<readonly [string, string]>
  /** Every name's and value's bytes, one after the other in body order, percent-unescaped. */
  readonly bytes: Buffer
  /** Where pair `i`'s bytes end in `bytes`: its name at `[ends[2i - 1] ?? 0, ends[2i])`, its value next. */
  readonly ends: Array<number>
}

/** Per byte: its value as a hex digit, or -1. */
const HEX = Int8Array.from({ length: 256 }, (_, c) => hexValue(c))

/**
 * One name or value, `body[start, end)`: percent-unescaped into `out` from `at` (where it ends is pushed on
 * `ends`), then decoded strictly in `charset`. The text, or a string saying what is wrong; `undefined` for a
 * bad escape.
 */
const text = (
  body: Uint8Array,
  latin: string,
  start: number,
  end: number,
  out: Buffer,
  ends: Array<number>,
  charset: Charset.Charset
): Either.Either<string, string> | undefined => {
  const at = ends.length === 0 ? 0 : ends[ends.length - 1]!
  let n = at
  let high = 0
  let escaped = false
  for (let i = start; i < end; i++) {
    const b = body[i]!
    if (b === 0x25) {
      if (i + 2 >= end) return undefined
      const hi = HEX[body[i + 1]!]!
      const lo = HEX[body[i + 2]!]!
      if (hi < 0 || lo < 0) return undefined
      const byte = (hi << 4) | lo
      out[n++] = byte
      high |= byte
      escaped = true
      i += 2
    } else if (b === 0x2b) {
      out[n++] = 0x20
      escaped = true
    } else {
      out[n++] = b
      high |= b
    }
  }
  ends.push(n)
  // ASCII (nearly every field) is the same text in every charset we speak: no decoder. Unescaped, it is the
  // body's own slice (one char per byte).
  if (high < 0x80) return Either.right(escaped ? out.toString("latin1", at, n) : latin.slice(start, end))
  return Charset.decode(out.subarray(at, n), charset)
}

/** Pairs in body order; an error names the first problem. Empty segments (`a=1&&b=2`) are skipped. */
export const parse = (
  body: Uint8Array,
  charset: Charset.Charset,
  maxFields: number
): Either.Either<Parsed, string> => {
  // The body as latin1 is one char per byte: offsets stay byte offsets, and plain fields are its slices.
  const latin = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1")
  // Unescaped bytes are never more than the body's. Not zero-filled (a slice of Node's pool, no allocation of
  // its own): only bytes written here are ever read.
  const bytes = Buffer.allocUnsafe(body.length)
  const pairs: Array<readonly [string, string]> = []
  const ends: Array<number> = []
  let start = 0
  while (start <= latin.length) {
    let end = latin.indexOf("&", start)
    if (end < 0) end = latin.length
    if (end > start) {
      if (pairs.length >= maxFields) return Either.left(`more than ${maxFields} fields`)
      const eq = latin.indexOf("=", start)
      if (eq < 0 || eq > end) return Either.left(`field without "=" at byte ${start}`)
      const nameText = text(body, latin, start, eq, bytes, ends, charset)
      const valueText = nameText && text(body, latin, eq + 1, end, bytes, ends, charset)
      if (nameText === undefined || valueText === undefined)
        return Either.left(`invalid percent-escape near byte ${start}`)
      if (Either.isLeft(nameText)) return Either.left(`field name: ${nameText.left}`)
      if (Either.isLeft(valueText)) return Either.left(`field ${nameText.right}: ${valueText.left}`)
      if (nameText.right === "") return Either.left(`empty field name at byte ${start}`)
      pairs.push([nameText.right, valueText.right])
    }
    start = end + 1
  }
  return Either.right({ pairs, bytes, ends })
}

/**
 * The canonical string's bytes from the pairs at `order` (indices into `parsed.pairs`, in canonical order):
 * `name=value` joined by `&`, each from the bytes that came in. Equal to encoding the joined text in the
 * charset the form was decoded in.
 */
export const canonicalBytes = (parsed: Parsed, order: ReadonlyArray<number>): Uint8Array => {
  const { bytes, ends } = parsed
  // Each pair: its name and value bytes and a `=`; between pairs, a `&`.
  let length = order.length === 0 ? 0 : order.length - 1
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!
    length += ends[2 * i + 1]! - (i === 0 ? 0 : ends[2 * i - 1]!) + 1
  }
  const out = allocate(length)
  let at = 0
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!
    if (k > 0) out[at++] = 0x26
    at = copy(bytes, i === 0 ? 0 : ends[2 * i - 1]!, ends[2 * i]!, out, at)
    out[at++] = 0x3d
    at = copy(bytes, ends[2 * i]!, ends[2 * i + 1]!, out, at)
  }
  return out
}

/** Copies `from[start, end)` into `to` at `at`; where it ends. A loop for short runs, `set` for long ones. */
const copy = (from: Uint8Array, start: number, end: number, to: Uint8Array, at: number): number => {
  if (end - start > 32) to.set(from.subarray(start, end), at)
  else for (let j = start; j < end; j++) to[at + j - start] = from[j]!
  return at + end - start
}

/**
 * The indices of the pairs that are signed, in canonical order: `SigningString.signedPairs` as indices (a
 * property test holds them equal), so that their bytes can be found in `Parsed.bytes`.
 */
export const signedOrder = (pairs: ReadonlyArray<readonly [string, string]>): Array<number> => {
  const order: Array<number> = []
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!
    // `UNSIGNED_PARAMS.has`, compared rather than hashed (a fresh string each time).
    if (pair[1] === "" || pair[0] === Param.sign || pair[0] === Param.signType) continue
    // An insertion sort, stable as signedPairs' (at most 32 fields).
    let j = order.length
    order.push(i)
    while (j > 0 && compareNames(pairs[order[j - 1]!]![0], pair[0]) > 0) {
      order[j] = order[j - 1]!
      j--
    }
    order[j] = i
  }
  return order
}
