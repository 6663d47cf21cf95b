// Reads a GET URL's query the way a servlet gateway does, but from the raw bytes: names and values are
// percent-decoded to bytes (`+` is a space) and only then decoded in a charset, by the caller.

const hexValue = (c: number) =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x41 && c <= 0x46
      ? c - 0x37
      : c >= 0x61 && c <= 0x66
        ? c - 0x57
        : -1

export interface RawPair {
  readonly name: Uint8Array
  readonly value: Uint8Array
}

export type ParseResult =
  | { readonly _tag: "Ok"; readonly pairs: ReadonlyArray<RawPair> }
  | { readonly _tag: "Malformed"; readonly message: string }

const unescape = (segment: string): Uint8Array | string => {
  const out: Array<number> = []
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i)
    if (c === 0x2b) out.push(0x20)
    else if (c === 0x25) {
      const hi = hexValue(segment.charCodeAt(i + 1))
      const lo = hexValue(segment.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) return `invalid percent-escape "${segment.slice(i, i + 3)}"`
      out.push((hi << 4) | lo)
      i += 2
    } else if (c < 0x21 || c > 0x7e) return `raw character U+${c.toString(16).padStart(4, "0")} in the query`
    else out.push(c)
  }
  return Uint8Array.from(out)
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
