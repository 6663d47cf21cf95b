// The hardened XML reading shared by responses and notification payloads: one linear pass of our own over the
// small, closed subset the gateway sends (elements, text, CDATA, comments, processing instructions).
// Declarations (DOCTYPE, entity definitions) are refused, never read; depth and element count are bounded;
// tags must balance; entities are decoded from a closed list. Attributes are checked for form and dropped:
// nothing signed or read lives in one.
//
// Why not fast-xml-parser, as before: our pass had to tokenise every tag anyway to refuse what the library
// accepts silently (DOCTYPE, unbalanced tags), and building the tree in that same pass costs a fifth of
// parsing again with the library. fast-xml-parser stays as the test oracle: a property checks that both read
// every generated document to the same tree (test/Xml.fuzz.ts).
import { Either } from "effect"

export interface XmlElement {
  readonly name: string
  readonly children: ReadonlyArray<XmlElement>
  /** The element's own text nodes and CDATA sections joined, entities decoded, untrimmed. */
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

// XML 1.0 (fifth edition) §2.3 NameStartChar and NameChar.
const NAME_START =
  ":A-Z_a-z\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u02FF\\u0370-\\u037D\\u037F-\\u1FFF\\u200C-\\u200D\\u2070-\\u218F\\u2C00-\\u2FEF\\u3001-\\uD7FF\\uF900-\\uFDCF\\uFDF0-\\uFFFD\\u{10000}-\\u{EFFFF}"
const NAME_CHAR = `${NAME_START}\\-.0-9\\u00B7\\u0300-\\u036F\\u203F-\\u2040`
const NAME = new RegExp(`^[${NAME_START}][${NAME_CHAR}]*$`, "u")
/** What may follow an element name inside a start tag: attributes, each `name="value"` or `name='value'`. */
const ATTRIBUTES = new RegExp(
  `^(?:[\\t\\n\\r ]+[${NAME_START}][${NAME_CHAR}]*[\\t\\n\\r ]*=[\\t\\n\\r ]*(?:"[^"<]*"|'[^'<]*'))*[\\t\\n\\r ]*$`,
  "u"
)
/**
 * Names that are members of every object (`__proto__`, `constructor`, `prototype`): refused as element names
 * (fast-xml-parser refuses them too), so that no reader of the leaves, ours or a user's, can meet them as
 * keys. Compared, not looked up in a set: the name is a fresh string each time, and hashing it costs more.
 */
const reserved = (name: string) =>
  name.length === 9 ? name === "__proto__" || name === "prototype" : name === "constructor"

/** The reference definition of a name, for the property test that holds `validName` to it. */
export const NAME_PATTERN: RegExp = NAME

/** Per ASCII code: 2 when it may start a name, 1 when it may only continue one, 0 when neither. */
const ASCII_NAME = Uint8Array.from({ length: 128 }, (_, c) =>
  /[:A-Z_a-z]/.test(String.fromCharCode(c)) ? 2 : /[-.0-9]/.test(String.fromCharCode(c)) ? 1 : 0
)

/**
 * `NAME` and not reserved. An ASCII name (every name the gateway sends) is checked with a table, which is
 * the regex's own answer for ASCII; a name with anything else goes to the regex.
 */
export const validName = (name: string): boolean => {
  const length = name.length
  if (length === 0) return false
  for (let i = 0; i < length; i++) {
    const c = name.charCodeAt(i)
    if (c >= 128) return NAME.test(name) && !reserved(name)
    const kind = ASCII_NAME[c]!
    if (kind === 0 || (i === 0 && kind === 1)) return false
  }
  return !reserved(name)
}

/** True when `text` holds `name` at `from` (`startsWith` with a position is slower than this loop). */
const at = (text: string, from: number, name: string): boolean => {
  for (let k = 0; k < name.length; k++) if (text.charCodeAt(from + k) !== name.charCodeAt(k)) return false
  return true
}

/** True when `text[from, to)` holds nothing but what `trim` removes (code points up to U+0020). */
const blank = (text: string, from: number, to: number): boolean => {
  for (let k = from; k < to; k++) if (text.charCodeAt(k) > 0x20) return false
  return true
}

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
  if (!raw.includes("&")) return Either.right(raw)
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

/** An element while its content is being read. */
interface Open {
  readonly name: string
  readonly children: Array<XmlElement>
  text: string
}

/** The end of a name that starts at `from` inside a tag: the first whitespace, `/` or `>`. */
const nameEnd = (text: string, from: number, to: number): number => {
  let k = from
  for (; k < to; k++) {
    const c = text.charCodeAt(k)
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x2f || c === 0x3e) break
  }
  return k
}

/**
 * Parses a whole document into its single root element, or says why not: declarations refused, element depth
 * and count bounded, every end tag matching its start, one root, nothing left open, no text outside the root.
 */
export const parse = (input: string, limits: XmlLimits): Either.Either<XmlElement, XmlFailure> => {
  // Line ends normalised first, over the whole document, as XML 1.0 §2.11 says (and as every XML parser does,
  // the gateway's included): a CR or CRLF in a signed value is read as LF.
  const text = input.includes("\r") ? input.replace(/\r\n?/g, "\n") : input
  const stack: Array<Open> = []
  let root: XmlElement | undefined
  let elements = 0
  let stray = false
  let badText: XmlFailure | undefined
  let i = 0
  while (i < text.length) {
    const lt = text.indexOf("<", i)
    const textEnd = lt < 0 ? text.length : lt
    if (textEnd > i) {
      const segment = text.slice(i, textEnd)
      const top = stack[stack.length - 1]
      if (top === undefined) {
        // Reported last, as before: a declaration or a broken tag further on is the more useful error.
        if (trim(segment) !== "") stray = true
      } else {
        const decoded = decodeEntities(segment)
        // Kept for the end, like stray text: a declaration anywhere is reported as one, whatever comes first.
        if (Either.isLeft(decoded)) badText ??= decoded.left
        else top.text += decoded.right
      }
    }
    if (lt < 0) break
    const next = text.charCodeAt(lt + 1)
    if (next === 0x21 /* ! */) {
      if (text.startsWith("<!--", lt)) {
        const end = text.indexOf("-->", lt + 4)
        if (end < 0) return fail("not_xml", "unterminated comment")
        i = end + 3
        continue
      }
      if (text.startsWith("<![CDATA[", lt)) {
        const top = stack[stack.length - 1]
        if (top === undefined) return fail("not_xml", "CDATA outside the root element")
        const end = text.indexOf("]]>", lt + 9)
        if (end < 0) return fail("not_xml", "unterminated CDATA section")
        top.text += text.slice(lt + 9, end)
        i = end + 3
        continue
      }
      return fail(
        "forbidden_markup",
        "DOCTYPE and other markup declarations are refused (entity expansion, XXE)"
      )
    }
    if (next === 0x3f /* ? */) {
      // A processing instruction (or the XML declaration): a name, then anything up to the first `?>`.
      const end = text.indexOf("?>", lt + 2)
      if (end < 0) return fail("not_xml", "unterminated processing instruction")
      const target = text.slice(lt + 2, nameEnd(text, lt + 2, end))
      if (!NAME.test(target)) return fail("not_xml", `invalid processing instruction at offset ${lt}`)
      i = end + 2
      continue
    }
    // The usual tags are read without the general scan below, which gives the same answer for them: an end tag
    // `</name>` of the open element, and a start tag `<name>` with an ASCII name and no attributes.
    let j = -1
    let name: string | undefined
    if (next === 0x2f /* / */) {
      const open = stack[stack.length - 1]
      const close = open === undefined ? -1 : lt + 2 + open.name.length
      if (open !== undefined && text.charCodeAt(close) === 0x3e && at(text, lt + 2, open.name)) {
        stack.pop()
        // The open element becomes the element: nothing is written to it any more.
        const parent = stack[stack.length - 1]
        if (parent === undefined) root = open
        else parent.children.push(open)
        i = close + 1
        continue
      }
    } else if (ASCII_NAME[next] === 2) {
      let k = lt + 2
      for (; k < text.length; k++) {
        const c = text.charCodeAt(k)
        if (c >= 128 || ASCII_NAME[c] === 0) break
      }
      if (text.charCodeAt(k) === 0x3e) {
        const candidate = text.slice(lt + 1, k)
        if (!reserved(candidate)) {
          name = candidate
          j = k
        }
      }
    }
    if (j < 0) {
      // An element tag: find its end, skipping quoted attribute values.
      j = lt + 1
      let quote = 0
      for (; j < text.length; j++) {
        const c = text.charCodeAt(j)
        if (quote !== 0) {
          if (c === quote) quote = 0
        } else if (c === 0x22 || c === 0x27) quote = c
        else if (c === 0x3e /* > */) break
      }
      if (j >= text.length) return fail("not_xml", "unterminated tag")
    }
    i = j + 1
    if (next === 0x2f /* / */) {
      const end = nameEnd(text, lt + 2, j)
      const name = text.slice(lt + 2, end)
      if (!validName(name)) return fail("not_xml", `invalid element name at offset ${lt}`)
      if (!blank(text, end, j)) return fail("not_xml", `junk in the end tag of <${name}>`)
      const closed = stack.pop()
      if (closed === undefined || closed.name !== name)
        return fail("not_xml", `end tag </${name}> does not match its start tag`)
      const parent = stack[stack.length - 1]
      if (parent === undefined) root = closed
      else parent.children.push(closed)
      continue
    }
    let selfClosing = false
    if (name === undefined) {
      selfClosing = text.charCodeAt(j - 1) === 0x2f
      const end = nameEnd(text, lt + 1, selfClosing ? j - 1 : j)
      name = text.slice(lt + 1, end)
      if (!validName(name)) return fail("not_xml", `invalid element name at offset ${lt}`)
      if (end < j - (selfClosing ? 1 : 0) && !ATTRIBUTES.test(text.slice(end, selfClosing ? j - 1 : j)))
        return fail("not_xml", `malformed attributes in <${name}>`)
    }
    if (stack.length === 0 && root !== undefined) return fail("not_xml", "more than one root element")
    if (++elements > limits.maxElements) return fail("too_deep", `more than ${limits.maxElements} elements`)
    if (selfClosing) {
      const element: XmlElement = { name, children: [], text: "" }
      const parent = stack[stack.length - 1]
      if (parent === undefined) root = element
      else parent.children.push(element)
    } else {
      if (stack.length >= limits.maxDepth)
        return fail("too_deep", `elements nest deeper than ${limits.maxDepth}`)
      stack.push({ name, children: [], text: "" })
    }
  }
  if (stack.length > 0)
    return fail("not_xml", `<${stack[stack.length - 1]!.name}> is not closed (truncated?)`)
  if (root === undefined) return fail("not_xml", "no root element")
  if (stray) return fail("not_xml", "text outside the root element")
  if (badText !== undefined) return Either.left(badText)
  return Either.right(root)
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

/**
 * `leaves` as a record, built directly: `Object.fromEntries(leaves(element))` without the pairs and the set
 * (a property test holds the two equal). Plain assignment is safe: `__proto__` is never an element name.
 */
export const leafRecord = (element: XmlElement): Either.Either<Record<string, string>, string> => {
  const out: Record<string, string> = {}
  const children = element.children
  for (let i = 0; i < children.length; i++) {
    const child = children[i]!
    if (child.children.length > 0) continue
    if (Object.hasOwn(out, child.name)) return Either.left(child.name)
    out[child.name] = trim(child.text)
  }
  return Either.right(out)
}

export const child = (element: XmlElement, name: string): XmlElement | undefined =>
  element.children.find((c) => c.name === name)

/** The `encoding` of an XML declaration at the very start of the bytes, read as ASCII. */
export const declaredEncoding = (bytes: Uint8Array): string | undefined => {
  let start = 0
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3
  // One character per byte (latin1), up to the first `>`: the pattern cannot match across one, so its answer
  // on this head is its answer on the first 200 bytes.
  const limit = Math.min(bytes.length, start + 200)
  let end = start
  while (end < limit && bytes[end] !== 0x3e) end++
  const head = String.fromCharCode.apply(
    null,
    bytes.subarray(start, Math.min(end + 1, limit)) as unknown as Array<number>
  )
  const decl = /^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)
  return decl ? decl[1] : undefined
}
