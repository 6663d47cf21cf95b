/**
 * SHA-1 with DSA on node:crypto, as PROTOCOL.md §3 fixes it: the DER `SEQUENCE { r, s }` signature in padded
 * Base64. These are the only two places that call the provider with a message.
 */
import type { KeyObject } from "node:crypto"
import { sign as nodeSign, verify as nodeVerify } from "node:crypto"
import * as Base64 from "./Base64.js"
import * as DerSignature from "./DerSignature.js"

const DIGEST = "sha1"

/** Longest Base64 text of a well-formed signature; anything longer is refused before decoding. */
const MAX_SIGNATURE_TEXT = 4 * Math.ceil(DerSignature.MAX_SIGNATURE_BYTES / 3)

/** Throws whatever the provider throws; callers turn that into their typed error. */
export const sign = (key: KeyObject, message: Uint8Array): string =>
  nodeSign(DIGEST, message, { key, dsaEncoding: "der" }).toString("base64")

export type VerifyResult =
  | { readonly _tag: "Checked"; readonly valid: boolean }
  /** The provider threw on a well-formed signature: a configuration problem (e.g. SHA-1 banned), not a forgery. */
  | { readonly _tag: "ProviderFailed"; readonly code: string }

/**
 * The signature must be exactly the canonical padded Base64 of a canonical DER signature: no whitespace,
 * no line breaks, no URL-safe alphabet, no missing padding, no IEEE-P1363 `r || s`. Anything else is simply
 * not valid. Trimming is left to the decoders that take the value off the wire.
 */
export const verify = (key: KeyObject, message: Uint8Array, signature: string): VerifyResult => {
  if (typeof signature !== "string" || signature.length > MAX_SIGNATURE_TEXT) return invalid
  const der = Base64.decodeStrict(signature)
  if (der === undefined || !DerSignature.isWellFormed(der)) return invalid
  try {
    return nodeVerify(DIGEST, message, { key, dsaEncoding: "der" }, der) ? valid : invalid
  } catch (error) {
    return { _tag: "ProviderFailed", code: errorCode(error) }
  }
}

const valid: VerifyResult = { _tag: "Checked", valid: true }
const invalid: VerifyResult = { _tag: "Checked", valid: false }

/** Node's error code only: its messages can quote their arguments. */
export const errorCode = (error: unknown): string => {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined
  return typeof code === "string" ? code : "unknown error"
}
