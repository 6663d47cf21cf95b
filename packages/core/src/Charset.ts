/**
 * The charsets `_input_charset` may name (PROTOCOL.md §2), and byte conversion in each.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import iconv from "iconv-lite"
import * as Gbk from "./internal/Gbk.js"

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

/**
 * The bytes of `text` in `charset`, for text known to be representable (text that was just decoded from
 * bytes in that charset). Anything else is substituted, as every codec does (`?` in GBK, U+FFFD for a lone
 * surrogate in UTF-8): never sign its output for text from a caller; `encodeExact` refuses such text.
 */
export const encode = (text: string, charset: Charset): Uint8Array =>
  charset === "utf-8"
    ? text.length <= SHORT
      ? (shortAscii(text) ?? utf8Encoder.encode(text))
      : utf8Encoder.encode(text)
    : (Gbk.encode(text) ?? new Uint8Array(iconv.encode(text, codec(charset))))

/**
 * Up to this length, ASCII text is copied by a loop: `TextEncoder.encode` costs a call into the runtime and a
 * fresh ArrayBuffer, about four times the loop on a short string (a signed `outer_task_id`); longer text is
 * left to it, which is faster there.
 */
const SHORT = 64

/** The bytes of short ASCII text (the same in every charset here); `undefined` at the first other character. */
const shortAscii = (text: string): Uint8Array | undefined => {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0x80) return undefined
    out[i] = code
  }
  return out
}

/**
 * Text that `charset` cannot represent: signing its encoding would sign substituted bytes, so it is refused.
 * Names the field (a parameter name, or what the text is), the charset and the first offending character.
 */
export class EncodeError extends Schema.TaggedError<EncodeError>()("EncodeError", {
  field: Schema.String,
  charset: Schema.Literal(...values),
  character: Schema.String,
  index: Schema.Number
}) {
  override get message(): string {
    return `${this.field}: ${describeCharacter(this.character)} at index ${this.index} cannot be represented in ${this.charset}`
  }
}

/** `"😀" (U+1F600)`; a lone surrogate or a control character by its code only. */
export const describeCharacter = (character: string): string => {
  const code = `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(character) ? `"${character}" (${code})` : code
}

const SURROGATE = /[\uD800-\uDFFF]/
const PAIRS = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g
const QUESTION_MARK = 0x3f
/**
 * The one character iconv-lite's GBK writes as four bytes (GB18030's 0x8135F437), into an output sized for
 * three bytes a character: text holding it can come out cut short, without any `?`. It is rare (private use),
 * so such text is checked by the round trip itself.
 */
const GBK_FOUR_BYTES = "\uE7C7"

/**
 * Whether `bytes`, the GBK encoding of `text`, has a substitution in it. iconv-lite writes `?` for what GBK
 * cannot represent, and no GBK multi-byte sequence contains the byte 0x3F (trail bytes start at 0x40; the
 * four-byte forms use 0x30-0x39), so counting is enough (but for U+E7C7, above): only text whose bytes hold more `?` than the text
 * itself does was substituted. The reference definition (encode, decode, compare) is tied to this in a
 * property test.
 */
const gbkSubstituted = (text: string, bytes: Uint8Array): boolean => {
  if (text.includes(GBK_FOUR_BYTES)) return Either.getOrUndefined(decode(bytes, "gbk")) !== text
  let marks = 0
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === QUESTION_MARK) marks++
  if (marks === 0) return false
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === QUESTION_MARK) marks--
  return marks !== 0
}

/** True when `text` holds a surrogate that is not half of a pair (UTF-8 cannot encode it). */
const hasLoneSurrogate = (text: string): boolean =>
  SURROGATE.test(text) && SURROGATE.test(text.replace(PAIRS, ""))

/**
 * True when every character of `text` survives a round trip through `charset`. GBK: a look-up per character
 * in the table of characters known to round-trip (internal/Gbk.ts), the encode-and-count check only for text
 * holding another one.
 */
export const canEncode = (text: string, charset: Charset): boolean =>
  charset === "utf-8"
    ? !hasLoneSurrogate(text)
    : Gbk.known(text) || !gbkSubstituted(text, iconv.encode(text, "gbk"))

/**
 * The index of the first character of `text` that `charset` cannot represent, or -1. For error messages, and
 * linear-ish on long hostile text: UTF-8 scans for a lone surrogate; GBK binary-searches the shortest prefix
 * (cut at code point boundaries) that `canEncode` refuses, a few whole encodes instead of one per character.
 */
export const firstUnencodable = (text: string, charset: Charset): number => {
  if (charset === "utf-8") {
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i)
      if (code < 0xd800 || code > 0xdfff) continue
      const next = text.charCodeAt(i + 1)
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++
      else return i
    }
    return -1
  }
  if (canEncode(text, charset)) return -1
  const starts: Array<number> = []
  for (let i = 0; i < text.length; i += text.codePointAt(i)! > 0xffff ? 2 : 1) starts.push(i)
  const prefixEnd = (count: number) => (count < starts.length ? starts[count]! : text.length)
  // The shortest refused prefix of `count` code points ends with the culprit; the whole text is refused.
  let low = 1
  let high = starts.length
  while (low < high) {
    const middle = (low + high) >> 1
    if (canEncode(text.slice(0, prefixEnd(middle)), charset)) low = middle + 1
    else high = middle
  }
  return starts[low - 1]!
}

const unencodable = (text: string, charset: Charset, field: string): EncodeError => {
  const index = Math.max(0, firstUnencodable(text, charset))
  return new EncodeError({
    field,
    charset,
    character: String.fromCodePoint(text.codePointAt(index) ?? 0xfffd),
    index
  })
}

/**
 * The bytes of `text` in `charset`, or an `EncodeError` naming `field` when the charset cannot represent
 * every character: what is signed is exactly the text given. One encode; the check is a scan of its bytes.
 */
export const encodeExact = (
  text: string,
  charset: Charset,
  field: string
): Either.Either<Uint8Array, EncodeError> => {
  if (charset === "utf-8")
    return hasLoneSurrogate(text)
      ? Either.left(unencodable(text, charset, field))
      : Either.right(utf8Encoder.encode(text))
  const known = Gbk.encode(text)
  if (known !== undefined) return Either.right(known)
  const bytes = iconv.encode(text, codec(charset))
  return gbkSubstituted(text, bytes)
    ? Either.left(unencodable(text, charset, field))
    : Either.right(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
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
  // Bytes made only of ASCII and forms known to round-trip are valid by construction (internal/Gbk.ts).
  const known = Gbk.decode(bytes)
  if (known !== undefined) return Either.right(known)
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
