import { assert, describe, it, layer } from "@effect/vitest"
import * as Charset from "@witkey/core/Charset"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as Notification from "@witkey/core/Notification"
import * as Protocol from "@witkey/core/Protocol"
import { Effect, Either, Layer, Schema } from "effect"
import * as Arbitraries from "../src/Arbitraries.js"
import * as GatewayAnswer from "../src/GatewayAnswer.js"
import * as NotificationSigner from "../src/NotificationSigner.js"
import * as TestKeys from "../src/TestKeys.js"

const fastCheck = { fastCheck: { numRuns: 60 } }

describe("Arbitraries", () => {
  it.prop(
    "valid inputs validate, in their charset, and round-trip through the wire parameters",
    [Arbitraries.confirmInput],
    ([input]) => {
      const request = Either.getOrThrow(ConfirmRequest.validate(input))
      assert.strictEqual(request.charset, input.charset)
      assert.isTrue(request.transfers.length >= 1 && request.transfers.length <= Protocol.MAX_TRANSFERS)
      const params = new Map(ConfirmRequest.toParams(request))
      assert.isAtMost(params.get("transfer_detail")!.length, Protocol.MAX_TRANSFER_DETAIL_LENGTH)
      assert.deepStrictEqual(Either.getOrThrow(ConfirmRequest.fromParams(params)), request)
    },
    fastCheck
  )

  it.prop(
    "gbk and gb2312 inputs carry Chinese text that their codec encodes",
    [Arbitraries.confirmInputIn("gbk"), Arbitraries.confirmInputIn("gb2312")],
    ([gbk, gb2312]) => {
      for (const input of [gbk, gb2312]) {
        const all = [input.outerTaskId, ...input.transfers].join("")
        assert.isTrue(Charset.canEncode(all, "gbk"))
      }
    },
    fastCheck
  )

  it.prop(
    "hostile inputs are refused, naming the field and rule",
    [Arbitraries.hostileInput],
    ([hostile]) => {
      const result = ConfirmRequest.validate(hostile.input)
      assert.isTrue(Either.isLeft(result), `accepted: ${hostile.description}`)
      if (Either.isLeft(result))
        assert.isTrue(
          result.left.issues.some((i) => i.field === hostile.field && i.rule === hostile.rule),
          `${hostile.description}: expected ${hostile.field}/${hostile.rule} in ${JSON.stringify(result.left.issues)}`
        )
    },
    { fastCheck: { numRuns: 200 } }
  )

  it.prop(
    "schema-shaped values decode with core's schemas",
    [
      Arbitraries.partnerId,
      Arbitraries.outerTaskId("gbk"),
      Arbitraries.transferSerial("utf-8"),
      Arbitraries.notifyUrl,
      Arbitraries.amount,
      Arbitraries.charsetName,
      Arbitraries.taskInfo()
    ],
    ([partner, task, serial, url, amount, charsetName, info]) => {
      Schema.decodeUnknownSync(ConfirmRequest.PartnerId)(partner)
      Schema.decodeUnknownSync(ConfirmRequest.OuterTaskId)(task)
      Schema.decodeUnknownSync(ConfirmRequest.TransferSerial)(serial)
      Schema.decodeUnknownSync(ConfirmRequest.NotifyUrl)(url)
      Schema.decodeUnknownSync(Notification.Amount)(amount)
      assert.include(Charset.values, Schema.decodeUnknownSync(Charset.Charset)(charsetName))
      Schema.decodeUnknownSync(GatewayResponse.TaskInfo)(info)
    },
    fastCheck
  )

  it.prop(
    "error arbitraries build core's typed errors",
    [
      Arbitraries.gatewayRejected,
      Arbitraries.invalidRequest,
      Arbitraries.signatureError,
      Arbitraries.malformedResponse,
      Arbitraries.unknownOutcome
    ],
    ([rejected, invalid, signature, malformed, unknown]) => {
      assert.instanceOf(rejected, GatewayResponse.GatewayRejected)
      assert.isTrue(invalid._tag === "InvalidRequest" && invalid.issues.length > 0)
      assert.strictEqual(signature._tag, "SignatureError")
      assert.strictEqual(malformed._tag, "MalformedResponse")
      assert.strictEqual(unknown._tag, "UnknownOutcome")
    },
    { fastCheck: { numRuns: 30 } }
  )

  it.prop(
    "transport errors and raw answers are well-formed",
    [Arbitraries.transportError, Arbitraries.rawResponse],
    ([e, r]) => {
      assert.strictEqual(e._tag, "TransportError")
      assert.isTrue(r.status >= 100 && r.status <= 599 && r.body instanceof Uint8Array)
    }
  )
})

layer(Layer.merge(TestKeys.gatewaySigner, TestKeys.gatewayVerifier))(
  "Arbitraries with the gateway keys",
  (it) => {
    it.effect.prop(
      "every generated notification signs and decodes to its own fields, whatever the sub type",
      [Arbitraries.notification],
      ([options]) =>
        Effect.gen(function* () {
          const signed = yield* NotificationSigner.sign(options)
          const decoded = yield* Notification.decode(
            { body: signed.body, contentType: signed.contentType },
            // The receiver is configured with the charset it was sent in: the label never chooses one.
            { charset: options.charset ?? "utf-8" }
          )
          const leaves = options.payload as NotificationSigner.Leaves
          assert.deepStrictEqual(decoded.fields, Object.fromEntries(leaves))
          assert.strictEqual(decoded.notifyId, options.notifyId)
          assert.strictEqual(decoded.payload.subType, leaves[0]![1])
          assert.strictEqual(
            decoded.payload._tag,
            leaves[0]![1] === Protocol.Notify.assign
              ? "Assign"
              : leaves[0]![1] === Protocol.Notify.platformProfit
                ? "PlatformProfit"
                : "UnknownSubType"
          )
        }),
      { fastCheck: { numRuns: 30 } }
    )

    it.effect.prop(
      "every response spec becomes an answer core decodes to the same outcome",
      [Arbitraries.responseSpec],
      ([spec]) =>
        Effect.gen(function* () {
          if (spec._tag === "Failure") {
            const e = yield* Effect.flip(
              GatewayResponse.decode(GatewayAnswer.failure(spec.code, spec.charset), spec.charset)
            )
            assert.strictEqual(e._tag, "GatewayRejected")
            assert.strictEqual((e as GatewayResponse.GatewayRejected).code, spec.code)
          } else {
            const answer = yield* GatewayAnswer.success(spec)
            const decoded = yield* GatewayResponse.decode(answer, spec.charset)
            assert.strictEqual(decoded.outerTaskId, spec.outerTaskId)
          }
        }),
      { fastCheck: { numRuns: 30 } }
    )
  }
)
