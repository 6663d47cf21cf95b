/**
 * Shape check of a DSA signature: DER `SEQUENCE { INTEGER r, INTEGER s }` with minimal lengths and positive,
 * minimally encoded integers of at most 160 bits (r and s are reduced mod q, and q has 160 bits).
 *
 * OpenSSL already refuses non-canonical DER when it verifies; this check makes "anything else is false"
 * independent of the crypto provider, and keeps oversized input away from it.
 */

/** A 160-bit integer with a leading zero byte for the sign is 21 bytes; the whole sequence at most 48. */
const MAX_INTEGER_BYTES = 21
export const MAX_SIGNATURE_BYTES = 2 + 2 * (2 + MAX_INTEGER_BYTES)

const INTEGER = 0x02
const SEQUENCE = 0x30

/** The offset just past a well-formed INTEGER starting at `at`, or -1. */
const readInteger = (der: Uint8Array, at: number): number => {
  if (der[at] !== INTEGER) return -1
  const length = der[at + 1]
  // Short-form length only: the integers are never 128 bytes long.
  if (length === undefined || length === 0 || length > MAX_INTEGER_BYTES) return -1
  const start = at + 2
  const end = start + length
  if (end > der.length) return -1
  const first = der[start]!
  // Negative numbers are never signatures.
  if ((first & 0x80) !== 0) return -1
  if (first === 0x00) {
    // A leading zero is only allowed (and then required) to keep a high bit from reading as a sign.
    if (length === 1) return -1 // zero itself is not a valid r or s
    if ((der[start + 1]! & 0x80) === 0) return -1
    // 21 bytes are only possible with the sign byte.
  } else if (length === MAX_INTEGER_BYTES) return -1
  return end
}

/** True when `der` is exactly one canonical `SEQUENCE { INTEGER r, INTEGER s }` as DSA with 160-bit q makes. */
export const isWellFormed = (der: Uint8Array): boolean => {
  if (der.length < 8 || der.length > MAX_SIGNATURE_BYTES) return false
  if (der[0] !== SEQUENCE || der[1] !== der.length - 2) return false
  const afterR = readInteger(der, 2)
  if (afterR < 0) return false
  return readInteger(der, afterR) === der.length
}
