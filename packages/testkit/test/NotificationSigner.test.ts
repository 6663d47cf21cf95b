import { assert, describe, it, layer } from "@effect/vitest"
import * as Charset from "@witkey/core/Charset"
import * as Notification from "@witkey/core/Notification"
import * as Signer from "@witkey/core/Signer"
import { Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import * as NotificationSigner from "../src/NotificationSigner.js"
import * as TestKeys from "../src/TestKeys.js"

interface NotificationVector {
  readonly name: string
  readonly charset: string
  readonly content_type: string
  readonly body_b64: string
  readonly signed_string?: string
}

const vectors: ReadonlyArray<NotificationVector> = JSON.parse(
  readFileSync(new URL("../../../fixtures/vectors/vectors.json", import.meta.url), "utf8")
).notifications

const vectorBody = (name: string) => {
  const v = vectors.find((x) => x.name === name)!
  return { vector: v, body: new TextDecoder().decode(Buffer.from(v.body_b64, "base64")) }
}

const withoutSign = (body: string) => body.slice(0, body.indexOf("&sign="))

const assign = NotificationSigner.assign({
  outerTaskId: "wf301111010000977",
  outerTransferNo: "89944ID1",
  transferAmount: "120",
  payeeUserId: "2088102122524333",
  gmtTransfer: "20261125103000"
})

const keys = Layer.merge(TestKeys.gatewaySigner, TestKeys.gatewayVerifier)

layer(keys)("NotificationSigner", (it) => {
  it.effect("reproduces the vectors byte for byte, up to the (randomized) DSA signature", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, NotificationSigner.Options]> = [
        [
          "assign-utf8",
          { notifyId: "n-0001", notifyTime: "2026-11-25 10:30:00", payload: assign, contentType: "malformed" }
        ],
        [
          "profit-gbk",
          {
            notifyId: "n-0002",
            notifyTime: "2026-11-25 10:30:00",
            charset: "gbk",
            payload: NotificationSigner.platformProfit({
              outerTaskId: "任务-42",
              transferAmount: "30.00",
              serviceCharge: "1.5",
              payeeUserId: "2088101012352995",
              gmtTransfer: "20261125103001"
            })
          }
        ],
        [
          "plus-and-slash-in-notify-id",
          {
            notifyId: "n+0003/x=",
            notifyTime: "2026-11-25 10:30:00",
            payload: assign,
            contentType: { exact: "application/x-www-form-urlencoded" }
          }
        ],
        [
          "unknown-sub-type-kept",
          {
            notifyId: "n-0004",
            notifyTime: "2026-11-25 10:30:00",
            payload: [
              ["notify_sub_type", "SOME_FUTURE_SUB_TYPE"],
              ["outer_task_id", "t-4"]
            ],
            contentType: { exact: "application/x-www-form-urlencoded" }
          }
        ]
      ]
      for (const [name, options] of cases) {
        const { body, vector } = vectorBody(name)
        const signed = yield* NotificationSigner.sign(options)
        const ours = new TextDecoder().decode(signed.body)
        assert.strictEqual(withoutSign(ours), withoutSign(body), name)
        assert.isTrue(ours.endsWith("&sign_type=DSA"), name)
        assert.strictEqual(signed.contentType, vector.content_type, name)
        assert.strictEqual(signed.canonical, vector.signed_string, name)
        const decoded = yield* Notification.decode(
          { body: signed.body, contentType: signed.contentType },
          { charset: options.charset ?? "utf-8" }
        )
        assert.strictEqual(decoded.notifyId, options.notifyId)
        assert.strictEqual(decoded.charset, Charset.parse(vector.charset))
      }
    })
  )

  it.effect("hostile variants are refused by core for the right reason", () =>
    Effect.gen(function* () {
      const base = { notifyId: "n-1", notifyTime: "2026-11-25 10:30:00", payload: assign }
      const reasonOf = (options: NotificationSigner.Options) =>
        Effect.gen(function* () {
          const signed = yield* NotificationSigner.sign(options)
          const e = yield* Effect.flip(
            Notification.decode({ body: signed.body, contentType: signed.contentType })
          )
          return e._tag === "SignatureError" ? e.reason : e._tag
        })
      const other = yield* Effect.provide(Signer.Signer, TestKeys.otherSigner)
      assert.strictEqual(yield* reasonOf({ ...base, signature: "missing" }), "missing")
      assert.strictEqual(yield* reasonOf({ ...base, signature: "tampered" }), "mismatch")
      assert.strictEqual(yield* reasonOf({ ...base, signature: { exact: "AAAA" } }), "mismatch")
      assert.strictEqual(yield* reasonOf({ ...base, signType: "RSA" }), "sign_type")
      assert.strictEqual(yield* reasonOf({ ...base, signer: other }), "mismatch")
      // A tampered notification carries a higher amount than was signed.
      const tampered = yield* NotificationSigner.sign({ ...base, signature: "tampered" })
      assert.include(new TextDecoder().decode(tampered.body), "transfer_amount%3E9120.00")
    })
  )

  it.effect("no Content-Type: the receiver's configured charset decides", () =>
    Effect.gen(function* () {
      const signed = yield* NotificationSigner.sign({
        notifyId: "n-gbk",
        notifyTime: "2026-11-25 10:30:00",
        charset: "gbk",
        contentType: "none",
        payload: NotificationSigner.assign({
          outerTaskId: "任务-1",
          outerTransferNo: "转账-1",
          transferAmount: "1.00",
          payeeUserId: "2088102122524333",
          gmtTransfer: "20261125103000"
        })
      })
      assert.isUndefined(signed.contentType)
      const decoded = yield* Notification.decode({ body: signed.body }, { charset: "gbk" })
      assert.strictEqual(decoded.fields["outer_task_id"], "任务-1")
      const wrong = yield* Effect.flip(Notification.decode({ body: signed.body }, { charset: "utf-8" }))
      assert.strictEqual(wrong._tag, "MalformedNotification")
    })
  )
})

describe("payload builders", () => {
  it("write amounts with two places", () => {
    const leaves = NotificationSigner.platformProfit({
      outerTaskId: "t",
      transferAmount: "7",
      serviceCharge: "0.5",
      payeeUserId: "p",
      gmtTransfer: "20260101000000"
    })
    assert.deepStrictEqual(Object.fromEntries(leaves)["transfer_amount"], "7.00")
    assert.deepStrictEqual(Object.fromEntries(leaves)["service_charge"], "0.50")
  })

  it("escape XML in payload text", () => {
    const xml = NotificationSigner.payloadXml([["outer_task_id", `a<b>&"c'`]], "utf-8", false)
    assert.strictEqual(xml, "<notify><outer_task_id>a&lt;b&gt;&amp;&quot;c&apos;</outer_task_id></notify>")
  })
})
