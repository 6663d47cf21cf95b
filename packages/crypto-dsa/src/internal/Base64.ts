/**
 * Strict standard Base64 (RFC 4648 §4, with padding). Node's own decoder skips characters it does not know
 * and accepts missing padding, which would let a damaged key or signature decode to *something*; here only
 * the canonical text of some byte string is accepted.
 */
import { Buffer } from "node:buffer"

const ALPHABET = /^[A-Za-z0-9+/]*={0,2}$/

/** The 6-bit value of a Base64 alphabet character (the caller checked the alphabet). */
const sextet = (c: number): number =>
  c >= 0x61 ? c - 0x61 + 26 : c >= 0x41 ? c - 0x41 : c >= 0x30 ? c - 0x30 + 52 : c === 0x2b ? 62 : 63

/** The bytes of canonical padded Base64 `text`, or `undefined`. Empty text is not Base64 here. */
export const decodeStrict = (text: string): Buffer | undefined => {
  if (text.length === 0 || text.length % 4 !== 0 || !ALPHABET.test(text)) return undefined
  // The bits padding leaves over must be zero ("QR==" and "QQ==" both decode to "A"): one value, one
  // spelling. Checked on the last data character; the same as re-encoding and comparing, without doing it.
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0
  if (pad > 0 && (sextet(text.charCodeAt(text.length - pad - 1)) & (pad === 2 ? 0x0f : 0x03)) !== 0)
    return undefined
  return Buffer.from(text, "base64")
}

/** Like `decodeStrict`, after removing all whitespace (for key bodies copied from PEM with their line breaks). */
export const decodeStrictIgnoringWhitespace = (text: string): Buffer | undefined =>
  decodeStrict(text.replace(/\s+/g, ""))
