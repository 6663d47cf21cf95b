/**
 * A request ready to send: its parameters, canonical string, signature and the GET URL (PROTOCOL.md §2, §3).
 * Re-sending means sending this value again, byte for byte; nothing is re-signed.
 *
 * @since 0.1.0
 */
import { Effect, Either } from "effect"
import * as Charset from "./Charset.js"
import * as ConfirmRequest from "./ConfirmRequest.js"
import * as Form from "./internal/Form.js"
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

const SUB_DELIMS = /[!'()*]/g
const UNRESERVED_ONLY = /^[A-Za-z0-9._~-]*$/

/** Per ASCII code: 1 when it stays as it is (RFC 3986 unreserved). */
const UNRESERVED_ASCII = Uint8Array.from({ length: 128 }, (_, byte) => (unreserved(byte) ? 1 : 0))
/** Per ASCII code: its escape. */
const ASCII_ESCAPES: ReadonlyArray<string> = Array.from(
  { length: 128 },
  (_, byte) => `%${hex[byte >> 4]}${hex[byte & 15]}`
)

/** The bytes of `text` in `charset`, percent-encoded: the definition, for text beyond ASCII. */
const encodeBytes = (text: string, charset: Charset.Charset): string => {
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

const HEX_CODES = Uint8Array.from(hex, (c) => c.charCodeAt(0))

// The query is written as bytes into one reused buffer and read back once as a string: building it from
// pieces allocated a string per piece, and on the request path that garbage costs more than the work itself.
let scratch = Buffer.alloc(1024)

/** Writes the percent-encoding of `text` at `at` in `scratch` (grown as needed); returns the new end. */
const writeEncoded = (text: string, charset: Charset.Charset, at: number): number => {
  // An ASCII character takes at most 3 bytes; the first one beyond ASCII switches to the byte definition.
  if (scratch.length < at + 3 * text.length) grow(at + 3 * text.length)
  const start = at
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 128) return writeAscii(encodeBytes(text, charset), start)
    if (UNRESERVED_ASCII[code] === 1) scratch[at++] = code
    else {
      scratch[at++] = 0x25
      scratch[at++] = HEX_CODES[code >> 4]!
      scratch[at++] = HEX_CODES[code & 15]!
    }
  }
  return at
}

/** Writes text that is already ASCII (an encoding's output, a separator). */
const writeAscii = (ascii: string, at: number): number => {
  if (scratch.length < at + ascii.length) grow(at + ascii.length)
  // A loop: `Buffer#write` costs more than it saves on strings this short.
  for (let i = 0; i < ascii.length; i++) scratch[at++] = ascii.charCodeAt(i)
  return at
}

const grow = (size: number) => {
  const bigger = Buffer.alloc(Math.max(size, 2 * scratch.length))
  scratch.copy(bigger)
  scratch = bigger
}

/** Percent-encodes the bytes of `text` in `charset`; only RFC 3986 unreserved bytes stay as they are. */
export const percentEncode = (text: string, charset: Charset.Charset): string => {
  // Every charset here is ASCII-compatible, and request values are mostly ASCII.
  if (UNRESERVED_ONLY.test(text)) return text
  // The end first: writing may replace `scratch` with a bigger buffer, which must be the one read.
  const end = writeEncoded(text, charset, 0)
  return scratch.toString("latin1", 0, end)
}

/**
 * The inverse of `percentEncode` on one name or value: the bytes it stands for (`+` is a space), or undefined
 * for a broken `%` escape. Decoding the bytes is the caller's choice of charset.
 */
export const percentDecode = (encoded: string): Uint8Array | undefined => Form.unescapeBytes(encoded)

/** The query string (no leading `?`). */
export const toQuery = (
  params: ReadonlyArray<readonly [string, string]>,
  charset: Charset.Charset
): string => {
  let at = 0
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!
    if (i > 0) at = writeAscii("&", at)
    // `String`: a value that is not a string (from untyped code) is written as its text, as a template would.
    at = writeAscii("=", writeEncoded(String(pair[0]), charset, at))
    at = writeEncoded(String(pair[1]), charset, at)
  }
  return scratch.toString("latin1", 0, at)
}

/** Joins the gateway URL and a query, whether or not the gateway URL already has a query of its own. */
export const toUrl = (gateway: string, query: string): string =>
  `${gateway}${gateway.includes("?") ? (gateway.endsWith("?") || gateway.endsWith("&") ? "" : "&") : "?"}${query}`

/** Signs a validated request with the injected Signer and builds its URL. */
export const make = (
  request: ConfirmRequest.ConfirmRequest,
  options: { readonly gateway: string; readonly separator?: string | undefined }
): Effect.Effect<SignedRequest, Signer.SignError | Charset.EncodeError, Signer.Signer> =>
  Effect.flatMap(Signer.Signer, (signer) => makeWith(signer, request, options))

/** `make` with the Signer given directly: for callers that hold it already (the Client does). */
export const makeWith = (
  signer: Signer.Signer,
  request: ConfirmRequest.ConfirmRequest,
  options: { readonly gateway: string; readonly separator?: string | undefined }
): Effect.Effect<SignedRequest, Signer.SignError | Charset.EncodeError> => {
  const pairs = SigningString.signedPairs(ConfirmRequest.toParams(request, options.separator))
  const canonical = SigningString.join(pairs)
  // A validated request is representable; one built past `validate` may not be, and is refused unsigned.
  const bytes = SigningString.encodePairs(pairs, request.charset)
  if (Either.isLeft(bytes)) return Effect.fail(bytes.left)
  return Effect.map(signer.sign(bytes.right), (sign) => {
    const params = [
      ...pairs,
      [Protocol.Param.sign, sign] as const,
      [Protocol.Param.signType, signer.signType] as const
    ]
    return { request, params, canonical, sign, url: toUrl(options.gateway, toQuery(params, request.charset)) }
  })
}
