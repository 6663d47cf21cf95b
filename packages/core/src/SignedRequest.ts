/**
 * A request ready to send: its parameters, canonical string, signature and the GET URL (PROTOCOL.md §2, §3).
 * Re-sending means sending this value again, byte for byte; nothing is re-signed.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as Charset from "./Charset.js"
import * as ConfirmRequest from "./ConfirmRequest.js"
import * as Protocol from "./Protocol.js"
import * as Signer from "./Signer.js"
import * as SigningString from "./SigningString.js"

export interface SignedRequest {
  readonly request: ConfirmRequest.ConfirmRequest
  /** Every parameter sent, `sign` and `sign_type` last, in the order they appear in the query. */
  readonly params: ReadonlyArray<readonly [string, string]>
  readonly canonical: string
  readonly sign: string
  /** The full GET URL: gateway plus the query, each name and value percent-encoded from its charset bytes. */
  readonly url: string
}

const unreserved = (byte: number) =>
  (byte >= 0x30 && byte <= 0x39) ||
  (byte >= 0x41 && byte <= 0x5a) ||
  (byte >= 0x61 && byte <= 0x7a) ||
  byte === 0x2d ||
  byte === 0x2e ||
  byte === 0x5f ||
  byte === 0x7e

const hex = "0123456789ABCDEF"

const UNRESERVED_ONLY = /^[A-Za-z0-9._~-]*$/
const SUB_DELIMS = /[!'()*]/g

/** Percent-encodes the bytes of `text` in `charset`; only RFC 3986 unreserved bytes stay as they are. */
export const percentEncode = (text: string, charset: Charset.Charset): string => {
  // Names, serials, partner ids: mostly nothing to encode, in any of our charsets (all ASCII-compatible).
  if (UNRESERVED_ONLY.test(text)) return text
  if (charset === "utf-8" && !/[\uD800-\uDFFF]/.test(text)) {
    // encodeURIComponent is UTF-8 percent-encoding with upper-case hex, except that it leaves !'()* as they
    // are; those are escaped here so the result equals the byte loop below.
    const encoded = encodeURIComponent(text)
    return encoded.search(SUB_DELIMS) < 0
      ? encoded
      : encoded.replace(SUB_DELIMS, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  }
  let out = ""
  for (const byte of Charset.encode(text, charset)) {
    out += unreserved(byte) ? String.fromCharCode(byte) : `%${hex[byte >> 4]}${hex[byte & 15]}`
  }
  return out
}

/** The query string (no leading `?`). */
export const toQuery = (
  params: ReadonlyArray<readonly [string, string]>,
  charset: Charset.Charset
): string => {
  let out = ""
  for (let i = 0; i < params.length; i++) {
    const [name, value] = params[i]!
    out += `${i === 0 ? "" : "&"}${percentEncode(name, charset)}=${percentEncode(value, charset)}`
  }
  return out
}

/** Joins the gateway URL and a query, whether or not the gateway URL already has a query of its own. */
export const toUrl = (gateway: string, query: string): string =>
  `${gateway}${gateway.includes("?") ? (gateway.endsWith("?") || gateway.endsWith("&") ? "" : "&") : "?"}${query}`

/** Signs a validated request with the injected Signer and builds its URL. */
export const make = (
  request: ConfirmRequest.ConfirmRequest,
  options: { readonly gateway: string; readonly separator?: string | undefined }
): Effect.Effect<SignedRequest, Signer.SignError, Signer.Signer> =>
  Effect.flatMap(Signer.Signer, (signer) => makeWith(signer, request, options))

/** `make` with the Signer given directly: for callers that hold it already (the Client does). */
export const makeWith = (
  signer: Signer.Signer,
  request: ConfirmRequest.ConfirmRequest,
  options: { readonly gateway: string; readonly separator?: string | undefined }
): Effect.Effect<SignedRequest, Signer.SignError> => {
  const pairs = SigningString.signedPairs(ConfirmRequest.toParams(request, options.separator))
  const canonical = SigningString.join(pairs)
  return Effect.map(signer.sign(Charset.encode(canonical, request.charset)), (sign) => {
    const params = [
      ...pairs,
      [Protocol.Param.sign, sign] as const,
      [Protocol.Param.signType, signer.signType] as const
    ]
    return { request, params, canonical, sign, url: toUrl(options.gateway, toQuery(params, request.charset)) }
  })
}
