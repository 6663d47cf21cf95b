/**
 * What the transport reads off a gateway URL: scheme, host and port to connect to, and the path and query to
 * send exactly as core signed them. A URL the WHATWG parser would normalise (a space, a dot segment, a
 * backslash, an upper-case host, ...) is refused (`undefined`) rather than sent altered.
 *
 * The parser runs once per origin, not once per request: a URL whose path and query hold only characters the
 * parser leaves as they are (and no dot segment) is split by hand, its origin parsed once and remembered. Any
 * other URL takes the parser's whole path, which decides. A property test holds the two equal
 * (test/Target.test.ts).
 *
 * @internal
 */

export interface Target {
  readonly url: string
  readonly https: boolean
  readonly hostname: string
  readonly port: number | undefined
  /** Path and query as sent. */
  readonly pathAndQuery: string
  readonly host: string
  readonly path: string
}

interface Origin {
  readonly https: boolean
  readonly hostname: string
  readonly port: number | undefined
  readonly host: string
}

/** The path and query of an absolute URL as written (no fragment), `/` when there is no path. */
const rawPathAndQuery = (url: string): string => {
  const scheme = url.indexOf("//")
  let start = scheme + 2
  while (start < url.length) {
    const c = url.charCodeAt(start)
    if (c === 47 || c === 63 || c === 35) break // "/", "?", "#"
    start++
  }
  const hash = url.indexOf("#", start)
  const rest = url.slice(start, hash < 0 ? url.length : hash)
  return rest.length === 0 || rest.charCodeAt(0) !== 47 ? `/${rest}` : rest
}

const originOf = (parsed: URL): Origin => {
  const hostname = parsed.hostname
  return {
    https: parsed.protocol === "https:",
    hostname: hostname.startsWith("[") ? hostname.slice(1, -1) : hostname,
    port: parsed.port === "" ? undefined : Number(parsed.port),
    host: parsed.host
  }
}

/** The parser's answer, for every URL. */
export const parseSlow = (url: string): Target | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return undefined
  // The gateway must see the bytes that were signed.
  const pathAndQuery = parsed.pathname + parsed.search
  if (rawPathAndQuery(url) !== pathAndQuery) return undefined
  return { url, ...originOf(parsed), pathAndQuery, path: parsed.pathname }
}

// Characters the parser keeps as written, in a path and in a query of an http(s) URL: letters, digits and
// - . _ ~ ! $ & ( ) * + , ; = : @ /. (`%` only in the query: in a path `%2e` can make a dot segment; `?` only
// in the query, where it is kept.)
const KEPT = new Uint8Array(128)
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&()*+,;=:@/")
  KEPT[c.charCodeAt(0)] = 1
// An authority the parser keeps as written: lower-case letters, digits, `.`, `-` and a `:port`.
const AUTHORITY = /^[a-z0-9.-]+(?::[0-9]{1,5})?$/

const origins = new Map<string, Origin | null>()
const MAX_ORIGINS = 64

const origin = (text: string): Origin | undefined => {
  let known = origins.get(text)
  if (known === undefined) {
    let parsed: URL | undefined
    try {
      parsed = new URL(`${text}/`)
    } catch {
      parsed = undefined
    }
    // Kept only when the parser writes the authority back unchanged (no default port, no IPv4 shorthand).
    known = parsed !== undefined && `${parsed.protocol}//${parsed.host}` === text ? originOf(parsed) : null
    if (origins.size >= MAX_ORIGINS) origins.clear()
    origins.set(text, known)
  }
  return known ?? undefined
}

/** Whether `url`'s path and query, from `from` on, are kept by the parser exactly as written. */
const keptAsWritten = (url: string, from: number): { readonly query: number } | undefined => {
  let query = -1
  let segment = from + 1
  for (let i = from + 1; i <= url.length; i++) {
    const c = i < url.length ? url.charCodeAt(i) : -1
    if (query < 0 && (c === 47 || c === 63 || c === -1)) {
      // The end of a path segment: "." and ".." are dot segments, which the parser removes.
      const length = i - segment
      if (
        (length === 1 && url.charCodeAt(segment) === 46) ||
        (length === 2 && url.charCodeAt(segment) === 46 && url.charCodeAt(segment + 1) === 46)
      )
        return undefined
      segment = i + 1
    }
    if (c === -1) break
    if (c === 63 /* ? */) {
      if (query < 0) query = i
      continue
    }
    if (c === 37 /* % */) {
      if (query < 0) return undefined
      continue
    }
    if (c >= 128 || KEPT[c] === 0) return undefined
  }
  // An empty query ("?" last) is dropped by the parser.
  if (query === url.length - 1) return undefined
  return { query }
}

/** What may be sent for `url`, or `undefined` when it is not an absolute http(s) URL in normal form. */
export const parse = (url: string): Target | undefined => {
  const https = url.startsWith("https://")
  if (https || url.startsWith("http://")) {
    const slash = url.indexOf("/", https ? 8 : 7)
    if (slash > 0) {
      const authority = url.slice(https ? 8 : 7, slash)
      const kept = AUTHORITY.test(authority) ? keptAsWritten(url, slash) : undefined
      const known = kept === undefined ? undefined : origin(url.slice(0, slash))
      if (kept !== undefined && known !== undefined) {
        const pathAndQuery = url.slice(slash)
        return {
          url,
          https: known.https,
          hostname: known.hostname,
          port: known.port,
          host: known.host,
          pathAndQuery,
          path: kept.query < 0 ? pathAndQuery : url.slice(slash, kept.query)
        }
      }
    }
  }
  return parseSlow(url)
}
