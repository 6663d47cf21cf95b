// The hardened XML reading shared by responses and notification payloads. fast-xml-parser does the parsing;
// a linear pre-scan refuses what it would accept silently (DOCTYPE, entity declarations) and bounds depth and
// width before any tree is built, and entities are decoded here, by us, from a closed list.
import { Either } from "effect"
import { XMLParser } from "fast-xml-parser"

export interface XmlElement {
  readonly name: string
  readonly children: ReadonlyArray<XmlElement>
  /** The element's own text nodes joined, entities decoded, untrimmed. */
  readonly text: string
}

export interface XmlLimits {
  readonly maxDepth: number
  readonly maxElements: number
}

export type XmlFailure = {
  readonly reason: "forbidden_markup" | "too_deep" | "not_xml"
  readonly message: string
}

const fail = (reason: XmlFailure["reason"], message: string) => Either.left<XmlFailure>({ reason, message })

const NAME = /^[A-Za-z_:\u00C0-\uFFFF][A-Za-z0-9_.:\-\u00B7-\uFFFF]*$/

/**
 * One pass over the text: markup declarations refused, element depth and count bounded, and the tags checked
 * for balance (names well formed, every end tag matching its start, one root, nothing left open), so that a
 * truncated or garbled document is refused here rather than read leniently by the parser.
 */
export const prescan = (text: string, limits: XmlLimits): Either.Either<void, XmlFailure> => {
  const open: Array<string> = []
  let elements = 0
  let roots = 0
  let i = text.indexOf("<")
  while (i >= 0 && i < text.length) {
    const next = text.charCodeAt(i + 1)
    if (text.startsWith("<!--", i)) {
      const end = text.indexOf("-->", i + 4)
      if (end < 0) return fail("not_xml", "unterminated comment")
      i = text.indexOf("<", end + 3)
      continue
    }
    if (text.startsWith("<![CDATA[", i)) {
      if (open.length === 0) return fail("not_xml", "CDATA outside the root element")
      const end = text.indexOf("]]>", i + 9)
      if (end < 0) return fail("not_xml", "unterminated CDATA section")
      i = text.indexOf("<", end + 3)
      continue
    }
    if (next === 0x21 /* ! */) {
      return fail(
        "forbidden_markup",
        "DOCTYPE and other markup declarations are refused (entity expansion, XXE)"
      )
    }
    if (next === 0x3f /* ? */) {
      const end = text.indexOf("?>", i + 2)
      if (end < 0) return fail("not_xml", "unterminated processing instruction")
      i = text.indexOf("<", end + 2)
      continue
    }
    // An element tag: find its end, skipping quoted attribute values.
    let j = i + 1
    let quote = 0
    for (; j < text.length; j++) {
      const c = text.charCodeAt(j)
      if (quote !== 0) {
        if (c === quote) quote = 0
      } else if (c === 0x22 || c === 0x27) quote = c
      else if (c === 0x3e /* > */) break
    }
    if (j >= text.length) return fail("not_xml", "unterminated tag")
    const closing = next === 0x2f /* / */
    const selfClosing = !closing && text.charCodeAt(j - 1) === 0x2f
    const inner = text.slice(closing ? i + 2 : i + 1, selfClosing ? j - 1 : j)
    const name = /^[^\s/>]*/.exec(inner)![0]
    if (!NAME.test(name)) return fail("not_xml", `invalid element name at offset ${i}`)
    if (closing) {
      if (inner.slice(name.length).trim() !== "") return fail("not_xml", `junk in the end tag of <${name}>`)
      if (open.pop() !== name) return fail("not_xml", `end tag </${name}> does not match its start tag`)
    } else {
      if (open.length === 0 && ++roots > 1) return fail("not_xml", "more than one root element")
      elements++
      if (elements > limits.maxElements) return fail("too_deep", `more than ${limits.maxElements} elements`)
      if (!selfClosing) {
        open.push(name)
        if (open.length > limits.maxDepth)
          return fail("too_deep", `elements nest deeper than ${limits.maxDepth}`)
      }
    }
    i = text.indexOf("<", j + 1)
  }
  if (open.length > 0) return fail("not_xml", `<${open[open.length - 1]}> is not closed (truncated?)`)
  if (roots === 0) return fail("not_xml", "no root element")
  return Either.void
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false as unknown as string,
  cdataPropName: "#cdata",
  // Keep element names as written: the parser's default renames `toString` to `__toString`, which would
  // change a signed name. Our tree reads own keys only, so no name can reach Object.prototype; the critical
  // names (`__proto__`, `constructor`, `prototype`) still make the parser throw, which we report as not_xml.
  onDangerousProperty: (name: string) => name
} as ConstructorParameters<typeof XMLParser>[0])

// A Map, not an object literal: `&constructor;` must not find Object.prototype's members.
const named: ReadonlyMap<string, string> = new Map([
  ["lt", "<"],
  ["gt", ">"],
  ["amp", "&"],
  ["quot", '"'],
  ["apos", "'"]
])

/** Decodes the five predefined entities and character references; any other entity is an error. */
export const decodeEntities = (raw: string): Either.Either<string, XmlFailure> => {
  let failure: XmlFailure | undefined
  const text = raw.replace(/&([^;&\s]{0,10});?/g, (whole, name: string) => {
    if (!whole.endsWith(";")) failure ??= { reason: "not_xml", message: "bare & in text" }
    else if (named.has(name)) return named.get(name)!
    else if (/^#\d{1,7}$/.test(name) || /^#x[0-9a-fA-F]{1,6}$/.test(name)) {
      const code = name[1] === "x" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10)
      if (code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) && code !== 0)
        return String.fromCodePoint(code)
      failure ??= { reason: "not_xml", message: `invalid character reference &${name};` }
    } else failure ??= { reason: "not_xml", message: `undefined entity &${name};` }
    return ""
  })
  return failure ? Either.left(failure) : Either.right(text)
}

type Ordered = Array<Record<string, unknown>>

const build = (name: string, nodes: Ordered): Either.Either<XmlElement, XmlFailure> => {
  const children: Array<XmlElement> = []
  let text = ""
  for (const node of nodes) {
    for (const key of Object.keys(node)) {
      if (key === ":@") continue
      const value = node[key]
      if (key === "#text") {
        const decoded = decodeEntities(String(value))
        if (Either.isLeft(decoded)) return Either.left(decoded.left)
        text += decoded.right
      } else if (key === "#cdata") {
        for (const part of value as Ordered) text += String(part["#text"] ?? "")
      } else {
        const child = build(key, value as Ordered)
        if (Either.isLeft(child)) return child
        children.push(child.right)
      }
    }
  }
  return Either.right({ name, children, text })
}

/** Parses a whole document into its single root element, or says why not. */
export const parse = (text: string, limits: XmlLimits): Either.Either<XmlElement, XmlFailure> => {
  const scanned = prescan(text, limits)
  if (Either.isLeft(scanned)) return Either.left(scanned.left)
  // No XMLValidator pass: the prescan's balance check refuses truncated and garbled documents, and a second
  // full parse would double the cost of every decode.
  let doc: Ordered
  try {
    doc = parser.parse(text) as Ordered
  } catch (e) {
    return fail("not_xml", `not well-formed XML: ${e instanceof Error ? e.message : String(e)}`)
  }
  const roots = doc.flatMap((node) =>
    Object.keys(node)
      .filter((k) => k !== ":@" && k !== "#text" && k !== "#cdata")
      .map((k) => [k, node[k]] as const)
  )
  const strayText = doc.some(
    (node) => typeof node["#text"] === "string" && trim(node["#text"] as string) !== ""
  )
  if (roots.length !== 1 || strayText)
    return fail("not_xml", `expected one root element, found ${roots.length}`)
  return build(roots[0]![0], roots[0]![1] as Ordered)
}

/**
 * Trims what XML and the gateway's Java `String.trim()` call whitespace: code points up to U+0020. Not
 * JavaScript's `trim()`, which also strips U+3000 and U+FEFF and so would change signed Chinese text.
 */
export const trim = (text: string): string => {
  // Index scans, not a regex: an anchored regex is quadratic on long inner runs of whitespace.
  let start = 0
  let end = text.length
  while (start < end && text.charCodeAt(start) <= 0x20) start++
  while (end > start && text.charCodeAt(end - 1) <= 0x20) end--
  return start === 0 && end === text.length ? text : text.slice(start, end)
}

/** The children of `element` that hold text only, as name → trimmed text; `undefined` on a repeated name. */
export const leaves = (element: XmlElement): Either.Either<Array<readonly [string, string]>, string> => {
  const out: Array<readonly [string, string]> = []
  const seen = new Set<string>()
  for (const child of element.children) {
    if (child.children.length > 0) continue
    if (seen.has(child.name)) return Either.left(child.name)
    seen.add(child.name)
    out.push([child.name, trim(child.text)])
  }
  return Either.right(out)
}

export const child = (element: XmlElement, name: string): XmlElement | undefined =>
  element.children.find((c) => c.name === name)

/** The `encoding` of an XML declaration at the very start of the bytes, read as ASCII. */
export const declaredEncoding = (bytes: Uint8Array): string | undefined => {
  let start = 0
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3
  let head = ""
  for (let i = start; i < Math.min(bytes.length, start + 200); i++) head += String.fromCharCode(bytes[i]!)
  const decl = /^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)
  return decl ? decl[1] : undefined
}
