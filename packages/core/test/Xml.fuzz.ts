// Our XML pass (internal/Xml.ts) against an independent reader: fast-xml-parser, configured as the SDK used
// it before it had a parser of its own, with its tree folded the same way (own text and CDATA joined, entities
// decoded from the closed list). Both must read every generated document to the same tree, and anything we
// accept must be something the library reads to that tree too.
import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { XMLParser } from "fast-xml-parser"
import * as Xml from "../src/internal/Xml.js"
import { HANG_BOUND_MS, prop } from "./fuzz.js"

const limits: Xml.XmlLimits = { maxDepth: 16, maxElements: 400 }

const oracleParser = new XMLParser({
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
  onDangerousProperty: (name: string) => name
} as ConstructorParameters<typeof XMLParser>[0])

type Ordered = Array<Record<string, unknown>>

interface Tree {
  readonly name: string
  readonly children: ReadonlyArray<Tree>
  readonly text: string
}

const fold = (name: string, nodes: Ordered): Tree => {
  const children: Array<Tree> = []
  let text = ""
  for (const node of nodes)
    for (const key of Object.keys(node)) {
      if (key === ":@") continue
      const value = node[key]
      if (key === "#text") text += Either.getOrThrow(Xml.decodeEntities(String(value)))
      else if (key === "#cdata") for (const part of value as Ordered) text += String(part["#text"] ?? "")
      else children.push(fold(key, value as Ordered))
    }
  return { name, children, text }
}

/** The oracle's reading: the one root element, or undefined if the library throws or finds no single root. */
const oracle = (text: string): Tree | undefined => {
  let doc: Ordered
  try {
    doc = oracleParser.parse(text) as Ordered
  } catch {
    return undefined
  }
  const roots = doc.flatMap((node) => Object.keys(node).filter((k) => k !== ":@" && k !== "#text"))
  if (roots.length !== 1) return undefined
  const node = doc.find((n) => roots[0]! in n)!
  return fold(roots[0]!, node[roots[0]!] as Ordered)
}

const plain = (element: Xml.XmlElement): Tree => ({
  name: element.name,
  children: element.children.map(plain),
  text: element.text
})

/** A processing instruction with a quote in it: where the library and XML 1.0 part ways (below). */
const quotedInstruction = {
  test: (doc: string): boolean => {
    for (let at = doc.indexOf("<?"); at >= 0; at = doc.indexOf("<?", at + 2)) {
      const end = doc.indexOf("?>", at + 2)
      if (/['"]/.test(doc.slice(at + 2, end < 0 ? doc.length : end))) return true
    }
    return false
  }
}

const parse = (text: string) => {
  const start = performance.now()
  const result = Xml.parse(text, limits)
  assert.isBelow(performance.now() - start, HANG_BOUND_MS)
  return result
}

// --- generated documents -------------------------------------------------------------------------------------

const names = fc.constantFrom(
  "a",
  "notify",
  "outer_task_id",
  "is_success",
  "x-y",
  "a.b",
  "_u",
  "ns:tag",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "任务",
  "B2"
)
const textChar = fc.constantFrom(..."abc XYZ 019 \t\n\r>\"'=/?!-]任务中文\u3000\u00a0+%~*")
const entity = fc.constantFrom("&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#20013;", "&#x4E2D;", "&#65;")
const text = fc
  .array(fc.oneof({ weight: 6, arbitrary: textChar }, { weight: 1, arbitrary: entity }), { maxLength: 20 })
  .map((parts) => parts.join(""))
const cdata = fc
  .array(fc.constantFrom(..."ab <>&;]\"'中"), { maxLength: 10 })
  .map((cs) => cs.join(""))
  .filter((s) => !s.includes("]]>") && !s.endsWith("]"))
  .map((s) => `<![CDATA[${s}]]>`)
const comment = fc
  .array(fc.constantFrom(..."ab <>&中 !"), { maxLength: 10 })
  .map((cs) => `<!--${cs.join("")}-->`)
const space = fc.constantFrom("", " ", "\n  ", "\t")
const attribute = fc
  .tuple(
    fc.constantFrom("name", "id", "x:y"),
    fc.constantFrom('"v"', "'v'", '"a > b"', '""', "'it\"s'"),
    space
  )
  .map(([n, v, s]) => ` ${n}${s}=${s}${v}`)

const element: fc.Memo<string> = fc.memo((depth) =>
  fc
    .tuple(
      names,
      fc.array(attribute, { maxLength: 2 }),
      space,
      depth <= 1
        ? fc.array(fc.oneof(text, cdata, comment), { maxLength: 3 })
        : fc.array(fc.oneof(text, cdata, comment, element(depth - 1)), { maxLength: 4 }),
      fc.boolean()
    )
    .map(([name, attrs, s, content, selfClose]) =>
      content.length === 0 && selfClose
        ? `<${name}${attrs.join("")}${s}/>`
        : `<${name}${attrs.join("")}${s}>${content.join("")}</${name}${s}>`
    )
)

const document = fc
  .tuple(
    fc.constantFrom("", '<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.0"?>\n'),
    fc.array(fc.oneof(comment, space), { maxLength: 2 }),
    element(4),
    fc.array(fc.oneof(comment, space), { maxLength: 2 })
  )
  .map(([decl, before, root, after]) => `${decl}${before.join("")}${root}${after.join("")}`)

// --- markup-ish noise ------------------------------------------------------------------------------------------

const noise = fc
  .array(
    fc.oneof(
      fc.constantFrom(..."<>/!?&;=\"' abx\n-[]"),
      fc.constantFrom("<a>", "</a>", "<b/>", "<!--", "-->", "<![CDATA[", "]]>", "<?x", "?>", "&amp;", "&#65;")
    ),
    { maxLength: 30 }
  )
  .map((parts) => parts.join(""))

describe("Xml.parse against fast-xml-parser", () => {
  prop("every generated document reads to the same tree", [document], ([doc]) => {
    const ours = parse(doc)
    assert.isTrue(Either.isRight(ours), `${doc}: ${Either.isLeft(ours) ? ours.left.message : ""}`)
    if (Either.isRight(ours)) assert.deepStrictEqual(plain(ours.right), oracle(doc), doc)
  })

  prop("whatever we accept, the library reads to the same tree", [fc.oneof(noise, document)], ([doc]) => {
    const ours = parse(doc)
    if (Either.isRight(ours) && !quotedInstruction.test(doc))
      assert.deepStrictEqual(plain(ours.right), oracle(doc), doc)
  })

  // The one deliberate difference: a processing instruction ends at the first `?>` (XML 1.0 §2.6), where
  // fast-xml-parser skips a `?>` inside quotes.
  it("a processing instruction ends at its first `?>`, quotes or not", () => {
    const ours = Either.getOrThrow(parse(`<a><?p "?>" ?>x</a>`))
    assert.strictEqual(ours.text, `" ?>x`)
  })

  it("a processing instruction needs a name for its target", () => {
    assert.isTrue(Either.isLeft(parse(`<b/><?x<a>'?>`)))
    assert.isTrue(Either.isLeft(parse(`<?"?><a/>`)))
    assert.isTrue(Either.isLeft(parse(`<a><??></a>`)))
    assert.strictEqual(Either.getOrThrow(parse(`<?xml version="1.0"?><a><?pi data?>x</a>`)).text, "x")
  })

  it("names follow XML's name rules, and the members of every object are refused", () => {
    for (const name of ["__proto__", "constructor", "prototype", "a\u3000", "a\u00D7", "1a", "-a"])
      assert.isTrue(Either.isLeft(parse(`<${name}>t</${name}>`)), name)
    for (const name of ["toString", "a.b", "ns:tag", "任务", "_a", "a\u00B7b", "\u{10000}x"])
      assert.strictEqual(Either.getOrThrow(parse(`<${name}>t</${name}>`)).name, name)
  })

  prop(
    "a generated document cut anywhere is refused or still a whole document",
    [document, fc.nat()],
    ([doc, at]) => {
      const cut = doc.slice(0, at % (doc.length + 1))
      const ours = parse(cut)
      if (Either.isRight(ours)) assert.deepStrictEqual(plain(ours.right), oracle(cut), cut)
    }
  )
})
