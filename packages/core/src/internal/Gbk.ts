// GBK on the hot path without iconv-lite's per-call work: two tables, built once from iconv-lite itself at the
// first GBK use, that hold only the characters whose GBK form round-trips exactly (the bytes decode to the
// character and the character encodes to those bytes). Text or bytes made only of ASCII and such characters
// are encoded, checked and decoded with a table look-up per character; anything else (a character GBK cannot
// represent, an invalid or four-byte sequence) gets `undefined`, and the caller takes iconv-lite's reference
// path, so the answers never differ (test/Gbk.test.ts holds both equal, over every BMP character too).
import iconv from "iconv-lite"
import { allocate } from "./allocate.js"

interface Tables {
  /** Code unit → its GBK bytes: `lead << 8 | trail`, or one byte 0x80-0xFF; 0 when not known to round-trip. */
  readonly encode: Uint16Array
  /** `lead << 8 | trail`, or one byte 0x80-0xFF → the code unit it decodes to; 0 when not known. */
  readonly decode: Uint16Array
}

const NEWLINE = 0x0a

/**
 * Every one-byte form 0x80-0xFF and two-byte form (lead 0x81-0xFE, trail 0x40-0xFE) decoded in one call, each
 * followed by a newline: no GBK lead or trail byte is 0x0A, and iconv-lite re-reads the byte after a bad lead,
 * so the pieces between newlines stay aligned with the forms. Then the single characters encoded back the same
 * way; a form enters the tables only when it is exactly what its character encodes to.
 */
const build = (): Tables => {
  const encode = new Uint16Array(0x10000)
  const decode = new Uint16Array(0x10000)
  const none: Tables = { encode: new Uint16Array(0x10000), decode: new Uint16Array(0x10000) }
  // ASCII must be itself both ways, or no table is trusted.
  const ascii = Buffer.from(Array.from({ length: 0x80 }, (_, i) => i))
  if (!iconv.encode(iconv.decode(ascii, "gbk"), "gbk").equals(ascii)) return none
  const forms: Array<number> = []
  for (let byte = 0x80; byte <= 0xff; byte++) forms.push(byte)
  for (let lead = 0x81; lead <= 0xfe; lead++)
    for (let trail = 0x40; trail <= 0xfe; trail++) forms.push((lead << 8) | trail)
  const bytes = Buffer.alloc(forms.length * 3)
  let n = 0
  for (const form of forms) {
    if (form > 0xff) bytes[n++] = form >> 8
    bytes[n++] = form & 0xff
    bytes[n++] = NEWLINE
  }
  const text = iconv.decode(bytes.subarray(0, n), "gbk")
  // One code unit per form when it decodes to a single character beyond ASCII (not a substitute, not a
  // surrogate, not a byte-order mark, which a decode at the start of a text would strip); else "A".
  const units = Buffer.alloc(forms.length * 4)
  let from = 0
  for (let k = 0; k < forms.length; k++) {
    const end = text.indexOf("\n", from)
    if (end < 0) return none
    const code = end - from === 1 ? text.charCodeAt(from) : 0
    const usable = code >= 0x80 && code !== 0xfffd && code !== 0xfeff && (code < 0xd800 || code > 0xdfff)
    units.writeUInt16LE(usable ? code : 0x41, 4 * k)
    units.writeUInt16LE(NEWLINE, 4 * k + 2)
    from = end + 1
  }
  if (from !== text.length) return none
  const encoded = iconv.encode(units.toString("utf16le"), "gbk")
  let at = 0
  for (let k = 0; k < forms.length; k++) {
    let end = encoded.indexOf(NEWLINE, at)
    if (end < 0) end = encoded.length
    const form = forms[k]!
    const code = units.readUInt16LE(4 * k)
    const same =
      form > 0xff
        ? end - at === 2 && encoded[at] === form >> 8 && encoded[at + 1] === (form & 0xff)
        : end - at === 1 && encoded[at] === form
    if (code >= 0x80 && same) {
      decode[form] = code
      encode[code] = form
    }
    at = end + 1
  }
  return { encode, decode }
}

let tables: Tables | undefined

/** The GBK bytes of `text` when every character is ASCII or in the table; `undefined` otherwise. */
export const encode = (text: string): Uint8Array | undefined => {
  const table = (tables ??= build()).encode
  // One pass into room for two bytes a character; the bytes written are returned as a view.
  const room = allocate(2 * text.length)
  let j = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) {
      room[j++] = code
      continue
    }
    const form = table[code]!
    if (form === 0) return undefined
    if (form > 0xff) room[j++] = form >> 8
    room[j++] = form & 0xff
  }
  return j === room.length ? room : new Uint8Array(room.buffer, room.byteOffset, j)
}

/** True when every character of `text` is ASCII or in the table (so GBK represents it); false says nothing. */
export const known = (text: string): boolean => {
  const table = (tables ??= build()).encode
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0x80 && table[code] === 0) return false
  }
  return true
}

// Decoded code units land in one reused buffer, as UTF-16LE, read out once as a string.
let scratch = Buffer.alloc(2048)

/** The text of `bytes` when every sequence is ASCII or a form in the table; `undefined` otherwise. */
export const decode = (bytes: Uint8Array): string | undefined => {
  const table = (tables ??= build()).decode
  if (scratch.length < 2 * bytes.length)
    scratch = Buffer.alloc(Math.max(2 * bytes.length, 2 * scratch.length))
  const out = scratch
  let j = 0
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    let code = byte
    if (byte >= 0x80) {
      code = table[byte]!
      if (code === 0) {
        // Not a one-byte form: a lead byte and its trail, or nothing this table knows.
        if (i + 1 >= bytes.length) return undefined
        code = table[(byte << 8) | bytes[i + 1]!]!
        if (code === 0) return undefined
        i++
      }
    }
    out[j++] = code & 0xff
    out[j++] = code >> 8
  }
  return out.toString("utf16le", 0, j)
}
