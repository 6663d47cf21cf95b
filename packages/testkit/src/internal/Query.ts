// Reads a gateway GET URL the way a servlet gateway does, but from the raw bytes: names and values are
// percent-decoded to bytes (`+` is a space; core's one implementation) and only then decoded in the request's
// `_input_charset`, strictly. The codes are the gateway's (docs/SANDBOX.md, "The gateway").
import * as Charset from "@witkey/core/Charset"
import * as Protocol from "@witkey/core/Protocol"
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

/**
 * What is needed to build any answer: the decoded parameters and charset, or the code that refuses them.
 * `service` is known whenever a `service` parameter with an ASCII value is present, even in a query refused
 * otherwise, so that a broken notify_verify is still answered as one.
 */
export type Read =
  | {
      readonly _tag: "Read"
      readonly service: string
      readonly params: ReadonlyArray<readonly [string, string]>
      readonly byName: ReadonlyMap<string, string>
      readonly charset: Charset.Charset
    }
  | {
      readonly _tag: "Unreadable"
      readonly service: string | undefined
      readonly code: string
      readonly charset: Charset.Charset
      /** Why, for a person reading the request log. */
      readonly reason: string
    }

export const read = (url: string): Read => {
  const parsed = parse(url)
  if (parsed._tag === "Malformed")
    return {
      _tag: "Unreadable",
      service: undefined,
      code: "ILLEGAL_ARGUMENT",
      charset: "utf-8",
      reason: parsed.message
    }
  const pairs = parsed.pairs
  const nameOf = pairs.map((pair) => ascii(pair.name))
  const serviceRaw = pairs[nameOf.indexOf(Protocol.Param.service)]?.value
  const service = serviceRaw === undefined ? undefined : ascii(serviceRaw)
  const refuse = (code: string, reason: string, charset: Charset.Charset = "utf-8"): Read => ({
    _tag: "Unreadable",
    service,
    code,
    charset,
    reason
  })
  const names: Array<string> = []
  for (const name of nameOf) {
    if (name === undefined) return refuse("ILLEGAL_ARGUMENT", "a parameter name is not ASCII")
    if (names.includes(name)) return refuse("ILLEGAL_ARGUMENT", `parameter ${name} is given twice`)
    names.push(name)
  }
  if (service !== Protocol.SERVICE && service !== Protocol.NotifyVerify.service)
    return refuse("ILLEGAL_SERVICE", "service is missing or not one this gateway offers")
  const charsetRaw = pairs[names.indexOf(Protocol.Param.inputCharset)]?.value
  const charsetText = charsetRaw === undefined ? undefined : ascii(charsetRaw)?.toLowerCase()
  let charset = (Charset.values as ReadonlyArray<string>).includes(charsetText ?? "")
    ? (charsetText as Charset.Charset)
    : undefined
  // notify_verify is sent without a charset (core sends it in utf-8).
  if (charset === undefined && service === Protocol.NotifyVerify.service && charsetRaw === undefined)
    charset = "utf-8"
  if (charset === undefined)
    return refuse("ILLEGAL_CHARSET", "_input_charset is missing or not utf-8, gbk or gb2312")
  const params: Array<readonly [string, string]> = []
  for (const [i, name] of names.entries()) {
    const value = Charset.decode(pairs[i]!.value, charset)
    if (Either.isLeft(value))
      return refuse("ILLEGAL_ENCODING", `parameter ${name} is not valid ${charset}`, charset)
    params.push([name, value.right])
  }
  return { _tag: "Read", service, params, byName: new Map(params), charset }
}
