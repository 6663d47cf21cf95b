// Percent-encoding, both ways, on bytes (PROTOCOL.md §2, §6). The writer owns its buffer: the string is read
// from the buffer the writer holds at that moment, so growing it can never leave a stale buffer to read (the
// bug a module-level buffer caused, fixed in 812011d).
import * as Charset from "../Charset.js"

const hex = "0123456789ABCDEF"
const HEX_CODES = Uint8Array.from(hex, (c) => c.charCodeAt(0))

/** The value of one hex digit's char code, or -1. */
export const hexValue = (c: number): number =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x41 && c <= 0x46
      ? c - 0x37
      : c >= 0x61 && c <= 0x66
        ? c - 0x57
        : -1

/**
 * Percent-unescapes `latin[start, end)` (one char per byte; `+` is a space, `%XX` a byte) into `out`, which
 * must hold `end - start` bytes. Returns the number of bytes written, or `-1 - i` for a bad escape at `i`.
 */
export const unescapeInto = (latin: string, start: number, end: number, out: Uint8Array): number => {
  let n = 0
  for (let i = start; i < end; i++) {
    const b = latin.charCodeAt(i)
    if (b === 0x2b) out[n++] = 0x20
    else if (b === 0x25) {
      if (i + 2 >= end) return -1 - i
      const hi = hexValue(latin.charCodeAt(i + 1))
      const lo = hexValue(latin.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return -1 - i
      out[n++] = (hi << 4) | lo
      i += 2
    } else out[n++] = b
  }
  return n
}

const unreserved = (byte: number) =>
  (byte >= 0x30 && byte <= 0x39) ||
  (byte >= 0x41 && byte <= 0x5a) ||
  (byte >= 0x61 && byte <= 0x7a) ||
  byte === 0x2d ||
  byte === 0x2e ||
  byte === 0x5f ||
  byte === 0x7e

const SUB_DELIMS = /[!'()*]/g
/** Per ASCII code: 1 when it stays as it is (RFC 3986 unreserved). */
const UNRESERVED_ASCII = Uint8Array.from({ length: 128 }, (_, byte) => (unreserved(byte) ? 1 : 0))
/** Per ASCII code: its escape. */
const ASCII_ESCAPES: ReadonlyArray<string> = Array.from(
  { length: 128 },
  (_, byte) => `%${hex[byte >> 4]}${hex[byte & 15]}`
)

/** The bytes of `text` in `charset`, percent-encoded: the definition, for text beyond ASCII. */
export const encodeBytes = (text: string, charset: Charset.Charset): string => {
  if (charset === "utf-8" && !/[\uD800-\uDFFF]/.test(text)) {
    // encodeURIComponent is UTF-8 percent-encoding with upper-case hex, except that it leaves !'()* as they
    // are; those are escaped here so the result equals the byte loop below.
    const encoded = encodeURIComponent(text)
    return encoded.search(SUB_DELIMS) < 0
      ? encoded
      : encoded.replace(SUB_DELIMS, (c) => ASCII_ESCAPES[c.charCodeAt(0)]!)
  }
  let out = ""
  for (const byte of Charset.encode(text, charset)) {
    out += unreserved(byte) ? String.fromCharCode(byte) : `%${hex[byte >> 4]}${hex[byte & 15]}`
  }
  return out
}

/**
 * Writes one byte at `at` of `buffer` percent-encoded (itself when unreserved, `%XX` otherwise) and returns where
 * the next one goes; the one escaping step of every writer below (small enough for V8 to inline).
 */
const put = (buffer: Uint8Array, at: number, byte: number): number => {
  if (byte < 128 && UNRESERVED_ASCII[byte] === 1) {
    buffer[at] = byte
    return at + 1
  }
  buffer[at] = 0x25
  buffer[at + 1] = HEX_CODES[byte >> 4]!
  buffer[at + 2] = HEX_CODES[byte & 15]!
  return at + 3
}

/**
 * Writes a query as bytes into one reused buffer and reads it back once as a string: building it from pieces
 * allocated a string per piece, and on the request path that garbage costs more than the work itself.
 * Synchronous use only: `reset`, writes, `read`, with nothing in between.
 */
export class Writer {
  private buffer: Buffer
  private end = 0
  constructor(size = 1024) {
    this.buffer = Buffer.alloc(size)
  }
  private sessions = 0
  reset(): this {
    this.end = 0
    this.sessions++
    return this
  }
  /** Which writing session this is (each `reset` starts one): whether what was written is still there. */
  get session(): number {
    return this.sessions
  }
  /** How many bytes were written since `reset`. */
  get length(): number {
    return this.end
  }
  /** The text written since `reset`. */
  read(): string {
    return this.buffer.toString("latin1", 0, this.end)
  }
  /** Writes the percent-encoding of `text` in `charset`. */
  encoded(text: string, charset: Charset.Charset): this {
    // An ASCII character takes at most 3 bytes; the first one beyond ASCII switches to the byte definition.
    this.reserve(3 * text.length)
    const buffer = this.buffer
    const start = this.end
    let at = start
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i)
      if (code >= 128) {
        // The byte definition itself, written straight into the buffer (no string per byte).
        this.end = start
        return this.bytes(Charset.encode(text, charset))
      }
      at = put(buffer, at, code)
    }
    this.end = at
    return this
  }
  /** Writes the percent-encoding of `bytes`: unreserved bytes as they are, every other byte as `%XX`. */
  bytes(bytes: Uint8Array): this {
    this.reserve(3 * bytes.length)
    const buffer = this.buffer
    let at = this.end
    for (let i = 0; i < bytes.length; i++) {
      at = put(buffer, at, bytes[i]!)
    }
    this.end = at
    return this
  }
  /**
   * For canonical pairs (`SigningString.signedPairs`' output) that are all ASCII, as a request's nearly always
   * are: writes their query (`name=value` percent-encoded, joined with `&`) and returns their canonical bytes
   * (`name=value` raw, joined with `&`; ASCII is the same bytes in every charset here), both from one scan,
   * where encoding, checking and escaping each walked the text again. `undefined`, with nothing written, at
   * the first character beyond ASCII or a name or value that is not a string: the caller takes the byte
   * definition then. The bytes are a Buffer (a slice of Node's pool, `Buffer.allocUnsafe`), from which the
   * caller reads the canonical string too, whole, where joining the pairs made a string of many pieces.
   */
  asciiPairs(pairs: ReadonlyArray<readonly [string, string]>): Buffer | undefined {
    let length = pairs.length === 0 ? 0 : pairs.length - 1
    for (let p = 0; p < pairs.length; p++) {
      const pair = pairs[p]!
      const name: unknown = pair[0]
      const value: unknown = pair[1]
      if (typeof name !== "string" || typeof value !== "string") return undefined
      length += name.length + 1 + value.length
    }
    // Every byte of the query is at most three.
    this.reserve(3 * length)
    const buffer = this.buffer
    const bytes = Buffer.allocUnsafe(length)
    let at = this.end
    let b = 0
    for (let p = 0; p < pairs.length; p++) {
      const pair = pairs[p]!
      if (p > 0) buffer[at++] = bytes[b++] = 0x26
      for (let k = 0; k < 2; k++) {
        if (k === 1) buffer[at++] = bytes[b++] = 0x3d
        const text = pair[k]!
        for (let i = 0; i < text.length; i++) {
          const code = text.charCodeAt(i)
          if (code >= 128) return undefined
          bytes[b++] = code
          at = put(buffer, at, code)
        }
      }
    }
    this.end = at
    return bytes
  }
  /** Writes text that is already ASCII (an encoding's output, a separator). */
  ascii(text: string): this {
    this.reserve(text.length)
    const buffer = this.buffer
    let at = this.end
    // A loop: `Buffer#write` costs more than it saves on strings this short.
    for (let i = 0; i < text.length; i++) buffer[at++] = text.charCodeAt(i)
    this.end = at
    return this
  }
  private reserve(more: number) {
    if (this.buffer.length >= this.end + more) return
    const bigger = Buffer.alloc(Math.max(this.end + more, 2 * this.buffer.length))
    this.buffer.copy(bigger, 0, 0, this.end)
    this.buffer = bigger
  }
}
