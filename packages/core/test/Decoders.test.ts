// The hand-written decoders of the hot path (internal/decoders.ts) against their schemas, the definitions: a
// decoder answers exactly when its schema accepts, and then with the schema's value; and the XML helpers the
// decoders read through (Xml.leafRecord, Xml.validName) against their plain definitions.
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Either, FastCheck as fc, Schema } from "effect"
import * as GatewayResponse from "../src/GatewayResponse.js"
import * as Decoders from "../src/internal/decoders.js"
import * as Xml from "../src/internal/Xml.js"
import * as Notification from "../src/Notification.js"
import * as Protocol from "../src/Protocol.js"

/** A decoded value with every BigDecimal spelt out (its digits and scale), so that equality is exact. */
const plain = (value: unknown): unknown =>
  BigDecimal.isBigDecimal(value)
    ? { bigDecimal: [value.value.toString(), value.scale] }
    : typeof value === "object" && value !== null
      ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
      : value

/** Values around every rule: valid, empty, padded, malformed amounts and times, non-ASCII digits, not strings. */
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    "t1",
    "s-1",
    "2088102122524333",
    "",
    " ",
    " t1",
    "t1\n",
    "\u3000t",
    "120.00",
    "0",
    "0.5",
    "1.50",
    "01.00",
    "1.234",
    "-1.00",
    "1e3",
    ".5",
    "9999999999999999.99",
    "99999999999999999",
    "１２０",
    "20261125103000",
    "2026112510300",
    "202611251030000",
    "2026-11-25",
    Protocol.Notify.assign,
    Protocol.Notify.platformProfit
  ),
  fc.string({ maxLength: 6 }),
  fc.stringMatching(/^(0|[1-9]\d{0,17})(\.\d{0,3})?$/),
  fc.stringMatching(/^\d{13,15}$/),
  fc.constantFrom(1, undefined, null, {}, ["x"])
)

const names = [Protocol.Notify.subType, ...Object.values(Protocol.Notify.leaf), "extra", "notify_id"] as const

/** A record of some of the payload's names (each maybe missing), by sub type. */
const fieldsArb = (subType: string) =>
  fc
    .tuple(
      fc.dictionary(fc.constantFrom(...names), valueArb, { maxKeys: names.length }),
      fc.dictionary(fc.constantFrom(...names), valueArb, { maxKeys: 2 }),
      fc.boolean()
    )
    .map(([some, inherited, keepSubType]) => {
      // Sometimes a field only on the prototype: a struct reads own properties.
      const fields: Record<string, unknown> = Object.create(inherited)
      Object.assign(fields, some)
      if (keepSubType) fields[Protocol.Notify.subType] = subType
      return fields as Record<string, string>
    })

/** Mostly valid payloads: the fast path must be taken for these, and give the schema's value. */
const validAssignArb = fc.record({
  [Protocol.Notify.subType]: fc.constant(Protocol.Notify.assign),
  outer_task_id: fc.string({ minLength: 1, maxLength: 8 }),
  outer_transfer_no: fc.string({ minLength: 1, maxLength: 8 }),
  transfer_amount: fc.stringMatching(/^(0|[1-9]\d{0,15})(\.\d{1,2})?$/),
  payee_user_id: fc.string({ minLength: 1, maxLength: 8 }),
  gmt_transfer: fc.stringMatching(/^\d{14}$/)
})

/**
 * Valid but for one field, missing or only on the prototype, or another sub type: core decodes with `exact`
 * (own keys only), so the schema refuses each of these, and the fast way must too.
 */
const oneFieldOffArb = fc
  .tuple(
    validAssignArb,
    fc.constantFrom(
      ...Object.keys(Protocol.Notify.leaf).map(
        (k) => Protocol.Notify.leaf[k as keyof typeof Protocol.Notify.leaf]
      ),
      Protocol.Notify.subType
    ),
    fc.constantFrom("missing", "inherited", "other sub type")
  )
  .map(([valid, name, how]) => {
    if (how === "other sub type")
      return { ...valid, [Protocol.Notify.subType]: Protocol.Notify.platformProfit }
    const { [name]: value, ...rest } = valid as Record<string, string>
    return (how === "missing" ? rest : Object.assign(Object.create({ [name]: value }), rest)) as Record<
      string,
      string
    >
  })

const schemaAssign = Schema.decodeUnknownEither(Notification.Assign, { exact: true })
const schemaProfit = Schema.decodeUnknownEither(Notification.PlatformProfit, { exact: true })
const schemaTaskInfo = Schema.decodeUnknownEither(GatewayResponse.TaskInfo, { exact: true })

const sameAsSchema = <A>(fast: A | undefined, schema: Either.Either<unknown, unknown>) => {
  assert.strictEqual(fast !== undefined, Either.isRight(schema))
  if (fast !== undefined && Either.isRight(schema)) {
    assert.deepStrictEqual(plain(fast), plain(schema.right))
    // Same prototype and the same keys in the same order, not only equal fields.
    assert.deepStrictEqual(Object.keys(fast as object), Object.keys(schema.right as object))
    assert.strictEqual(Object.getPrototypeOf(fast), Object.getPrototypeOf(schema.right))
  }
}

describe("internal/decoders equal their schemas", () => {
  it.prop(
    "Assign",
    [fc.oneof(fieldsArb(Protocol.Notify.assign), validAssignArb, oneFieldOffArb)],
    ([fields]) => sameAsSchema(Decoders.assign(fields), schemaAssign(fields))
  )

  it.prop("PlatformProfit", [fieldsArb(Protocol.Notify.platformProfit)], ([fields]) =>
    sameAsSchema(Decoders.platformProfit(fields), schemaProfit(fields))
  )

  it.prop("TaskInfo", [fc.dictionary(fc.constantFrom("outer_task_id", "x"), valueArb)], ([signed]) =>
    sameAsSchema(Decoders.taskInfo(signed as Record<string, string>), schemaTaskInfo(signed))
  )

  it.prop(
    "a valid ASSIGN payload takes the fast way (the properties above are not vacuous)",
    [validAssignArb],
    ([fields]) => {
      assert.isDefined(Decoders.assign(fields))
    }
  )

  it.prop(
    "payloadOf: the schema's answer, errors included",
    [fc.oneof(fieldsArb(Protocol.Notify.assign), fieldsArb(Protocol.Notify.platformProfit), validAssignArb)],
    ([fields]) => {
      const ours = Notification.payloadOf(fields)
      const subType = Object.hasOwn(fields, Protocol.Notify.subType)
        ? fields[Protocol.Notify.subType]
        : undefined
      if (subType !== Protocol.Notify.assign && subType !== Protocol.Notify.platformProfit) return
      // payloadOf reports every broken field at once.
      const schema: Either.Either<unknown, { readonly message: string }> =
        subType === Protocol.Notify.assign
          ? schemaAssign(fields, { errors: "all" })
          : schemaProfit(fields, { errors: "all" })
      if (Either.isRight(schema)) assert.deepStrictEqual(plain(ours), plain(Either.right(schema.right)))
      else assert.isTrue(Either.isLeft(ours) && ours.left.message.includes(schema.left.message))
    }
  )
})

const elementArb: fc.Arbitrary<Xml.XmlElement> = fc.letrec<{ element: Xml.XmlElement }>((tie) => ({
  element: fc.record({
    name: fc.constantFrom("a", "b", "c", "toString", "hasOwnProperty", "1", "x-y"),
    text: fc.constantFrom("", " v ", "w", "\u3000z\u3000", "\t"),
    children: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constant([]),
      fc.array(tie("element"), { maxLength: 5 })
    )
  })
})).element

describe("internal/Xml helpers equal their definitions", () => {
  it.prop("leafRecord is Object.fromEntries of leaves", [elementArb], ([element]) => {
    const leaves = Xml.leaves(element)
    const record = Xml.leafRecord(element)
    if (Either.isLeft(leaves)) assert.deepStrictEqual(record, Either.left(leaves.left))
    else {
      assert.isTrue(Either.isRight(record))
      const expected = Object.fromEntries(leaves.right)
      assert.deepStrictEqual(Either.getOrThrow(record), expected)
      assert.deepStrictEqual(Object.keys(Either.getOrThrow(record)), Object.keys(expected))
    }
  })

  const reserved = new Set(["__proto__", "constructor", "prototype"])
  it.prop(
    "validName is the XML Name production, reserved names refused",
    [
      fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.string({ unit: "binary", maxLength: 4 }),
        fc.stringMatching(/^[:A-Za-z_][-.:\w]{0,8}$/),
        fc.constantFrom(
          "__proto__",
          "constructor",
          "prototype",
          "a·b",
          "·a",
          "é",
          "1a",
          "-a",
          ".a",
          "a\u0300"
        )
      )
    ],
    ([name]) => {
      assert.strictEqual(Xml.validName(name), Xml.NAME_PATTERN.test(name) && !reserved.has(name))
    },
    { fastCheck: { numRuns: 2000 } }
  )
})

describe("internal/decoders.record", () => {
  it.prop(
    "is Object.fromEntries, `__proto__`, numeric names and repeats included",
    [
      fc.array(
        fc.tuple(
          fc.oneof(fc.constantFrom("__proto__", "constructor", "toString", "1", "01", "a", "b"), fc.string()),
          fc.string({ maxLength: 3 })
        ),
        { maxLength: 8 }
      )
    ],
    ([pairs]) => {
      const ours = Decoders.record(pairs)
      const expected = Object.fromEntries(pairs)
      assert.deepStrictEqual(ours, expected)
      assert.deepStrictEqual(Object.keys(ours), Object.keys(expected))
      assert.strictEqual(Object.getPrototypeOf(ours), Object.prototype)
    }
  )
})

describe("Xml.declaredEncoding", () => {
  /** The definition: the first 200 bytes (after a UTF-8 BOM) as latin1, matched whole. */
  const reference = (bytes: Uint8Array): string | undefined => {
    const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
    const head = Buffer.from(bytes.subarray(start, start + 200)).toString("latin1")
    return /^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head)?.[1]
  }
  const piece = fc.oneof(
    fc.constantFrom(
      "\uFEFF",
      "<?xml",
      " ",
      "\n",
      'version="1.0"',
      "encoding",
      "=",
      '"gbk"',
      "'utf-8'",
      '"x>y"',
      ">",
      "?>",
      "<alipay>",
      "é"
    ),
    fc.string({ maxLength: 4 }),
    fc.constant("a".repeat(190))
  )
  it.prop(
    "equals the pattern over the first 200 bytes",
    [fc.array(piece, { maxLength: 10 }), fc.boolean()],
    ([pieces, latin]) => {
      const text = pieces.join("")
      const bytes = latin ? Uint8Array.from(Buffer.from(text, "latin1")) : new TextEncoder().encode(text)
      assert.strictEqual(Xml.declaredEncoding(bytes), reference(bytes))
    },
    { fastCheck: { numRuns: 2000 } }
  )
})
