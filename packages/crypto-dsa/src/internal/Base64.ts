/**
 * Strict standard Base64 (RFC 4648 §4, with padding). Node's own decoder skips characters it does not know
 * and accepts missing padding, which would let a damaged key or signature decode to *something*; here only
 * the canonical text of some byte string is accepted.
 */
import { Buffer } from "node:buffer"

const ALPHABET = /^[A-Za-z0-9+/]*={0,2}$/

/** The bytes of canonical padded Base64 `text`, or `undefined`. Empty text is not Base64 here. */
export const decodeStrict = (text: string): Buffer | undefined => {
  if (text.length === 0 || text.length % 4 !== 0 || !ALPHABET.test(text)) return undefined
  const bytes = Buffer.from(text, "base64")
  // Re-encoding catches non-zero pad bits ("QR==" and "QQ==" both decode to "A"): one value, one spelling.
  return bytes.toString("base64") === text ? bytes : undefined
}

/** Like `decodeStrict`, after removing all whitespace (for key bodies copied from PEM with their line breaks). */
export const decodeStrictIgnoringWhitespace = (text: string): Buffer | undefined =>
  decodeStrict(text.replace(/\s+/g, ""))
