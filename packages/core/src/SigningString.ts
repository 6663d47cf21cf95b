/**
 * The canonical string that is signed (PROTOCOL.md §3): every parameter but `sign` and `sign_type`, empty
 * values dropped, sorted by name in byte order, joined as `name=value` with `&`, values raw.
 *
 * @since 0.1.0
 */
import { Either } from "effect"
import * as Charset from "./Charset.js"
import { createHash } from "node:crypto"
import { UNSIGNED_PARAMS } from "./Protocol.js"

/** Parameters as name/value pairs, in any order. */
export type Params = Iterable<readonly [string, string]>

/**
 * Byte order of the names. For the names this protocol uses (ASCII) it is plain code-unit order; comparing
 * code points keeps it equal to UTF-8 byte order for any name.
 */
export const compareNames = (a: string, b: string): number => {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    // Below the surrogates, code units order like code points; from there on, compare whole code points.
    if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1
    const cx = a.codePointAt(i)!
    const cy = b.codePointAt(i)!
    return cx < cy ? -1 : cx > cy ? 1 : 0
  }
  return a.length - b.length
}

/** The pairs that are signed, in canonical order. */
export const signedPairs = (params: Params): Array<readonly [string, string]> => {
  const pairs: Array<readonly [string, string]> = []
  for (const pair of params) {
    if (pair[1] === "" || UNSIGNED_PARAMS.has(pair[0])) continue
    pairs.push(pair)
  }
  if (pairs.length > 32) return pairs.sort((a, b) => compareNames(a[0], b[0]))
  // A request or a notification has a handful of parameters: an insertion sort (stable, like `sort`)
  // allocates nothing, where the built-in sort copies into work arrays.
  for (let i = 1; i < pairs.length; i++) {
    const pair = pairs[i]!
    let j = i
    while (j > 0 && compareNames(pairs[j - 1]![0], pair[0]) > 0) {
      pairs[j] = pairs[j - 1]!
      j--
    }
    pairs[j] = pair
  }
  return pairs
}

/** Joins pairs that are already canonical (the output of `signedPairs`) as `name=value&…`. */
export const join = (pairs: ReadonlyArray<readonly [string, string]>): string => {
  let out = ""
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!
    out += i === 0 ? `${pair[0]}=${pair[1]}` : `&${pair[0]}=${pair[1]}`
  }
  return out
}

/** The canonical string. */
export const make = (params: Params): string => join(signedPairs(params))

/**
 * The canonical string's bytes in `charset`, for parameters known to be representable in it (text decoded
 * from that charset, to verify). To sign a caller's text, `encode`: it refuses what would be substituted.
 */
export const bytes = (params: Params, charset: Charset.Charset): Uint8Array =>
  Charset.encode(make(params), charset)

/** The bytes of canonical pairs (the output of `signedPairs`), or an EncodeError naming the parameter. */
export const encodePairs = (
  pairs: ReadonlyArray<readonly [string, string]>,
  charset: Charset.Charset
): Either.Either<Uint8Array, Charset.EncodeError> => {
  const canonical = join(pairs)
  const exact = Charset.encodeExact(canonical, charset, "canonical string")
  if (Either.isRight(exact)) return exact
  // The slow path only for text that is refused: find the parameter, and the character's place in it.
  for (const [name, value] of pairs) {
    for (const [text, field] of [
      [value, name],
      [name, `parameter name ${JSON.stringify(name)}`]
    ] as const) {
      const refused = Charset.encodeExact(text, charset, field)
      if (Either.isLeft(refused)) return refused
    }
  }
  return exact
}

/** The canonical string's bytes in `charset`, exactly what is signed; an EncodeError naming the parameter
 * whose text the charset cannot represent. */
export const encode = (
  params: Params,
  charset: Charset.Charset
): Either.Either<Uint8Array, Charset.EncodeError> => encodePairs(signedPairs(params), charset)

/**
 * Splits a canonical string back into its pairs, given the parameter names that may occur. Unambiguous for
 * any accepted request, because accepted values never contain `&` (PROTOCOL.md §2).
 */
export const split = (canonical: string): Array<readonly [string, string]> =>
  canonical === ""
    ? []
    : canonical.split("&").map((segment) => {
        const at = segment.indexOf("=")
        return at < 0 ? ([segment, ""] as const) : ([segment.slice(0, at), segment.slice(at + 1)] as const)
      })

/** What a person needs to compare a canonical string with their own: charset, byte length, SHA-256 prefix. */
export const describe = (
  canonicalBytes: Uint8Array,
  charset: Charset.Charset
): { readonly charset: string; readonly canonicalBytes: number; readonly canonicalSha256Prefix: string } => ({
  charset,
  canonicalBytes: canonicalBytes.length,
  // A digest of public bytes for a person to compare, not a key operation (ARCHITECTURE.md: what core may use).
  canonicalSha256Prefix: createHash("sha256").update(canonicalBytes).digest("hex").slice(0, 16)
})
