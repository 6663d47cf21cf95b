// The business key is what an inbox de-duplicates on: two different events with one key lose a payout
// (issue 13 §1). It must be injective over everything the request rules accept, `|` and `\` included.
import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, FastCheck as fc } from "effect"
import * as ConfirmRequest from "../src/ConfirmRequest.js"
import * as Notification from "../src/Notification.js"
import * as Protocol from "../src/Protocol.js"

type Parts = readonly [subType: string, outerTaskId: string, outerTransferNo: string]

/** The inverse of `businessKeyOf`, written here from the format's description: split on unescaped `|`. */
const parse = (key: string): ReadonlyArray<string> => {
  const parts: Array<string> = []
  let current = ""
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!
    if (c === "\\") {
      const next = key[i + 1]
      assert.isTrue(next === "\\" || next === "|", `a lone escape at ${i} in ${JSON.stringify(key)}`)
      current += next
      i++
    } else if (c === "|") {
      parts.push(current)
      current = ""
    } else current += c
  }
  parts.push(current)
  return parts
}

const keyOf = ([subType, task, serial]: Parts) => Notification.businessKeyOf(subType, task, serial)

// Separators and escapes often, the rest of the characters ids may hold sometimes.
const idChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("|", "\\", "a", "b") },
  { weight: 1, arbitrary: fc.constantFrom("中", "~", "*", ":", "\u{1F600}") }
)
const id = fc.string({ unit: idChar, minLength: 1, maxLength: 6 })
const subType = fc.constantFrom(Protocol.Notify.assign, Protocol.Notify.platformProfit)
/** An ASSIGN's parts, or a fee's (no serial: the empty string). */
const parts: fc.Arbitrary<Parts> = fc.oneof(
  fc.tuple(fc.constant(Protocol.Notify.assign), id, id),
  fc.tuple(fc.constant(Protocol.Notify.platformProfit), id, fc.constant(""))
)

/** Two events whose plain join is one string: the task and serial boundary moved across a `|`. */
const moved: fc.Arbitrary<readonly [Parts, Parts]> = fc.tuple(subType, id, id, id).map(([s, a, b, c]) => [
  [s, `${a}|${b}`, c],
  [s, a, `${b}|${c}`]
])

describe("Notification.businessKeyOf", () => {
  it("the two payouts of issue 13 have different keys", () => {
    const a = Notification.businessKeyOf(Protocol.Notify.assign, "X|Y", "Z")
    const b = Notification.businessKeyOf(Protocol.Notify.assign, "X", "Y|Z")
    assert.notStrictEqual(a, b)
    assert.strictEqual(a, "ASSIGN_FOR_ANNOUNCE_PAYMENT|X\\|Y|Z")
    assert.strictEqual(b, "ASSIGN_FOR_ANNOUNCE_PAYMENT|X|Y\\|Z")
  })

  it("the ids of issue 13 are ones the request rules accept", () => {
    for (const value of ["X|Y", "Y|Z", "a\\", "b|c"]) {
      assert.deepStrictEqual(ConfirmRequest.checkOuterTaskId(value), [])
      assert.deepStrictEqual(ConfirmRequest.checkTransferSerial(value), [])
    }
  })

  it.prop("events whose plain join is one string get different keys", [moved], ([[a, b]]) => {
    assert.strictEqual(a.join("|"), b.join("|"), "the old join collides")
    assert.notStrictEqual(keyOf(a), keyOf(b))
  })

  // Independent pairs, equal pairs and moved-boundary pairs: both sides of the equivalence get exercised.
  it.prop(
    "distinct events, distinct keys; equal events, equal keys",
    [
      fc.oneof(
        fc.tuple(parts, parts),
        parts.map((p) => [p, p] as const),
        moved
      )
    ],
    ([[a, b]]) => {
      const same = a[0] === b[0] && a[1] === b[1] && a[2] === b[2]
      assert.strictEqual(keyOf(a) === keyOf(b), same)
    }
  )

  it.prop(
    "a key splits back into exactly its parts",
    [
      fc.oneof(
        parts,
        moved.map(([a]) => a)
      )
    ],
    ([p]) => {
      assert.deepStrictEqual(parse(keyOf(p)), [...p])
    }
  )

  it.prop(
    "the key of ids without `|` or `\\` is the plain join, as before",
    [subType, fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 8 })],
    ([s, task, serial]) => {
      fc.pre(!/[|\\]/.test(task + serial))
      assert.strictEqual(Notification.businessKeyOf(s, task, serial), `${s}|${task}|${serial}`)
    }
  )
})

describe("Notification.businessKey and eventKey", () => {
  const notification = (payload: Notification.Payload): Notification.Notification => ({
    notifyId: "n|1",
    notifyTime: "2026-11-25 10:30:00",
    payload,
    fields: {},
    form: {},
    charset: "utf-8",
    verifiedBy: { keyId: "test", status: "active" }
  })
  const amount = BigDecimal.unsafeFromString("1.00")
  const assign = (outerTaskId: string, outerTransferNo: string) =>
    notification({
      _tag: "Assign",
      subType: Protocol.Notify.assign,
      outerTaskId,
      outerTransferNo,
      transferAmount: amount,
      payeeUserId: "2088102122524333",
      gmtTransfer: "20261125103000"
    })

  it("an ASSIGN's key is businessKeyOf its sub type, task and serial", () => {
    const n = assign("X|Y", "Z")
    assert.strictEqual(
      Notification.businessKey(n),
      Notification.businessKeyOf(Protocol.Notify.assign, "X|Y", "Z")
    )
    assert.strictEqual(Notification.eventKey(n), Notification.businessKey(n))
    assert.notStrictEqual(Notification.businessKey(n), Notification.businessKey(assign("X", "Y|Z")))
  })

  it("a fee's key has an empty serial; an unknown sub type has none and is keyed by notify_id", () => {
    const fee = notification({
      _tag: "PlatformProfit",
      subType: Protocol.Notify.platformProfit,
      outerTaskId: "t|1",
      transferAmount: amount,
      serviceCharge: amount,
      payeeUserId: "2088101012352995",
      gmtTransfer: "20261125103000"
    })
    assert.strictEqual(Notification.businessKey(fee), "PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT|t\\|1|")
    const unknown = notification({ _tag: "UnknownSubType", subType: "REFUND", outerTaskId: "t" })
    assert.isUndefined(Notification.businessKey(unknown))
    assert.strictEqual(Notification.eventKey(unknown), "notify_id:n|1")
  })
})
