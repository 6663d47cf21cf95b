// A signed request in two steps, for the request path (`SignedRequest.makeWith`, `Client.prepare`): what the
// signature does not change first (the canonical pairs, string and bytes, the query of those pairs), then the
// signature appended. Beside one DSA signature every microsecond shows (BENCHMARKS.md row 1): an ASCII
// request (nearly every one) is scanned once for its bytes and its query, where encoding, the charset check and
// percent-encoding each walked it again.
import { Either } from "effect"
import * as Charset from "../Charset.js"
import * as ConfirmRequest from "../ConfirmRequest.js"
import * as Protocol from "../Protocol.js"
import type { SignedRequest } from "../SignedRequest.js"
import type * as Signer from "../Signer.js"
import * as SigningString from "../SigningString.js"
import * as Percent from "./percent.js"

// One writer for the request path (synchronous: each use resets, writes and reads with nothing in between).
export const writer = new Percent.Writer()

/** The query of `params` (no leading `?`): each name and value percent-encoded from its `charset` bytes. */
export const query = (params: ReadonlyArray<readonly [string, string]>, charset: Charset.Charset): string => {
  writer.reset()
  for (let i = 0; i < params.length; i++) {
    const pair = params[i]!
    if (i > 0) writer.ascii("&")
    // `String`: a value that is not a string (from untyped code) is written as its text, as a template would.
    writer.encoded(String(pair[0]), charset).ascii("=").encoded(String(pair[1]), charset)
  }
  return writer.read()
}

/** What goes before a query: the gateway URL and `?`, or `&` when it has a query of its own already. */
const urlPrefix = (gateway: string): string =>
  `${gateway}${gateway.includes("?") ? (gateway.endsWith("?") || gateway.endsWith("&") ? "" : "&") : "?"}`

// The last gateway's prefix: a client sends to one gateway.
let lastGateway: string | undefined
let lastPrefix = ""

/** Joins the gateway URL and a query, whether or not the gateway URL already has a query of its own. */
export const url = (gateway: string, query: string): string => {
  if (gateway !== lastGateway) {
    lastPrefix = urlPrefix(gateway)
    lastGateway = gateway
  }
  return lastPrefix + query
}

/**
 * `SigningString.signedPairs(ConfirmRequest.toParams(request, separator))`, built in canonical order directly:
 * a request's parameter names are fixed, and so is their byte order, so there is nothing to sort (and no
 * second array). Tied to that definition by a property test.
 */
export const canonicalPairs = (
  request: ConfirmRequest.ConfirmRequest,
  separator: string = Protocol.DEFAULT_TRANSFER_SEPARATOR
): Array<readonly [string, string]> => {
  const pairs: Array<readonly [string, string]> = []
  // Empty values are not signed (a validated request has none; one built past `validate` may).
  if ((request.charset as string) !== "") pairs.push([Protocol.Param.inputCharset, request.charset])
  if (request.notifyUrl !== undefined && request.notifyUrl !== "")
    pairs.push([Protocol.Param.notifyUrl, request.notifyUrl])
  if (request.outerTaskId !== "") pairs.push([Protocol.Param.outerTaskId, request.outerTaskId])
  if (request.partner !== "") pairs.push([Protocol.Param.partner, request.partner])
  pairs.push([Protocol.Param.service, Protocol.SERVICE])
  const detail = request.transfers.join(separator)
  if (detail !== "") pairs.push([Protocol.Param.transferDetail, detail])
  return pairs
}

/** A request before its signature. */
export interface Unsigned {
  /** The signed pairs, in canonical order. */
  readonly pairs: ReadonlyArray<readonly [string, string]>
  readonly canonical: string
  /** What is signed: the canonical string in the request's charset. */
  readonly bytes: Uint8Array
  /** The query of `pairs`; `undefined` when it was left in the writer, in `session`. */
  readonly query: string | undefined
  readonly session: number
}

/**
 * The request's canonical pairs, string, bytes and query; an EncodeError naming the parameter its charset
 * cannot represent (a validated request always can; one built past `validate` may not). With `leaveQuery`,
 * for a caller that signs synchronously right away, the query stays in the writer and `signed` goes on
 * writing after it: the URL is read out once.
 */
export const unsigned = (
  request: ConfirmRequest.ConfirmRequest,
  separator?: string | undefined,
  leaveQuery = false
): Unsigned | Charset.EncodeError => {
  const pairs = canonicalPairs(request, separator)
  const ascii = writer.reset().asciiPairs(pairs)
  if (ascii !== undefined)
    return {
      pairs,
      // ASCII: the canonical string is its bytes read one to a character.
      canonical: ascii.toString("latin1"),
      // A plain Uint8Array, as the other charsets' bytes are, over the same memory.
      bytes: new Uint8Array(ascii.buffer, ascii.byteOffset, ascii.length),
      query: leaveQuery ? undefined : writer.read(),
      session: writer.session
    }
  const exact = SigningString.encodePairs(pairs, request.charset)
  if (exact._tag === "Left") return exact.left
  const written = query(pairs, request.charset)
  return {
    pairs,
    canonical: SigningString.join(pairs),
    bytes: exact.right,
    query: leaveQuery ? undefined : written,
    session: writer.session
  }
}

// The names are the protocol's, unreserved: written as they are.
const SIGN_FIRST = `${Protocol.Param.sign}=`
const SIGN_AFTER = `&${SIGN_FIRST}`
const SIGN_TYPE_AFTER = `&${Protocol.Param.signType}=`

/** The signed request: `sign` and `sign_type` after the pairs, in `params` and in the URL's query. */
export const signed = (
  request: ConfirmRequest.ConfirmRequest,
  unsigned: Unsigned,
  sign: string,
  signType: string,
  gateway: string
): SignedRequest => {
  const charset = request.charset
  // The query left in the writer, if nothing else wrote there since (a signer that encodes something).
  const inWriter = unsigned.query === undefined && writer.session === unsigned.session
  const head = inWriter ? "" : (unsigned.query ?? query(unsigned.pairs, charset))
  if (!inWriter) writer.reset()
  const rest = writer
    .ascii((inWriter ? writer.length === 0 : head === "") ? SIGN_FIRST : SIGN_AFTER)
    .encoded(String(sign), charset)
    .ascii(SIGN_TYPE_AFTER)
    .encoded(String(signType), charset)
    .read()
  const params: Array<readonly [string, string]> = unsigned.pairs.slice()
  params.push([Protocol.Param.sign, sign], [Protocol.Param.signType, signType])
  return { request, params, canonical: unsigned.canonical, sign, url: url(gateway, head + rest) }
}

/**
 * A request signed in this very step by a synchronous signer (`Signer.syncOf`): the canonical bytes, the
 * signature and the URL without an Effect of the signer's own to run and continue from. Both callers are
 * already inside a running effect, so nothing here happens before the caller's effect runs. Whatever the
 * signer returns that is not a string is its failure, as `Signer.makeSync`'s own `sign` treats it.
 */
export const signNow = (
  signSync: Signer.SignSync,
  signType: string,
  request: ConfirmRequest.ConfirmRequest,
  options: { readonly gateway: string; readonly separator?: string | undefined }
): Either.Either<SignedRequest, Charset.EncodeError | Signer.SignError> => {
  const pending = unsigned(request, options.separator, true)
  if (pending instanceof Charset.EncodeError) return Either.left(pending)
  const signature = signSync(pending.bytes)
  return typeof signature === "string"
    ? Either.right(signed(request, pending, signature, signType, options.gateway))
    : Either.left(signature)
}
