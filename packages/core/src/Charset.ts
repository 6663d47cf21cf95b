/**
 * The charsets `_input_charset` may name (PROTOCOL.md §2), and byte conversion in each.
 *
 * @since 0.1.0
 */
import { Either, Schema } from "effect"
import iconv from "iconv-lite"

/** The canonical (lower-case) names. `gb2312` text is encoded with a GBK-compatible codec (PROTOCOL.md §3). */
export const values = ["utf-8", "gbk", "gb2312"] as const

export type Charset = (typeof values)[number]

/** Accepts any letter case on the wire (`UTF-8` = `utf-8`) and normalises to lower case. */
export const Charset: Schema.Schema<Charset, string> = Schema.transform(
  Schema.String.annotations({ title: "charset" }),
  Schema.Literal(...values),
  { strict: true, decode: (s) => s.toLowerCase() as Charset, encode: (c) => c }
).annotations({
  identifier: "Charset",
  message: () => `must be one of ${values.join(", ")} (any letter case)`
})

/** Parses a charset name in any letter case; `undefined` when it is not one we speak. */
export const parse = (name: string): Charset | undefined => {
  const lower = name.trim().toLowerCase()
  if (lower === "utf8") return "utf-8"
  return (values as ReadonlyArray<string>).includes(lower) ? (lower as Charset) : undefined
}

const codec = (charset: Charset): string => (charset === "utf-8" ? "utf8" : "gbk")

const utf8Encoder = new TextEncoder()

/** The bytes of `text` in `charset`. Characters GBK cannot represent become `?`, as every GBK codec does. */
export const encode = (text: string, charset: Charset): Uint8Array =>
  charset === "utf-8" ? utf8Encoder.encode(text) : new Uint8Array(iconv.encode(text, codec(charset)))

const SURROGATE = /[\uD800-\uDFFF]/

/** True when every character of `text` survives a round trip through `charset`. */
export const canEncode = (text: string, charset: Charset): boolean => {
  if (charset === "utf-8")
    return !SURROGATE.test(text) || !SURROGATE.test(text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""))
  return iconv.decode(iconv.encode(text, "gbk"), "gbk") === text
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * Decodes `bytes` strictly: an invalid sequence is an error, never a silent U+FFFD, because a replaced
 * character would make two different byte strings decode to the same text.
 */
export const decode = (bytes: Uint8Array, charset: Charset): Either.Either<string, string> => {
  if (charset === "utf-8") {
    try {
      return Either.right(fatalUtf8.decode(bytes))
    } catch {
      return Either.left("invalid utf-8 byte sequence")
    }
  }
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const text = iconv.decode(buffer, "gbk")
  // GBK decoding is lossy on invalid input; a byte-exact round trip proves the input was valid.
  if (!buffer.equals(iconv.encode(text, "gbk"))) return Either.left(`invalid ${charset} byte sequence`)
  return Either.right(text)
}

/** True when `a` and `b` decode every byte string alike: `gbk` and `gb2312` share one codec (PROTOCOL.md §3). */
export const sameDecoding = (a: Charset, b: Charset): boolean => codec(a) === codec(b)

/** The `charset` parameter of a Content-Type, tolerant of the malformed values Alipay sends (PROTOCOL.md §6). */
export const fromContentType = (contentType: string | undefined): Charset | undefined => {
  if (contentType === undefined) return undefined
  const match = /(?:^|[;\s,])charset\s*=\s*"?([A-Za-z0-9_-]+)"?/i.exec(contentType)
  return match ? parse(match[1]!) : undefined
}
