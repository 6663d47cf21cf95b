import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect, Either } from "effect"
import * as crypto from "node:crypto"
import * as Charset from "../src/Charset.js"
import * as Notification from "../src/Notification.js"
import * as SignedRequest from "../src/SignedRequest.js"
import * as SigningString from "../src/SigningString.js"
import { gatewayVerifier, keyPem } from "./fixtures.js"

const key = crypto.createPrivateKey(keyPem("gateway_private"))

/** A form body as Alipay posts it, signed with the gateway test key. */
const post = (
  fields: Array<[string, string]>,
  charset: Charset.Charset = "utf-8",
  extra: Array<[string, string]> = []
) => {
  const sign = crypto
    .sign("sha1", SigningString.bytes(fields, charset), { key, dsaEncoding: "der" })
    .toString("base64")
  const all = [...fields, ["sign", sign], ["sign_type", "DSA"], ...extra] as Array<[string, string]>
  return Charset.encode(SignedRequest.toQuery(all, charset), charset)
}

const xml = (leaves: Record<string, string>) =>
  `<notify>${Object.entries(leaves)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join("")}</notify>`

const assign = {
  notify_sub_type: "ASSIGN_FOR_ANNOUNCE_PAYMENT",
  outer_task_id: "t1",
  outer_transfer_no: "s1",
  transfer_amount: "120.50",
  payee_user_id: "2088102122524333",
  gmt_transfer: "20261125103000"
}

const decode = (body: Uint8Array, contentType?: string, charset?: Charset.Charset) =>
  Effect.either(Notification.decode({ body, contentType }, { charset })).pipe(Effect.provide(gatewayVerifier))

const base = (payload: string): Array<[string, string]> => [
  ["notify_id", "n1"],
  ["notify_time", "2026-11-25 10:30:00"],
  ["xml", payload]
]

describe("Notification.decode", () => {
  it.effect("decodes an ASSIGN payload with BigDecimal amounts and a business key", () =>
    Effect.gen(function* () {
      const result = yield* decode(post(base(xml(assign))), "application/x-www-form-urlencoded")
      assert.strictEqual(result._tag, "Right")
      if (result._tag !== "Right" || result.right.payload._tag !== "Assign")
        return assert.fail(JSON.stringify(result))
      assert.isTrue(
        BigDecimal.equals(result.right.payload.transferAmount, BigDecimal.unsafeFromString("120.5"))
      )
      assert.strictEqual(result.right.fields["transfer_amount"], "120.50")
      assert.strictEqual(Notification.businessKey(result.right), "ASSIGN_FOR_ANNOUNCE_PAYMENT|t1|s1")
    })
  )

  it.effect("a PLATFORM_PROFIT payload has no transfer number in its business key", () =>
    Effect.gen(function* () {
      const profit = {
        notify_sub_type: "PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT",
        outer_task_id: "t1",
        transfer_amount: "30.00",
        service_charge: "1.50",
        payee_user_id: "2088101012352995",
        gmt_transfer: "20261125103001"
      }
      const result = yield* decode(post(base(xml(profit))))
      assert.isTrue(result._tag === "Right" && result.right.payload._tag === "PlatformProfit")
      if (result._tag === "Right")
        assert.strictEqual(Notification.businessKey(result.right), "PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT|t1|")
    })
  )

  it.effect("uses the configured charset when the Content-Type names none", () =>
    Effect.gen(function* () {
      const body = post(base(xml({ ...assign, outer_task_id: "任务" })), "gbk")
      const ok = yield* decode(body, "application/x-www-form-urlencoded", "gbk")
      assert.isTrue(ok._tag === "Right" && ok.right.payload.outerTaskId === "任务", JSON.stringify(ok))
      const wrong = yield* decode(body, "application/x-www-form-urlencoded", "utf-8")
      assert.isTrue(wrong._tag === "Left")
    })
  )

  describe("the Content-Type's charset is not signed: configuration chooses (PROTOCOL.md §6)", () => {
    const chinese = { ...assign, outer_task_id: "中文任务-1", outer_transfer_no: "转账-1" }
    const FORM = "application/x-www-form-urlencoded"
    const withCharsets = (
      body: Uint8Array,
      contentType: string | undefined,
      charsets: Array<Charset.Charset>
    ) =>
      Effect.either(Notification.decode({ body, contentType }, { charsets })).pipe(
        Effect.provide(gatewayVerifier)
      )
    const reasonOf = (result: Either.Either<Notification.Notification, Notification.DecodeError>) =>
      Either.isLeft(result) && result.left._tag === "MalformedNotification" ? result.left.reason : undefined

    it.effect("a UTF-8 notification relabelled gbk is refused, not read as other text", () =>
      Effect.gen(function* () {
        const body = post(base(xml(chinese)), "utf-8")
        const genuine = yield* decode(body, `${FORM}; charset=utf-8`)
        assert.isTrue(Either.isRight(genuine) && genuine.right.fields["outer_task_id"] === "中文任务-1")
        // The old reading: the same verified bytes as GBK are other text.
        assert.notStrictEqual(
          Either.getOrThrow(Charset.decode(Charset.encode("中文任务-1", "utf-8"), "gbk")),
          "中文任务-1"
        )
        for (const label of ["gbk", "GB2312", "latin1", "utf-16", ""]) {
          const relabelled = yield* decode(body, `${FORM}; text/html; charset=${label}`)
          assert.strictEqual(reasonOf(relabelled), "charset_not_allowed", label)
          if (Either.isLeft(relabelled))
            assert.match(relabelled.left.message, /Content-Type charset .*accepts \(utf-8\)/)
        }
        // A second label cannot slip past the first.
        const twice = yield* decode(body, `${FORM}; charset=utf-8; charset=gbk`)
        assert.strictEqual(reasonOf(twice), "charset_not_allowed")
      })
    )

    it.effect(
      "a Content-Type that passed for one receiver is still checked for another (the pass is remembered per charsets)",
      () =>
        Effect.gen(function* () {
          const body = post(base(xml(chinese)), "utf-8")
          const contentType = `${FORM}; charset=utf-8`
          for (let i = 0; i < 3; i++) {
            assert.isTrue(Either.isRight(yield* decode(body, contentType)))
            assert.strictEqual(
              reasonOf(yield* withCharsets(body, contentType, ["gbk"])),
              "charset_not_allowed"
            )
            // A relabelled header right after a pass is not taken for the same one.
            assert.strictEqual(reasonOf(yield* decode(body, `${FORM}; charset=gbk`)), "charset_not_allowed")
          }
        })
    )

    it.effect("no label, or a Content-Type without one, reads in the configured charset", () =>
      Effect.gen(function* () {
        const body = post(base(xml(chinese)), "gbk")
        for (const contentType of [undefined, FORM]) {
          const ok = yield* decode(body, contentType, "gbk")
          assert.isTrue(Either.isRight(ok) && ok.right.fields["outer_task_id"] === "中文任务-1")
        }
      })
    )

    it.effect("gbk and gb2312 are one decoding: either label passes a receiver of the other", () =>
      Effect.gen(function* () {
        const body = post(base(xml(chinese)), "gbk")
        for (const [label, configured] of [
          ["GB2312", "gbk"],
          ["GBK", "gb2312"]
        ] as const) {
          const ok = yield* decode(body, `${FORM}; charset=${label}`, configured)
          assert.isTrue(Either.isRight(ok) && ok.right.fields["outer_task_id"] === "中文任务-1", label)
        }
      })
    )

    it.effect(
      "with several charsets, a body that reads differently in two is ambiguous, whatever the label",
      () =>
        Effect.gen(function* () {
          // 一 is D2 BB in GBK: valid UTF-8 too (U+04BB). Both decodings verify; only a label could choose.
          const body = post(base(xml({ ...assign, outer_task_id: "一" })), "gbk")
          for (const contentType of [`${FORM}; charset=GBK`, `${FORM}; charset=utf-8`, FORM, undefined]) {
            const result = yield* withCharsets(body, contentType, ["gbk", "utf-8"])
            assert.strictEqual(reasonOf(result), "charset_ambiguous", String(contentType))
            if (Either.isLeft(result)) assert.match(result.left.message, /xml.*gbk and utf-8/)
          }
        })
    )

    it.effect(
      "with several charsets, a body that reads alike (or in one only) is read, under any accepted label",
      () =>
        Effect.gen(function* () {
          const ascii = post(base(xml(assign)), "utf-8")
          // 中 is D6 D0 in GBK: not UTF-8, so only one accepted charset decodes it.
          const gbkOnly = post(base(xml({ ...assign, outer_task_id: "中" })), "gbk")
          for (const contentType of [`${FORM}; charset=GBK`, `${FORM}; charset=utf-8`, FORM, undefined]) {
            const a = yield* withCharsets(ascii, contentType, ["utf-8", "gbk"])
            assert.isTrue(
              Either.isRight(a) && a.right.fields["outer_task_id"] === "t1" && a.right.charset === "utf-8"
            )
            const g = yield* withCharsets(gbkOnly, contentType, ["utf-8", "gbk"])
            assert.isTrue(
              Either.isRight(g) && g.right.fields["outer_task_id"] === "中" && g.right.charset === "gbk"
            )
          }
          // A label still has to be one of them.
          const big5 = yield* withCharsets(ascii, `${FORM}; charset=big5`, ["utf-8", "gbk"])
          assert.strictEqual(reasonOf(big5), "charset_not_allowed")
        })
    )
  })

  it.effect("a field that appears twice is malformed, even when the signature covers the first", () =>
    Effect.gen(function* () {
      const body = post(base(xml(assign)), "utf-8", [["notify_id", "n2"]])
      const result = yield* decode(body)
      assert.isTrue(
        result._tag === "Left" &&
          result.left._tag === "MalformedNotification" &&
          result.left.reason === "duplicate_field"
      )
    })
  )

  it.effect("any extra non-empty field is signed too", () =>
    Effect.gen(function* () {
      const fields = [...base(xml(assign)), ["trade_note", "x"]] as Array<[string, string]>
      const ok = yield* decode(post(fields))
      assert.isTrue(ok._tag === "Right" && ok.right.form["trade_note"] === "x")
      const injected = yield* decode(post(base(xml(assign)), "utf-8", [["trade_note", "x"]]))
      assert.isTrue(
        injected._tag === "Left" &&
          injected.left._tag === "SignatureError" &&
          injected.left.reason === "mismatch"
      )
    })
  )

  for (const [name, leaves, pattern] of [
    ["a float amount", { ...assign, transfer_amount: "1.005" }, /transfer_amount|decimal/],
    ["a negative amount", { ...assign, transfer_amount: "-1.00" }, /decimal/],
    ["a bad gmt_transfer", { ...assign, gmt_transfer: "2026-11-25" }, /yyyyMMddHHmmss/],
    ["a missing transfer number", { ...assign, outer_transfer_no: "" }, /outer_transfer_no|required/]
  ] as const) {
    it.effect(`${name} is a malformed payload (after the signature verified)`, () =>
      Effect.gen(function* () {
        const result = yield* decode(post(base(xml(leaves))))
        assert.isTrue(
          result._tag === "Left" && result.left._tag === "MalformedNotification",
          JSON.stringify(result)
        )
        if (result._tag === "Left") {
          assert.strictEqual((result.left as Notification.MalformedNotification).reason, "payload")
          assert.match(result.left.message, pattern)
        }
      })
    )
  }

  it.effect("notify_time must be yyyy-MM-dd HH:mm:ss", () =>
    Effect.gen(function* () {
      const result = yield* decode(
        post([
          ["notify_id", "n1"],
          ["notify_time", "20261125"],
          ["xml", xml(assign)]
        ])
      )
      assert.isTrue(
        result._tag === "Left" &&
          result.left._tag === "MalformedNotification" &&
          result.left.reason === "fields"
      )
    })
  )

  it.effect("refuses a DOCTYPE inside the signed xml field", () =>
    Effect.gen(function* () {
      const result = yield* decode(post(base(`<!DOCTYPE notify [<!ENTITY a "b">]>${xml(assign)}`)))
      assert.isTrue(
        result._tag === "Left" &&
          result.left._tag === "MalformedNotification" &&
          result.left.reason === "payload"
      )
    })
  )

  it.effect("refuses invalid percent escapes and invalid bytes", () =>
    Effect.gen(function* () {
      const bad = yield* decode(new TextEncoder().encode("notify_id=%zz&sign=a"))
      assert.isTrue(
        bad._tag === "Left" && bad.left._tag === "MalformedNotification" && bad.left.reason === "form"
      )
      const invalidUtf8 = yield* decode(new TextEncoder().encode("notify_id=%FF%FE&sign=a&sign_type=DSA"))
      assert.isTrue(
        invalidUtf8._tag === "Left" &&
          invalidUtf8.left._tag === "MalformedNotification" &&
          invalidUtf8.left.reason === "charset"
      )
    })
  )

  it.effect("refuses a parsed object or a string instead of bytes", () =>
    Effect.gen(function* () {
      for (const body of [{ notify_id: "x" }, "notify_id=x", null]) {
        const result = yield* Effect.either(Notification.decode({ body })).pipe(
          Effect.provide(gatewayVerifier)
        )
        assert.isTrue(
          result._tag === "Left" &&
            result.left._tag === "MalformedNotification" &&
            result.left.reason === "not_bytes"
        )
      }
    })
  )
})
