import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import * as ConfirmRequest from "../src/ConfirmRequest.js"

const valid = {
  partner: "2088101012352995",
  outerTaskId: "wf301111010000977",
  transfers: ["89944ID1", "89943ID1"]
}

const issuesOf = (input: unknown, options?: ConfirmRequest.Options) => {
  const result = ConfirmRequest.validate(input, options)
  assert.isTrue(Either.isLeft(result), "expected the input to be refused")
  return Either.isLeft(result) ? result.left.issues : []
}

const has = (issues: ReadonlyArray<ConfirmRequest.Issue>, field: string, rule: string) =>
  assert.isTrue(
    issues.some((i) => i.field === field && i.rule === rule),
    `expected ${field}/${rule} in ${JSON.stringify(issues)}`
  )

describe("ConfirmRequest.validate", () => {
  it("refuses a sparse array of serials: a hole is not a serial", () => {
    const holey: Array<string> = []
    holey[1] = "S1"
    has(issuesOf({ ...valid, transfers: holey }), "transfers.0", "type")
    const middle = ["S1", "S2"]
    delete middle[0]
    assert.isTrue(Either.isLeft(ConfirmRequest.validate({ ...valid, transfers: middle })))
  })

  it("input that throws while it is read, or that is far too long, is refused with an InvalidRequest", () => {
    const throwing = {
      ...valid,
      get partner(): string {
        throw new Error("not today")
      }
    }
    const thrown = issuesOf(throwing)
    assert.strictEqual(thrown[0]!.rule, "type")
    assert.include(thrown[0]!.message, "not today")
    const huge: Array<unknown> = []
    huge[1_000_000] = 1
    has(issuesOf({ ...valid, transfers: huge }), "transfer_detail", "max_count")
    // One issue, not one per missing element.
    assert.strictEqual(issuesOf({ ...valid, transfers: huge }).length, 1)
  })

  it("optional fields are read only from the input itself, never from its prototype", () => {
    const inherited = Object.assign(Object.create({ notifyUrl: "https://evil.example/notify" }), valid)
    const request = Either.getOrThrow(ConfirmRequest.validate(inherited))
    assert.isUndefined(request.notifyUrl)
  })

  it("signs what it checked: changing the caller's array or a getter afterwards changes nothing", () => {
    const transfers = ["89944ID1"]
    let reads = 0
    const input = {
      ...valid,
      transfers,
      get outerTaskId() {
        return ++reads === 1 ? "wf301111010000977" : "EVIL&x=1"
      }
    }
    const request = Either.getOrThrow(ConfirmRequest.validate(input))
    transfers[0] = "EVIL&x=1"
    assert.deepStrictEqual(Array.from(request.transfers, String), ["89944ID1"])
    assert.strictEqual(request.outerTaskId, "wf301111010000977")
    assert.include(new Map(ConfirmRequest.toParams(request)).get("transfer_detail"), "89944ID1")
  })
  it("accepts the seed's sample and defaults the charset to utf-8", () => {
    const request = Either.getOrThrow(ConfirmRequest.validate(valid))
    assert.strictEqual(request.charset, "utf-8")
    assert.deepStrictEqual(ConfirmRequest.toParams(request), [
      ["service", "alipay.witkey.task.confirm.by.platform"],
      ["partner", "2088101012352995"],
      ["_input_charset", "utf-8"],
      ["outer_task_id", "wf301111010000977"],
      ["transfer_detail", "89944ID1~*~89943ID1"]
    ])
  })

  it("normalises the charset's letter case", () => {
    assert.strictEqual(
      Either.getOrThrow(ConfirmRequest.validate({ ...valid, charset: "GBK" })).charset,
      "gbk"
    )
  })

  it("names every offending field and rule in one error", () => {
    const issues = issuesOf({
      partner: "12345",
      outerTaskId: "x".repeat(51),
      transfers: ["a", "a", "b&c", "", "d~*~e"],
      notifyUrl: "ftp://x",
      charset: "latin1"
    })
    has(issues, "partner", "format")
    has(issues, "outer_task_id", "max_length")
    has(issues, "transfer_detail[1]", "unique")
    has(issues, "transfer_detail[2]", "forbidden_char")
    has(issues, "transfer_detail[3]", "required")
    has(issues, "transfer_detail[4]", "separator")
    has(issues, "notify_url", "format")
    has(issues, "_input_charset", "enum")
    const error = Either.getLeft(ConfirmRequest.validate({ ...valid, partner: "1" }))
    assert.match(error._tag === "Some" ? error.value.message : "", /partner: must be an Alipay partner id/)
  })

  it("bounds the count of transfers and the joined length", () => {
    has(issuesOf({ ...valid, transfers: [] }), "transfer_detail", "min_count")
    has(
      issuesOf({ ...valid, transfers: Array.from({ length: 31 }, (_, i) => `s${i}`) }),
      "transfer_detail",
      "max_count"
    )
    const long = Array.from({ length: 30 }, (_, i) => `${i}`.padStart(33, "x"))
    has(issuesOf({ ...valid, transfers: long }), "transfer_detail", "max_length")
    // 30 serials of 31 characters joined by 29 separators: 930 + 87 = 1017 > 1000
    const exact = Array.from({ length: 25 }, (_, i) => `${i}`.padStart(37, "y"))
    assert.isTrue(
      Either.isRight(ConfirmRequest.validate({ ...valid, transfers: exact })),
      "25*37+24*3 = 997 fits"
    )
  })

  it.each(["a b", "a\tb", "a\u0000b", "a=b", "a%b", "a+b", "a#b", "a&b"])(
    "refuses the serial %j",
    (serial) => {
      has(issuesOf({ ...valid, transfers: [serial] }), "transfer_detail[0]", "forbidden_char")
    }
  )

  it("an empty separator is refused, and the list it would make is reported ambiguous too", () => {
    const issues = issuesOf({ ...valid, transfers: ["ab"] }, { separator: "" })
    has(issues, "separator", "forbidden_char")
    has(issues, "transfer_detail", "ambiguous")
  })

  it("refuses serials whose join would split differently", () => {
    has(issuesOf({ ...valid, transfers: ["a~*", "~b"] }, {}), "transfer_detail", "ambiguous")
  })

  // The split check is skipped when no serial holds a separator character; the rule must not change.
  it.prop(
    "a list is refused as ambiguous exactly when its join splits into another list",
    [
      fc.uniqueArray(
        fc.string({ unit: fc.constantFrom("a", "b", "~", "*", "@", "^"), minLength: 1, maxLength: 5 }),
        {
          minLength: 1,
          maxLength: 5
        }
      ),
      fc.constantFrom("~*~", "~*@^", "aa", "ab", "~", "a~a")
    ],
    ([transfers, separator]) => {
      const result = ConfirmRequest.validate({ ...valid, transfers }, { separator })
      const ambiguous =
        Either.isLeft(result) &&
        result.left.issues.some((i) => i.field === "transfer_detail" && i.rule === "ambiguous")
      const splitsDifferently =
        transfers.join(separator).split(separator).join("\u0000") !== transfers.join("\u0000")
      assert.strictEqual(ambiguous, splitsDifferently)
      if (!splitsDifferently && !transfers.some((s) => s.includes(separator)))
        assert.isTrue(Either.isRight(result))
    }
  )

  it("honours a configured separator", () => {
    const request = Either.getOrThrow(ConfirmRequest.validate(valid, { separator: "~*@^" }))
    assert.strictEqual(ConfirmRequest.toParams(request, "~*@^")[4]![1], "89944ID1~*@^89943ID1")
    has(
      issuesOf({ ...valid, transfers: ["a~*@^b"] }, { separator: "~*@^" }),
      "transfer_detail[0]",
      "separator"
    )
  })

  it("refuses text the charset cannot carry", () => {
    has(issuesOf({ ...valid, outerTaskId: "任务😀", charset: "gbk" }), "outer_task_id", "charset")
    assert.isTrue(
      Either.isRight(ConfirmRequest.validate({ ...valid, outerTaskId: "任务😀", charset: "utf-8" }))
    )
  })

  it("refuses a notify_url with & (the canonical string would be ambiguous)", () => {
    has(issuesOf({ ...valid, notifyUrl: "https://shop.example/n?a=1&b=2" }), "notify_url", "forbidden_char")
  })

  it("reports wrong types by path", () => {
    const issues = issuesOf({ partner: 1, transfers: "x" })
    assert.isTrue(issues.some((i) => i.field === "partner" && i.rule === "type"))
    assert.isTrue(issues.some((i) => i.field === "outerTaskId" && i.rule === "type"))
  })

  it("fromParams requires every parameter and the service", () => {
    const result = ConfirmRequest.fromParams(new Map([["service", "other"]]))
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      has(result.left.issues, "partner", "required")
      has(result.left.issues, "service", "enum")
    }
  })
})
