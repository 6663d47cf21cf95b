// Issue 13 §2: the Content-Type's charset is not signed. For every genuine notification, re-posted under any
// other label to a receiver configured for the charset it was sent in (alone or with others), the receive is
// either refused or reads exactly the genuine fields (PROTOCOL.md §6).
import { assert, describe, it, layer } from "@effect/vitest"
import * as Charset from "@witkey/core/Charset"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import { Effect, Either, FastCheck as fc, Layer } from "effect"
import * as Arbitraries from "../src/Arbitraries.js"
import * as MemoryInbox from "../src/MemoryInbox.js"
import * as NotificationSigner from "../src/NotificationSigner.js"
import * as TestKeys from "../src/TestKeys.js"

const FORM = "application/x-www-form-urlencoded"

/** Every other label: each charset we speak in several spellings, none at all, unknown ones, two at once. */
const LABELS: ReadonlyArray<string | undefined> = [
  `${FORM}; charset=utf-8`,
  `${FORM}; charset=UTF8`,
  `${FORM}; charset=GBK`,
  `${FORM}; charset=gbk`,
  `${FORM}; charset=gb2312`,
  `${FORM}; text/html; charset=GB2312`,
  `${FORM}; charset="utf-8"`,
  FORM,
  undefined,
  `${FORM}; charset=latin1`,
  `${FORM}; charset=utf-16`,
  `${FORM}; charset=big5`,
  `${FORM}; charset=gb18030`,
  `${FORM}; charset=utf-8x`,
  `${FORM}; charset=`,
  `${FORM}; charset=utf-8; charset=gbk`,
  `${FORM}; charset=gbk, charset=utf-8`
]

/** Receiver configurations; only those that accept the sender's charset apply to a notification. */
const CONFIGS: ReadonlyArray<ReadonlyArray<Charset.Charset>> = [
  ["utf-8"],
  ["gbk"],
  ["gb2312"],
  ["utf-8", "gbk"],
  ["gbk", "utf-8"],
  ["gb2312", "utf-8"],
  ["utf-8", "gbk", "gb2312"],
  ["gbk", "gb2312"]
]

/**
 * Chinese characters whose GBK bytes are also valid UTF-8 (decoding to other text): the other
 * direction, where strict decoding alone cannot tell the charsets apart.
 */
const GBK_ALSO_UTF8: ReadonlyArray<string> = (() => {
  const out: Array<string> = []
  for (let code = 0x4e00; code <= 0x9fa5 && out.length < 200; code++) {
    const c = String.fromCharCode(code)
    if (!Charset.canEncode(c, "gbk")) continue
    if (Either.isRight(Charset.decode(Charset.encode(c, "gbk"), "utf-8"))) out.push(c)
  }
  return out
})()

const ambiguousId = fc
  .array(fc.oneof(fc.constantFrom(...GBK_ALSO_UTF8), fc.constantFrom(..."abc-019".split(""))), {
    minLength: 1,
    maxLength: 12
  })
  .map((chars) => chars.join(""))

/** GBK notifications whose ids are valid UTF-8 too, under both Content-Type styles. */
const gbkAlsoUtf8: fc.Arbitrary<NotificationSigner.Options> = fc.record({
  notifyId: Arbitraries.notifyId,
  notifyTime: Arbitraries.notifyTime,
  payload: fc.record({ task: ambiguousId, serial: ambiguousId, amount: Arbitraries.amount }).map((f) =>
    NotificationSigner.assign({
      outerTaskId: f.task,
      outerTransferNo: f.serial,
      transferAmount: f.amount,
      payeeUserId: "2088102122524333",
      gmtTransfer: "20261125103000"
    })
  ),
  charset: fc.constantFrom<Charset.Charset>("gbk", "gb2312"),
  contentType: fc.constantFrom<NotificationSigner.ContentTypeStyle>("standard", "malformed"),
  // Without the (signed) declaration: nothing in the body then says which charset was meant.
  xmlDeclaration: fc.boolean()
})

/** The example: a UTF-8 notification with Chinese ids. */
const utf8Chinese: fc.Arbitrary<NotificationSigner.Options> = fc.record({
  notifyId: Arbitraries.notifyId,
  notifyTime: Arbitraries.notifyTime,
  payload: fc.record({ task: fc.nat(99_999), serial: fc.nat(99) }).map(({ serial, task }) =>
    NotificationSigner.assign({
      outerTaskId: `中文任务-${task}`,
      outerTransferNo: `转账-${serial}`,
      transferAmount: "120.00",
      payeeUserId: "2088102122524333",
      gmtTransfer: "20261125103000"
    })
  ),
  charset: fc.constant<Charset.Charset>("utf-8")
})

const genuine = fc.oneof(Arbitraries.notification, gbkAlsoUtf8, utf8Chinese)

/** What a receiver would hand the handler, minus the charset name (equal fields may read in either). */
const seen = (n: Notification.Notification) => ({
  notifyId: n.notifyId,
  notifyTime: n.notifyTime,
  form: n.form,
  fields: n.fields,
  businessKey: Notification.businessKey(n)
})

// Whether the property met each outcome: a test that only ever refused (or only ever accepted) proves little.
const met = {
  relabelledRead: 0,
  relabelledRefused: 0,
  otherCharsetRefused: 0,
  ambiguousRefused: 0,
  genuineAfterCopy: 0
}

layer(TestKeys.gatewayVerifier.pipe(Layer.merge(TestKeys.gatewaySigner)))(
  "relabelled notifications",
  (it) => {
    it.effect.prop(
      "under any other label, a genuine notification is refused or reads exactly its genuine fields",
      [genuine],
      ([options]) =>
        Effect.gen(function* () {
          const signed = yield* NotificationSigner.sign(options)
          const sent = options.charset ?? "utf-8"
          const truth = yield* Notification.decode(
            { body: signed.body, contentType: signed.contentType },
            { charsets: [sent] }
          )
          for (const charsets of CONFIGS) {
            if (!charsets.some((c) => Charset.sameDecoding(c, sent))) continue
            for (const contentType of LABELS) {
              const result = yield* Effect.either(
                Notification.decode({ body: signed.body, contentType }, { charsets })
              )
              const where = `${sent} body, labelled ${JSON.stringify(contentType)}, receiver ${charsets.join("+")}`
              if (Either.isRight(result)) {
                assert.deepStrictEqual(seen(result.right), seen(truth), where)
                met.relabelledRead++
                continue
              }
              const error = result.left
              assert.strictEqual(error._tag, "MalformedNotification", `${where}: ${error.message}`)
              const reason = (error as Notification.MalformedNotification).reason
              assert.include(
                ["charset_not_allowed", "charset_ambiguous"],
                reason,
                `${where}: ${error.message}`
              )
              met.relabelledRefused++
              if (reason === "charset_ambiguous") met.ambiguousRefused++
              const label = contentType === undefined ? undefined : Charset.fromContentType(contentType)
              if (label !== undefined && !Charset.sameDecoding(label, sent)) met.otherCharsetRefused++
            }
          }
        }),
      // Generous: about 7 s idle, and the machine may be busy.
      { timeout: 120_000, fastCheck: { numRuns: 60 } }
    )
  }
)

layer(TestKeys.gatewayVerifier.pipe(Layer.merge(TestKeys.gatewaySigner)))(
  "relabelled, then genuine",
  (it) => {
    it.effect.prop(
      "through the receiver and an inbox, a relabelled copy first never hands the handler other fields",
      [genuine, fc.constantFrom(...LABELS), fc.nat()],
      ([options, contentType, pick]) =>
        Effect.gen(function* () {
          const signed = yield* NotificationSigner.sign(options)
          const sent = options.charset ?? "utf-8"
          const accepting = CONFIGS.filter((c) => c.some((cs) => Charset.sameDecoding(cs, sent)))
          const charsets = accepting[pick % accepting.length]!
          const truth = yield* Notification.decode(
            { body: signed.body, contentType: signed.contentType },
            { charsets: [sent] }
          )
          // notify_verify off: the gateway is not part of this question.
          const receiver = NotificationReceiver.fromServices(
            { partner: TestKeys.partnerId, gateway: "http://gateway.test/" },
            {
              verifier: yield* Verifier.Verifier,
              transport: Transport.make(() => Effect.die("no gateway in this test"))
            }
          )
          const inbox = yield* MemoryInbox.make()
          const handled: Array<Notification.Notification> = []
          const receive = (label: string | undefined) =>
            NotificationReceiver.receive(
              { body: signed.body, contentType: label },
              (n) => Effect.sync(() => void handled.push(n)),
              { notifyVerify: false, charsets }
            ).pipe(
              Effect.provideService(NotificationReceiver.NotificationReceiver, receiver),
              Effect.provideService(Inbox.Inbox, inbox)
            )
          const copy = yield* receive(contentType)
          const real = yield* receive(signed.contentType)
          assert.isAtMost(handled.length, 1)
          for (const n of handled) assert.deepStrictEqual(seen(n), seen(truth))
          if (copy._tag === "Refused") assert.strictEqual(copy.reason, "malformed")
          // Unless the body is ambiguous for this receiver, the genuine delivery is then handled (or was, by the
          // copy, with the same fields).
          const accepted = yield* Effect.either(
            Notification.decode({ body: signed.body, contentType: signed.contentType }, { charsets })
          )
          if (Either.isRight(accepted)) {
            assert.strictEqual(NotificationReceiver.answer(real), "success")
            assert.strictEqual(handled.length, 1)
            met.genuineAfterCopy++
          }
        }),
      { timeout: 120_000, fastCheck: { numRuns: 60 } }
    )
  }
)

describe("relabelled notifications, coverage", () => {
  it("the property met reads, refusals by label and refusals as ambiguous", () => {
    assert.isAbove(GBK_ALSO_UTF8.length, 20)
    assert.isAbove(met.relabelledRead, 0)
    assert.isAbove(met.relabelledRefused, 0)
    assert.isAbove(met.otherCharsetRefused, 0)
    assert.isAbove(met.ambiguousRefused, 0)
    assert.isAbove(met.genuineAfterCopy, 0)
  })
})
