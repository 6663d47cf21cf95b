// Hostile input for ConfirmRequest.validate and ConfirmRequest.fromParams: values of any type, NUL bytes, BOMs,
// lone surrogates, characters GBK cannot hold, percent-escape garbage, huge values, many and repeated serials,
// odd separators. Either InvalidRequest naming the fields, or a request whose canonical string is unambiguous
// and which reads back from its own wire parameters unchanged.
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Either, Exit, FastCheck as fc } from "effect"
import * as Charset from "../src/Charset.js"
import * as ConfirmRequest from "../src/ConfirmRequest.js"
import * as Protocol from "../src/Protocol.js"
import * as SigningString from "../src/SigningString.js"
import { HANG_BOUND_MS, numRuns, prop } from "./fuzz.js"

/** Runs `f` as an Effect so a throw shows up as a defect, bounded in time; returns its Either. */
const run = <A>(f: () => Either.Either<A, ConfirmRequest.InvalidRequest>) => {
  const start = performance.now()
  const exit = Effect.runSyncExit(Effect.sync(f))
  const elapsed = performance.now() - start
  assert.isBelow(elapsed, HANG_BOUND_MS, `took ${elapsed.toFixed(0)} ms`)
  if (Exit.isFailure(exit)) return assert.fail(`defect: ${Cause.pretty(exit.cause)}`)
  const result = exit.value
  if (Either.isLeft(result)) {
    assert.strictEqual(result.left._tag, "InvalidRequest")
    assert.isAbove(result.left.issues.length, 0)
    for (const issue of result.left.issues) {
      assert.isString(issue.field)
      assert.isString(issue.rule)
      assert.isAbove(issue.message.length, 0)
    }
    assert.isString(result.left.message)
  }
  return result
}

/** What any accepted request must satisfy, whatever produced it. */
const assertSound = (request: ConfirmRequest.ConfirmRequest, separator: string) => {
  const params = ConfirmRequest.toParams(request, separator)
  const signed = SigningString.signedPairs(params)
  // Unambiguous: the canonical string splits back into exactly the pairs that were signed.
  assert.deepStrictEqual(
    SigningString.split(SigningString.make(params)),
    signed.map(([n, v]) => [n, v])
  )
  // Every value survives its charset byte for byte, so what is signed is what is sent.
  for (const [name, value] of params)
    assert.isTrue(Charset.canEncode(value, request.charset), `${name} does not survive ${request.charset}`)
  // The serials split back from transfer_detail.
  assert.deepStrictEqual(request.transfers.join(separator).split(separator), [...request.transfers])
  // And the wire parameters read back into the same request.
  const back = ConfirmRequest.fromParams(new Map(params), separator)
  assert.isTrue(Either.isRight(back), Either.isLeft(back) ? back.left.message : "")
  if (Either.isRight(back)) assert.deepStrictEqual(back.right, request)
}

const pieceArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.constantFrom(
    "\u0000",
    "\uFEFF",
    "\uD800",
    "\uDC00",
    "😀",
    "任务",
    "€",
    "\u00A0",
    "\u2028",
    "\u0085",
    "%",
    "%zz",
    "%26",
    "&",
    "=",
    "+",
    "#",
    " ",
    "\t",
    "\r\n",
    "~*~",
    "~*@^",
    "*@|$",
    "~",
    "*",
    "A",
    "1",
    "２"
  )
)

const textArb = fc.oneof(
  { arbitrary: fc.array(pieceArb, { maxLength: 6 }).map((p) => p.join("")), weight: 6 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,50}$/), weight: 3 },
  { arbitrary: fc.integer({ min: 1_000, max: 300_000 }).map((n) => "x".repeat(n)), weight: 1 }
)

const partnerArb = fc.oneof(
  fc.constant("2088101012352995"),
  fc.stringMatching(/^2088\d{12}$/),
  fc.constantFrom(
    "2088101012352995\n",
    " 2088101012352995",
    "２０８８101012352995",
    "20881010123529950",
    "2088"
  ),
  textArb
)

const separatorArb = fc.oneof(
  fc.constantFrom("~*~", "~*@^", "*@|$", "|", ","),
  fc.string({
    unit: fc.constantFrom("&", "=", "~", "*", "@", "|", "$", " ", "\u0000", "%", "+", "#", "a", "任"),
    minLength: 1,
    maxLength: 4
  }),
  fc.string({ minLength: 1, maxLength: 4 })
)

const plausibleArb = fc.record({
  partner: fc.stringMatching(/^2088\d{12}$/),
  outerTaskId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,50}$/), fc.constantFrom("任务-42", "€uro")),
  transfers: fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9]{1,20}$/), { minLength: 1, maxLength: 30 }),
  charset: fc.constantFrom("utf-8", "GBK", "gb2312")
})

const charsetInputArb = fc.oneof(
  fc.constantFrom(undefined, "utf-8", "UTF-8", "utf8", "gbk", "GBK", "gb2312", "GB2312"),
  fc.constantFrom(" utf-8", "utf-8 ", "utf-16", "latin1", "", "\u0000", "ｕｔｆ-8"),
  fc.string({ maxLength: 8 })
)

const notifyUrlArb = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom(
    "https://platform.example/alipay/notify",
    "http://127.0.0.1/notify",
    "https://platform.example/notify?a=1",
    "https://platform.example/notify?a=1&b=2",
    "https://platform.example/notify#frag",
    "javascript:alert(1)",
    "https://",
    "https://x/" + "a".repeat(300),
    "https://platform.example/通知"
  ),
  textArb
)

const inputArb = fc.record(
  {
    partner: partnerArb,
    outerTaskId: textArb,
    transfers: fc.oneof(
      fc.array(textArb, { maxLength: 35 }),
      fc.array(fc.stringMatching(/^[A-Za-z0-9]{1,12}$/), { minLength: 1, maxLength: 35 }),
      fc
        .tuple(fc.stringMatching(/^[A-Za-z0-9]{1,8}$/), fc.integer({ min: 2, max: 40 }))
        .map(([s, n]) => Array.from({ length: n }, () => s)),
      fc.integer({ min: 31, max: 20_000 }).map((n) => Array.from({ length: n }, (_, i) => `s${i}`))
    ),
    notifyUrl: notifyUrlArb,
    charset: charsetInputArb
  },
  { requiredKeys: ["partner", "outerTaskId", "transfers"] }
)

describe("ConfirmRequest.validate on hostile input", () => {
  prop(
    "values of any type: InvalidRequest or a request",
    [
      fc.anything({
        withBigInt: true,
        withBoxedValues: true,
        withDate: true,
        withMap: true,
        withSet: true,
        withNullPrototype: true,
        withSparseArray: true,
        withTypedArray: true
      })
    ],
    ([input]) => {
      const result = run(() => ConfirmRequest.validate(input))
      assert.isTrue(Either.isLeft(result))
    }
  )

  prop(
    "shaped but hostile input with the documented separators: InvalidRequest or a sound request",
    [
      inputArb,
      fc.constantFrom(undefined, "~*~", "~*@^", "*@|$"),
      fc.constantFrom<Charset.Charset | undefined>(undefined, "utf-8", "gbk")
    ],
    ([input, separator, defaultCharset]) => {
      const result = run(() => ConfirmRequest.validate(input, { separator, defaultCharset }))
      if (Either.isRight(result)) assertSound(result.right, separator ?? Protocol.DEFAULT_TRANSFER_SEPARATOR)
    }
  )

  // Bug (core, ConfirmRequest.validate): the separator is never checked. With a separator holding "&" (or a
  // character no charset byte can carry) a request is accepted whose canonical string does not split back
  // into its parameters, contradicting SigningString.split's "unambiguous for any accepted request".
  prop(
    "any separator: InvalidRequest or a sound request",
    [fc.oneof(inputArb, plausibleArb), separatorArb],
    ([input, separator]) => {
      const result = run(() => ConfirmRequest.validate(input, { separator }))
      if (Either.isRight(result)) assertSound(result.right, separator)
    }
  )

  let accepted = 0
  prop("plausible input is accepted and sound", [plausibleArb], ([input]) => {
    const result = run(() => ConfirmRequest.validate(input))
    assert.isTrue(Either.isRight(result), Either.isLeft(result) ? result.left.message : "")
    if (Either.isRight(result)) {
      accepted++
      assertSound(result.right, Protocol.DEFAULT_TRANSFER_SEPARATOR)
    }
  })

  it("the plausible-input property accepted requests (it is not vacuous)", () => {
    assert.strictEqual(accepted, numRuns)
  })
})

describe("ConfirmRequest.fromParams on hostile input", () => {
  const nameArb = fc.oneof(
    fc.constantFrom(
      "service",
      "partner",
      "_input_charset",
      "outer_task_id",
      "transfer_detail",
      "notify_url",
      "sign",
      "sign_type",
      "__proto__"
    ),
    fc.string({ maxLength: 10 })
  )
  const valueArb = fc.oneof(
    fc.constantFrom(Protocol.SERVICE, "2088101012352995", "utf-8", "GBK", "t-1", "a~*~b", "a~*~a", "~*~", ""),
    textArb
  )

  prop(
    "arbitrary parameter maps: InvalidRequest or a request that matches its parameters",
    [
      fc.array(fc.tuple(nameArb, valueArb), { maxLength: 12 }),
      fc.constantFrom(undefined, "~*~", "~*@^", "*@|$")
    ],
    ([pairs, separator]) => {
      const params = new Map(pairs)
      const result = run(() => ConfirmRequest.fromParams(params, separator))
      if (Either.isRight(result)) {
        const request = result.right
        const sep = separator ?? Protocol.DEFAULT_TRANSFER_SEPARATOR
        assert.strictEqual(params.get("service"), Protocol.SERVICE)
        assert.strictEqual(request.partner, params.get("partner"))
        assert.strictEqual(request.outerTaskId, params.get("outer_task_id"))
        assert.strictEqual(request.transfers.join(sep), params.get("transfer_detail"))
        assert.strictEqual(request.charset, Charset.parse(params.get("_input_charset")!))
        assert.strictEqual(request.notifyUrl, params.get("notify_url") || undefined)
        assertSound(request, sep)
      }
    }
  )

  const plausible = ConfirmRequest.toParams(
    Either.getOrThrow(
      ConfirmRequest.validate({
        partner: "2088101012352995",
        outerTaskId: "wf301111010000977",
        transfers: ["89944ID1", "89944ID2"],
        notifyUrl: "https://platform.example/notify"
      })
    )
  )

  prop(
    "the wire parameters of a plausible request with one value replaced by garbage",
    [fc.constantFrom(...plausible.map(([name]) => name)), textArb],
    ([name, garbage]) => {
      const params = new Map(plausible)
      params.set(name, garbage)
      const result = run(() => ConfirmRequest.fromParams(params))
      if (Either.isRight(result)) assertSound(result.right, Protocol.DEFAULT_TRANSFER_SEPARATOR)
    }
  )
})
