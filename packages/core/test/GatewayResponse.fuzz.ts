// Hostile input for GatewayResponse.decode: arbitrary bytes, hostile XML (DOCTYPE and entity bombs, deep and
// wide trees, huge values, NUL bytes, BOMs, invalid UTF-8 / GBK) and mutations of genuinely signed answers.
// Every case must end in a success or one documented typed error, never a defect, within a hang bound.
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, FastCheck as fc, Layer, Option } from "effect"
import iconv from "iconv-lite"
import * as crypto from "node:crypto"
import * as Charset from "../src/Charset.js"
import * as GatewayResponse from "../src/GatewayResponse.js"
import { SignatureError } from "../src/SignatureError.js"
import * as SigningString from "../src/SigningString.js"
import { b64, gatewayVerifier, keyPem, vectors } from "./fixtures.js"
import { HANG_BOUND_MS, numRuns, prop } from "./fuzz.js"

const TAGS = ["GatewayRejected", "SignatureError", "MalformedResponse"]
// From the source: a reason added there is documented here too.
const MALFORMED_REASONS: ReadonlyArray<string> = GatewayResponse.MalformedResponse.fields.reason.literals

// Built once: providing a layer per case would dominate the run time.
const verifier = Effect.runSync(Effect.scoped(Layer.build(gatewayVerifier)))

/**
 * Decodes with the gateway's key, synchronously (anything asynchronous would surface as a defect), and checks
 * the outcome is a success or exactly one documented typed error.
 */
const decode = (body: Uint8Array, charset: Charset.Charset, contentType?: string) => {
  const start = performance.now()
  const exit = Effect.runSyncExit(
    Effect.suspend(() => GatewayResponse.decode({ body, contentType }, charset)).pipe(
      Effect.provide(verifier)
    )
  )
  const elapsed = performance.now() - start
  assert.isBelow(elapsed, HANG_BOUND_MS, `decode took ${elapsed.toFixed(0)} ms`)
  if (Exit.isFailure(exit)) {
    assert.isTrue(Cause.isFailType(exit.cause), `not a single typed failure: ${Cause.pretty(exit.cause)}`)
    const error = Option.getOrThrow(Cause.failureOption(exit.cause))
    assert.include(TAGS, error._tag)
    if (error._tag === "MalformedResponse") assert.include(MALFORMED_REASONS, error.reason)
    if (error._tag === "SignatureError") {
      assert.include(SignatureError.fields.reason.literals, error.reason)
      assert.strictEqual(error.source, "response")
    }
    if (error._tag === "GatewayRejected") assert.isAbove(error.code.length, 0)
  }
  return exit
}

const utf8 = (text: string) => new TextEncoder().encode(text)

/** What leaves are trimmed of (the gateway's Java `String.trim()`): code points up to U+0020, nothing else. */
const javaTrim = (text: string) => text.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, "")

/** The signature generators can reach (in both charsets: the text is ASCII) signs exactly this. */
const KNOWN_SIGN = "MCwCFCXGtrZvfCmBEJHMHrPtbp73MqWSAhQ4JNHTD8apoWmh5E6HbFwNQXRV3w=="
const KNOWN_SIGNED = "outer_task_id=wf301111010000977"

/** A success may only ever carry content some signature covers. */
const assertNoForgery = (exit: Exit.Exit<GatewayResponse.Confirmed, unknown>, signed = KNOWN_SIGNED) => {
  if (Exit.isSuccess(exit)) assert.strictEqual(SigningString.make(Object.entries(exit.value.signed)), signed)
}
const concat = (...parts: Array<Uint8Array>) => new Uint8Array(Buffer.concat(parts))

const gatewayKey = crypto.createPrivateKey(keyPem("gateway_private"))
const signLeaves = (leaves: Array<readonly [string, string]>, charset: Charset.Charset) =>
  crypto
    .sign("sha1", SigningString.bytes(leaves, charset), { key: gatewayKey, dsaEncoding: "der" })
    .toString("base64")

// --- generators ---------------------------------------------------------------------------------------------

const charsetArb = fc.constantFrom<Charset.Charset>("utf-8", "gbk", "gb2312")

const contentTypeArb = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(
    "text/xml",
    "text/xml; charset=utf-8",
    "text/xml; charset=GBK",
    "text/xml;charset=gb2312",
    "text/xml; charset=utf-16",
    'text/xml; charset=""',
    "text/xml; charset=" + "a".repeat(5000),
    "charset=" + " ".repeat(5000) + "x"
  ),
  fc.string({ maxLength: 80 })
)

/** Byte sequences no strict UTF-8 or GBK decoder accepts. */
const invalidSequences: Array<Array<number>> = [
  [0xc0, 0xaf], // overlong "/"
  [0xe0, 0x80, 0xaf], // overlong
  [0xed, 0xa0, 0x80], // UTF-16 surrogate
  [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
  [0xf8, 0x88, 0x80, 0x80, 0x80], // five-byte form
  [0xe4, 0xb8], // truncated
  [0x80], // lone continuation
  [0xff],
  [0xfe, 0xff], // UTF-16 BE BOM
  [0xff, 0xfe], // UTF-16 LE BOM
  [0x81], // GBK lead byte without a trail
  [0x81, 0x7f] // GBK trail out of range
]

const boms: Array<Array<number>> = [
  [],
  [0xef, 0xbb, 0xbf],
  [0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf],
  [0xff, 0xfe]
]

const laughs = (root: string) => {
  const levels = ['<!ENTITY lol0 "lol">']
  for (let i = 1; i < 10; i++) levels.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`)
  return `<!DOCTYPE ${root} [${levels.join("")}]>`
}

/** Markup declarations in every form we know of; each must be refused outright. */
const declarationArb = fc.constantFrom(
  laughs("alipay"),
  '<!DOCTYPE alipay [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
  '<!DOCTYPE alipay [<!ENTITY % dtd SYSTEM "http://127.0.0.1:1/evil.dtd"> %dtd;]>',
  "<!DOCTYPE alipay [<!ENTITY % p \"<!ENTITY lol 'x'>\"> %p;]>",
  `<!DOCTYPE alipay [<!ENTITY a "${"x".repeat(4000)}">]>`,
  '<!DOCTYPE alipay SYSTEM "http://127.0.0.1:1/x.dtd">',
  '<!DOCTYPE alipay PUBLIC "-//W3C//DTD XHTML 1.0//EN" "http://127.0.0.1:1/x.dtd">',
  "<!doctype alipay>",
  '<!ENTITY lol "lol">',
  "<!ELEMENT alipay ANY>",
  '<!ATTLIST alipay is_success CDATA "T">',
  "<!DOCTYPE alipay [ <!NOTATION n SYSTEM 'x'> ]>",
  "<!DOCTYPE\nalipay\n[\n<!ENTITY\ne\n'T'>\n]\n>"
)

const entityUse = fc.constantFrom(
  "&lol9;",
  "&xxe;",
  "&a;".repeat(500),
  "&lol;",
  "&e;",
  "%dtd;",
  "&amp;lol9;",
  "&#x26;lol9;"
)

/** A success answer with `entity` placed in the signed value. */
const successWith = (value: string, sign = KNOWN_SIGN) =>
  `<alipay><is_success>T</is_success><response><task_info><outer_task_id>${value}</outer_task_id></task_info></response><sign>${sign}</sign><sign_type>DSA</sign_type></alipay>`

/** A DOCTYPE or other declaration, at any of the places a parser might look. */
const bombArb = fc
  .tuple(
    declarationArb,
    entityUse,
    fc.constantFrom("head", "afterDecl", "afterComment", "inRoot", "inSigned", "afterRoot"),
    fc.constantFrom(...boms),
    fc.constantFrom("", " ", "\n\t ")
  )
  .map(([declaration, use, where, bom, space]) => {
    const decl = '<?xml version="1.0" encoding="utf-8"?>'
    let text: string
    switch (where) {
      case "head":
        text = `${space}${declaration}${successWith(use)}`
        break
      case "afterDecl":
        text = `${decl}${space}${declaration}${successWith(use)}`
        break
      case "afterComment":
        text = `${decl}<!-- hi -->${space}${declaration}${successWith(use)}`
        break
      case "inRoot":
        text = successWith(use).replace("<alipay>", `<alipay>${declaration}`)
        break
      case "inSigned":
        text = successWith(`${declaration}${use}`)
        break
      default:
        text = `${successWith(use)}${space}${declaration}`
    }
    return concat(new Uint8Array(bom), utf8(text))
  })

const tagNameArb = fc.constantFrom(
  "alipay",
  "is_success",
  "error",
  "request",
  "param",
  "response",
  "task_info",
  "outer_task_id",
  "sign",
  "sign_type",
  "x",
  "a:b",
  "_",
  "__proto__",
  "constructor",
  "prototype",
  "é",
  "任务"
)

const textPieceArb = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom(
    "T",
    "F",
    "DSA",
    "dsa",
    "RSA",
    "WITKEY_OUTER_TRANSFER_ALREADY_PAID",
    "ILLEGAL_SIGN",
    "wf301111010000977",
    "&lt;",
    "&amp;",
    "&#x41;",
    "&#0;",
    "&#xD800;",
    "&#x110000;",
    "&#99999999;",
    "&unknown;",
    "&toString;",
    "&",
    "<![CDATA[<alipay>]]>",
    "<![CDATA[",
    "<!-- c -->",
    "<!--",
    "<?pi x?>",
    "<?xml version='1.0'?>",
    "\u0000",
    "\uFEFF",
    "\uFFFE",
    "\uD800",
    "]]>",
    KNOWN_SIGN
  )
)

interface Node {
  readonly name: string
  readonly children: ReadonlyArray<Node | string>
}

/** Random trees over the answer's vocabulary: reaches every structural check. */
const { tree } = fc.letrec<{ tree: Node; item: Node | string }>((tie) => ({
  tree: fc.record({
    name: tagNameArb,
    children: fc.array(tie("item"), { maxLength: 6 })
  }),
  item: fc.oneof({ depthSize: "small", withCrossShrink: true }, textPieceArb, tie("tree"))
}))

const render = (node: Node | string): string =>
  typeof node === "string"
    ? node
    : node.children.length === 0
      ? `<${node.name}/>`
      : `<${node.name}>${node.children.map(render).join("")}</${node.name}>`

const deepArb = fc
  .tuple(fc.integer({ min: 1, max: 12_000 }), fc.constantFrom("x", "task_info", "a"), fc.boolean())
  .map(([depth, name, insideSigned]) => {
    const deep = `${`<${name}>`.repeat(depth)}v${`</${name}>`.repeat(depth)}`
    return insideSigned ? successWith(deep) : `<alipay>${deep}</alipay>`
  })

const wideArb = fc
  .tuple(
    fc.integer({ min: 1, max: 9_000 }),
    fc.constantFrom("<a/>", "<a>1</a>", "<outer_task_id>x</outer_task_id>")
  )
  .map(
    ([n, item]) =>
      `<alipay><is_success>T</is_success><response><task_info>${item.repeat(n)}</task_info></response></alipay>`
  )

const hugeValueArb = fc
  .tuple(fc.integer({ min: 1_000, max: 70_000 }), fc.constantFrom("x", "任", "\u0000", "&amp;", " "))
  .map(([n, unit]) => successWith(unit.repeat(Math.ceil(n / unit.length))))

/** Text, encoded in a random charset (or deliberately in the wrong one), with optional BOM and declaration. */
const xmlBodyArb = fc
  .tuple(
    fc.oneof(tree.map(render), deepArb, wideArb, hugeValueArb),
    fc.constantFrom(
      "",
      '<?xml version="1.0" encoding="utf-8"?>',
      '<?xml version="1.0" encoding="GBK"?>',
      "<?xml version='1.0' encoding='gb2312'?>",
      '<?xml version="1.0" encoding="UTF-16"?>',
      '<?xml version="1.0" encoding="ebcdic"?>',
      '<?xml version="1.0"?>',
      "<?xml "
    ),
    fc.constantFrom<"utf8" | "gbk">("utf8", "gbk"),
    fc.constantFrom(...boms)
  )
  .map(([text, decl, codec, bom]) =>
    concat(new Uint8Array(bom), new Uint8Array(iconv.encode(decl + text, codec)))
  )

const rawBytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 1200 }))
    .map(([chunk, times]) => concat(...Array.from({ length: times }, () => chunk))),
  fc.tuple(fc.constantFrom(...invalidSequences), fc.nat(400)).map(([bad, at]) => {
    const ok = utf8(successWith("wf301111010000977"))
    const i = Math.min(at, ok.length)
    return concat(ok.subarray(0, i), new Uint8Array(bad), ok.subarray(i))
  })
)

// --- mutations of genuine answers ---------------------------------------------------------------------------

const genuine = vectors.responses
  .filter((v) => v.expect["ok"] === true)
  .map((v) => ({
    name: v.name,
    charset: Charset.parse(v.charset)!,
    body: b64(v.body_b64),
    signed: v.signed_string!,
    // Counterexamples name the vector instead of dumping its bytes.
    [fc.toStringMethod]: () => `vector ${v.name}`
  }))

const snippetArb = fc.oneof(
  fc.uint8Array({ maxLength: 16 }),
  fc
    .constantFrom(
      "<!DOCTYPE alipay>",
      "&lol;",
      "\u0000",
      "\uFEFF",
      "<x>",
      "</task_info>",
      "<task_info>",
      "<outer_task_id>evil</outer_task_id>",
      "<is_success>T</is_success>",
      "<sign_type>DSA</sign_type>",
      "<response><task_info><outer_task_id>evil</outer_task_id></task_info></response>",
      "<![CDATA[evil]]>",
      "<!--",
      "-->",
      "&amp;",
      " ",
      "\n"
    )
    .map(utf8)
)

const mutationArb = fc.record({
  op: fc.constantFrom("flip", "insert", "delete", "duplicate", "truncate", "replace"),
  at: fc.nat(),
  length: fc.integer({ min: 1, max: 64 }),
  bit: fc.integer({ min: 0, max: 7 }),
  snippet: snippetArb
})

type Mutation = typeof mutationArb extends fc.Arbitrary<infer A> ? A : never

const mutate = (body: Uint8Array, mutations: ReadonlyArray<Mutation>): Uint8Array => {
  let out = body
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length
    const end = Math.min(out.length, at + m.length)
    switch (m.op) {
      case "flip": {
        out = out.slice()
        if (out.length > 0) out[at] = out[at]! ^ (1 << m.bit)
        break
      }
      case "insert":
        out = concat(out.subarray(0, at), m.snippet, out.subarray(at))
        break
      case "delete":
        out = concat(out.subarray(0, at), out.subarray(end))
        break
      case "duplicate":
        out = concat(out.subarray(0, end), out.subarray(at, end), out.subarray(end))
        break
      case "truncate":
        out = out.subarray(0, at)
        break
      case "replace":
        out = concat(out.subarray(0, at), m.snippet, out.subarray(end))
        break
    }
  }
  return out
}

// --- properties ---------------------------------------------------------------------------------------------

describe("GatewayResponse.decode on hostile input", () => {
  prop(
    "arbitrary bytes, invalid UTF-8 / GBK, NUL bytes: a typed error or a value",
    [rawBytesArb, charsetArb, contentTypeArb],
    ([body, charset, contentType]) => {
      assertNoForgery(decode(body, charset, contentType))
    }
  )

  prop(
    "DOCTYPE, entity and parameter-entity bombs, anywhere: refused as forbidden markup",
    [bombArb, charsetArb],
    ([body, charset]) => {
      const exit = decode(body, charset)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = Option.getOrThrow(Cause.failureOption(exit.cause))
        // A BOM the charset cannot decode is refused before any markup is read; either refusal is fine.
        const reason = (error as { reason?: string }).reason
        assert.strictEqual(error._tag, "MalformedResponse")
        if (reason !== "forbidden_markup") assert.isTrue(body[0] === 0xef || body[0] === 0xff, reason)
        assert.include(["forbidden_markup", "charset"], reason)
      }
    }
  )

  prop(
    "random trees, deep and wide XML, huge values, BOMs and declarations: a typed error or a value",
    [xmlBodyArb, charsetArb, contentTypeArb],
    ([body, charset, contentType]) => {
      assertNoForgery(decode(body, charset, contentType))
    }
  )

  prop(
    "mutated genuine answers never decode to anything but the signed content",
    [fc.constantFrom(...genuine), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), contentTypeArb],
    ([original, mutations, contentType]) => {
      assertNoForgery(
        decode(mutate(original.body, mutations), original.charset, contentType),
        original.signed
      )
    }
  )

  let signedSuccesses = 0
  prop(
    "genuinely signed hostile leaves: a typed error or exactly what was signed",
    [
      fc.array(textPieceArb, { maxLength: 4 }).map((p) => `t${p.join("")}`),
      fc.array(
        fc.tuple(
          tagNameArb,
          fc.array(textPieceArb, { maxLength: 4 }).map((p) => p.join(""))
        ),
        {
          maxLength: 5
        }
      ),
      charsetArb
    ],
    ([taskId, others, charset]) => {
      const leaves: Array<readonly [string, string]> = [["outer_task_id", taskId], ...others]
      // The gateway signs the text it means; the body carries it escaped, as a well-behaved gateway writes it.
      const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      const trimmed = leaves.map(([n, v]) => [n, javaTrim(v)] as const)
      const sign = signLeaves(trimmed, charset)
      const inner = leaves.map(([n, v]) => `<${n}>${escape(v)}</${n}>`).join("")
      const text = `<alipay><is_success>T</is_success><response><task_info>${inner}</task_info></response><sign>${sign}</sign><sign_type>DSA</sign_type></alipay>`
      const exit = decode(Charset.encode(text, charset), charset)
      if (Exit.isSuccess(exit)) {
        signedSuccesses++
        // What the bytes say: a character the charset cannot hold was sent (and signed) as "?".
        const sent = (v: string) => Either.getOrThrow(Charset.decode(Charset.encode(v, charset), charset))
        // `sign` and `sign_type` are never part of a canonical string (PROTOCOL.md §3), so never signed content.
        const expected = Object.fromEntries(
          trimmed
            .map(([n, v]) => [n, sent(v)])
            .filter(([n, v]) => v !== "" && n !== "sign" && n !== "sign_type")
        )
        const got = Object.fromEntries(Object.entries(exit.value.signed).filter(([, v]) => v !== ""))
        assert.deepStrictEqual(got, expected)
      }
    }
  )

  it("the signed-leaves property reached successes (it is not vacuous)", () => {
    assert.isAbove(signedSuccesses, numRuns / 10)
  })

  // Bug (core, GatewayResponse.decode): leaves named `sign` or `sign_type` inside `<task_info>` are left out of
  // the canonical string (SigningString drops those names everywhere) but still returned in
  // `Confirmed.signed`, so anyone on the path can add them to a genuine answer and they read as signed.
  prop(
    "a sign or sign_type leaf inside the signed element is never reported as signed",
    [
      fc.constantFrom("sign", "sign_type"),
      fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== "" && !/[<&]/.test(s)),
      fc.constantFrom(...genuine.filter((g) => g.charset === "utf-8"))
    ],
    ([name, value, original]) => {
      const text = new TextDecoder().decode(original.body)
      const injected = text.replace("</task_info>", `<${name}>${value}</${name}></task_info>`)
      const exit = decode(utf8(injected), original.charset)
      if (Exit.isSuccess(exit))
        assert.notProperty(exit.value.signed, name, `an injected <${name}> reads as signed content`)
    }
  )

  // Bug (core, internal/Xml.ts): fast-xml-parser 5.12 renames elements named like some Object.prototype
  // members (toString -> __toString, hasOwnProperty -> __hasOwnProperty, ...), so the leaves are verified
  // under names the gateway never signed and a genuine answer is reported as a signature mismatch (an unknown
  // outcome). Such a leaf must verify under its own name, or the answer be refused as malformed.
  prop(
    "a signed leaf named like an Object.prototype member is verified under its own name",
    [fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype)), charsetArb],
    ([name, charset]) => {
      const leaves: Array<readonly [string, string]> = [
        ["outer_task_id", "wf301111010000977"],
        [name, "v"]
      ]
      const text = `<alipay><is_success>T</is_success><response><task_info><outer_task_id>wf301111010000977</outer_task_id><${name}>v</${name}></task_info></response><sign>${signLeaves(leaves, charset)}</sign><sign_type>DSA</sign_type></alipay>`
      const exit = decode(Charset.encode(text, charset), charset)
      if (Exit.isFailure(exit)) {
        const error = Option.getOrThrow(Cause.failureOption(exit.cause))
        assert.strictEqual(error._tag, "MalformedResponse", `<${name}>: ${error.message}`)
      } else assert.deepStrictEqual(Object.keys(exit.value.signed).sort(), ["outer_task_id", name].sort())
    }
  )

  // Bug (core, internal/Xml.ts decodeEntities): `name in named` also finds Object.prototype members, so
  // `&toString;`, `&valueOf;` and `&__proto__;` are not refused as undefined entities but expand to
  // "function toString() { [native code] }", "function valueOf() { [native code] }" and "[object Object]".
  prop(
    "an entity named like an Object.prototype member is an undefined entity, even in signed text",
    [fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype)), charsetArb],
    ([name, charset]) => {
      // Signed over what the buggy decoder would produce, so only the entity rule can refuse it.
      const expanded = String(({ lt: "<" } as Record<string, unknown>)[name])
      const sign = signLeaves([["outer_task_id", expanded]], charset)
      const exit = decode(Charset.encode(successWith(`&${name};`, sign), charset), charset)
      assert.isTrue(Exit.isFailure(exit), `&${name}; was accepted as ${JSON.stringify(expanded)}`)
    }
  )
})
