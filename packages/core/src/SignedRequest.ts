/**
 * A request ready to send: its parameters, canonical string, signature and the GET URL (PROTOCOL.md §2, §3).
 * Re-sending means sending this value again, byte for byte; nothing is re-signed.
 *
 * @since 0.1.0
 */
import { Effect, Either } from "effect"
import * as Charset from "./Charset.js"
import * as ConfirmRequest from "./ConfirmRequest.js"
import * as Percent from "./internal/percent.js"
import * as Signing from "./internal/signing.js"
import * as Signer from "./Signer.js"

export interface SignedRequest {
  readonly request: ConfirmRequest.ConfirmRequest
  /** Every parameter sent, `sign` and `sign_type` last, in the order they appear in the query. */
  readonly params: ReadonlyArray<readonly [string, string]>
  readonly canonical: string
  readonly sign: string
  /** The full GET URL: gateway plus the query, each name and value percent-encoded from its charset bytes. */
  readonly url: string
}

const UNRESERVED_ONLY = /^[A-Za-z0-9._~-]*$/

/** Percent-encodes the bytes of `text` in `charset`; only RFC 3986 unreserved bytes stay as they are. */
export const percentEncode = (text: string, charset: Charset.Charset): string => {
  // Every charset here is ASCII-compatible, and request values are mostly ASCII.
  if (UNRESERVED_ONLY.test(text)) return text
  return Signing.writer.reset().encoded(text, charset).read()
}

/**
 * The bytes of a percent-encoded name or value (`+` is a space): the inverse of `percentEncode`, before the
 * charset decoding. Refuses a `%` not followed by two hex digits.
 */
export const percentDecode = (encoded: string): Either.Either<Uint8Array, string> => {
  const out = new Uint8Array(encoded.length)
  const n = Percent.unescapeInto(encoded, 0, encoded.length, out)
  if (n < 0) return Either.left(`invalid percent-escape "${encoded.slice(-1 - n, 2 - n)}"`)
  return Either.right(out.subarray(0, n))
}

/** The query string (no leading `?`). */
export const toQuery: (params: ReadonlyArray<readonly [string, string]>, charset: Charset.Charset) => string =
  Signing.query

/** Joins the gateway URL and a query, whether or not the gateway URL already has a query of its own. */
export const toUrl: (gateway: string, query: string) => string = Signing.url

/** Signs a validated request with the injected Signer and builds its URL. */
export const make = (
  request: ConfirmRequest.ConfirmRequest,
  options: { readonly gateway: string; readonly separator?: string | undefined }
): Effect.Effect<SignedRequest, Signer.SignError | Charset.EncodeError, Signer.Signer> =>
  Effect.flatMap(Signer.Signer, (signer) => {
    // A synchronous signer (crypto-dsa's) signs in this step, as `Client.prepare` does: no Effect of its own
    // to run and continue from (row 6a's path; BENCHMARKS.md, eighth pass).
    const signSync = Signer.syncOf(signer)
    if (signSync === undefined) return makeWith(signer, request, options)
    const signed = Signing.signNow(signSync, signer.signType, request, options)
    return Either.isRight(signed) ? Effect.succeed(signed.right) : Effect.fail(signed.left)
  })

/** `make` with the Signer given directly: for callers that hold it already (the Client does). */
export const makeWith = (
  signer: Signer.Signer,
  request: ConfirmRequest.ConfirmRequest,
  options: { readonly gateway: string; readonly separator?: string | undefined }
): Effect.Effect<SignedRequest, Signer.SignError | Charset.EncodeError> => {
  // A validated request is representable; one built past `validate` may not be, and is refused unsigned.
  const unsigned = Signing.unsigned(request, options.separator)
  if (unsigned instanceof Charset.EncodeError) return Effect.fail(unsigned)
  // flatMap and succeed: `Effect.map` is a flatMap and a sync, one step more of the fiber per request.
  return Effect.flatMap(signer.sign(unsigned.bytes), (sign) =>
    Effect.succeed(Signing.signed(request, unsigned, sign, signer.signType, options.gateway))
  )
}
