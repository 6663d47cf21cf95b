import { assert, describe, it } from "@effect/vitest"
import { BigDecimal, Effect } from "effect"
import * as Charset from "../src/Charset.js"
import * as GatewayResponse from "../src/GatewayResponse.js"
import * as Notification from "../src/Notification.js"
import * as SigningString from "../src/SigningString.js"
import { b64, gatewayVerifier, hex, vectors } from "./fixtures.js"

describe("shared vectors", () => {
  describe("canonical", () => {
    for (const c of vectors.canonical) {
      it(c.name, () => {
        const charset = Charset.parse(c.charset)!
        assert.strictEqual(SigningString.make(c.params), c.canonical)
        assert.strictEqual(hex(SigningString.bytes(c.params, charset)), c.bytes_hex)
      })
    }
  })

  describe("responses", () => {
    for (const v of vectors.responses) {
      it.effect(v.name, () =>
        Effect.gen(function* () {
          const result = yield* Effect.either(
            GatewayResponse.decode({ body: b64(v.body_b64) }, Charset.parse(v.charset)!)
          )
          if (v.expect["ok"] === true) {
            assert.strictEqual(result._tag, "Right", JSON.stringify(result))
            if (result._tag === "Right") {
              assert.strictEqual(result.right.isSuccess, v.expect["is_success"])
              assert.strictEqual(result.right.outerTaskId, v.expect["outer_task_id"])
              assert.strictEqual(SigningString.make(Object.entries(result.right.signed)), v.signed_string)
            }
          } else {
            assert.strictEqual(result._tag, "Left")
            if (result._tag === "Left") {
              assert.strictEqual(result.left._tag, v.expect["error"])
              if (v.expect["reason"])
                assert.strictEqual((result.left as { reason?: string }).reason, v.expect["reason"])
              if (v.expect["code"])
                assert.strictEqual((result.left as { code?: string }).code, v.expect["code"])
            }
          }
        }).pipe(Effect.provide(gatewayVerifier))
      )
    }
  })

  describe("notifications", () => {
    for (const v of vectors.notifications) {
      it.effect(v.name, () =>
        Effect.gen(function* () {
          const result = yield* Effect.either(
            Notification.decode(
              { body: b64(v.body_b64), contentType: v.content_type },
              { charset: Charset.parse(v.charset)! }
            )
          )
          if (v.expect["ok"] === true) {
            assert.strictEqual(result._tag, "Right", JSON.stringify(result))
            if (result._tag !== "Right") return
            const n = result.right
            const { ok: _ok, notify_id, notify_time, sub_type, ...fields } = v.expect
            assert.strictEqual(n.notifyId, notify_id)
            assert.strictEqual(n.notifyTime, notify_time)
            assert.strictEqual(n.payload.subType, sub_type)
            for (const [name, value] of Object.entries(fields))
              assert.strictEqual(n.fields[name], value, name)
            assert.strictEqual(SigningString.make(Object.entries(n.form)), v.signed_string)
            if (n.payload._tag === "Assign")
              assert.isTrue(
                BigDecimal.equals(
                  n.payload.transferAmount,
                  BigDecimal.unsafeFromString(String(fields["transfer_amount"]))
                )
              )
          } else {
            assert.strictEqual(result._tag, "Left")
            if (result._tag === "Left" && v.expect["error"]) {
              assert.strictEqual(result.left._tag, v.expect["error"])
              if (v.expect["reason"])
                assert.strictEqual((result.left as { reason?: string }).reason, v.expect["reason"])
            }
          }
        }).pipe(Effect.provide(gatewayVerifier))
      )
    }
  })
})
