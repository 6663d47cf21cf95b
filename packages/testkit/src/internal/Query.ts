// Reads a GET URL's query the way a servlet gateway does, but from the raw bytes: names and values are
// percent-decoded to bytes (`+` is a space) and only then decoded in a charset, by the caller.
import * as SignedRequest from "@witkey/core/SignedRequest"
import { Either } from "effect"

export interface RawPair {
  readonly name: Uint8Array
  readonly value: Uint8Array
}

export type ParseResult =
  | { readonly _tag: "Ok"; readonly pairs: ReadonlyArray<RawPair> }
  | { readonly _tag: "Malformed"; readonly message: string }

// Unescaping is core's (`SignedRequest.percentDecode`); a servlet query also never holds a raw character.
const unescape = (segment: string): Uint8Array | string => {
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return `raw character U+${c.toString(16).padStart(4, "0")} in the query`
  }
  return Either.getOrElse(SignedRequest.percentDecode(segment), (message): Uint8Array | string => message)
}

/** The query of `url` (after the first `?`, up to a `#`), pairs in order; empty segments are skipped. */
export const parse = (url: string): ParseResult => {
  const start = url.indexOf("?")
  if (start < 0) return { _tag: "Ok", pairs: [] }
  const hash = url.indexOf("#", start)
  const query = url.slice(start + 1, hash < 0 ? undefined : hash)
  const pairs: Array<RawPair> = []
  for (const segment of query.split("&")) {
    if (segment === "") continue
    const eq = segment.indexOf("=")
    const name = unescape(eq < 0 ? segment : segment.slice(0, eq))
    const value = unescape(eq < 0 ? "" : segment.slice(eq + 1))
    if (typeof name === "string") return { _tag: "Malformed", message: name }
    if (typeof value === "string") return { _tag: "Malformed", message: value }
    pairs.push({ name, value })
  }
  return { _tag: "Ok", pairs }
}

/** ASCII text of bytes, or undefined when any byte is not printable ASCII. */
export const ascii = (bytes: Uint8Array): string | undefined => {
  let out = ""
  for (const b of bytes) {
    if (b < 0x20 || b > 0x7e) return undefined
    out += String.fromCharCode(b)
  }
  return out
}
