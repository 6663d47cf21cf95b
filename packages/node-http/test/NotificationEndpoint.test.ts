// The notification endpoint as an HttpApp on a loopback server, against the fake gateway's notify_verify.
import type * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { assert, describe, it } from "@effect/vitest"
import type * as Notification from "@witkey/core/Notification"
import * as Protocol from "@witkey/core/Protocol"
import type { Scope } from "effect"
import { Effect } from "effect"
import * as NotificationEndpoint from "../src/NotificationEndpoint.js"
import * as BodyLimitSuite from "./support/BodyLimitSuite.js"
import * as FakeGateway from "./support/FakeGateway.js"
import * as Harness from "./support/Harness.js"
import * as Notifications from "./support/Notifications.js"
import * as RawHttp from "./support/RawHttp.js"

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpServer.HttpServer>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeHttpServer.layerTest))

class HandlerFailed {
  readonly _tag = "HandlerFailed"
}

/** A harness whose endpoint records every handler run, failing the first `failures` of them. */
const setup = (options: NotificationEndpoint.Options & { readonly failures?: number } = {}) =>
  Effect.gen(function* () {
    const handled: Array<Notification.Notification> = []
    let failures = options.failures ?? 0
    const handler = (n: Notification.Notification) =>
      Effect.suspend(() => {
        handled.push(n)
        if (failures > 0) {
          failures--
          return Effect.fail(new HandlerFailed())
        }
        return Effect.void
      })
    const h = yield* Harness.make({ notify: { handler, options } })
    const url = `${h.base}${Harness.NOTIFY_PATH}`
    const post = (body: Uint8Array, contentType = Notifications.CONTENT_TYPE) =>
      RawHttp.post(url, body, contentType)
    const refusals = () =>
      h.logs.filter((l) => l.message === "witkey notification refused").map((l) => l.annotations)
    return { ...h, handled, url, post, refusals }
  })

const text = (answer: RawHttp.Answer) => answer.body.toString("latin1")

/** Exactly the 7 bytes `success`, HTTP 200, text/plain. */
const assertAck = (answer: RawHttp.Answer) => {
  assert.strictEqual(answer.status, 200)
  assert.deepStrictEqual([...answer.body], [...Buffer.from("success")])
  assert.match(answer.contentType ?? "", /^text\/plain/)
}

const assertNack = (answer: RawHttp.Answer, status = 200) => {
  assert.strictEqual(answer.status, status)
  assert.strictEqual(text(answer), "fail")
}

describe("NotificationEndpoint.httpApp", () => {
  it.effect("valid: verified, confirmed by notify_verify, handled once, answered exactly `success`", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup()
        const answer = yield* t.post(Notifications.assign("n-1", "task-1", "serial-1"))
        assertAck(answer)
        assert.strictEqual(t.handled.length, 1)
        const payload = t.handled[0]!.payload
        assert.strictEqual(payload._tag, "Assign")
        assert.strictEqual(payload._tag === "Assign" && payload.outerTransferNo, "serial-1")
        const verifies = t.gateway.received.filter((r) => r.service === Protocol.NotifyVerify.service)
        assert.strictEqual(verifies.length, 1)
        assert.strictEqual(verifies[0]!.params.get("notify_id"), "n-1")
        assert.strictEqual(verifies[0]!.params.get("partner"), "2088101012352995")
      })
    )
  )

  it.effect("duplicate: the same delivery again is acknowledged and the handler runs once", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup()
        const body = Notifications.assign("n-1")
        assertAck(yield* t.post(body))
        assertAck(yield* t.post(body))
        assertAck(yield* t.post(body))
        assert.strictEqual(t.handled.length, 1)
        // The same event under a new notify_id is a duplicate too.
        assertAck(yield* t.post(Notifications.assign("n-2")))
        assert.strictEqual(t.handled.length, 1)
        assertAck(yield* t.post(Notifications.assign("n-3", "task-1", "serial-2")))
        assert.strictEqual(t.handled.length, 2)
      })
    )
  )

  it.effect("a processed notification redelivered after its notify_id expired is still acknowledged", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup()
        const body = Notifications.assign("n-1")
        assertAck(yield* t.post(body))
        // Alipay lost our `success` and retries later; notify_verify no longer knows the id.
        t.gateway.verifyAnswers.set("n-1", "false")
        assertAck(yield* t.post(body))
        assert.strictEqual(t.handled.length, 1)
      })
    )
  )

  it.effect("concurrent deliveries of one event run the handler once", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup()
        const body = Notifications.assign("n-1")
        const answers = yield* Effect.all(
          Array.from({ length: 4 }, () => t.post(body)),
          { concurrency: "unbounded" }
        )
        answers.forEach(assertAck)
        assert.strictEqual(t.handled.length, 1)
      })
    )
  )

  const forgeries: ReadonlyArray<readonly [string, () => Uint8Array, string]> = [
    [
      "signed with another key",
      () =>
        Notifications.body({
          notifyId: "n-1",
          xml: Notifications.assignXml("task-1", "serial-1"),
          key: "other_private"
        }),
      "signature"
    ],
    [
      "with a tampered field",
      () => {
        const body = Buffer.from(Notifications.assign("n-1", "task-1", "serial-1"))
        return new Uint8Array(Buffer.from(body.toString("latin1").replace("120.00", "999.00"), "latin1"))
      },
      "signature"
    ],
    [
      "unsigned",
      () =>
        new TextEncoder().encode(
          `notify_id=n-1&notify_time=2024-01-01+12%3A00%3A00&xml=${encodeURIComponent(Notifications.assignXml("task-1", "serial-1"))}`
        ),
      "signature"
    ],
    [
      "with sign_type RSA",
      () =>
        Notifications.body({
          notifyId: "n-1",
          xml: Notifications.assignXml("task-1", "serial-1"),
          signType: "RSA"
        }),
      "signature"
    ],
    ["garbage", () => new TextEncoder().encode("hello, this is not a form %%% & = ="), "malformed"],
    [
      "binary noise",
      () => new Uint8Array(Array.from({ length: 300 }, (_, i) => (i * 151 + 7) % 256)),
      "malformed"
    ],
    ["empty", () => new Uint8Array(0), "signature"]
  ]
  for (const [name, body, reason] of forgeries) {
    it.effect(`a notification ${name} never reaches the handler and is answered \`fail\``, () =>
      run(
        Effect.gen(function* () {
          const t = yield* setup()
          assertNack(yield* t.post(body()))
          assert.strictEqual(t.handled.length, 0)
          assert.deepStrictEqual(
            t.refusals().map((r) => r["reason"]),
            [reason]
          )
          // Verification comes first: nothing was asked of the gateway.
          assert.strictEqual(t.gateway.received.length, 0)
        })
      )
    )
  }

  it.effect("handler failure: `fail`, and the next delivery runs it once", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup({ failures: 1 })
        const body = Notifications.assign("n-1")
        assertNack(yield* t.post(body))
        assert.strictEqual(t.handled.length, 1)
        assert.deepStrictEqual(
          t.refusals().map((r) => r["reason"]),
          ["handler"]
        )
        assertAck(yield* t.post(body))
        assert.strictEqual(t.handled.length, 2)
        assertAck(yield* t.post(body))
        assert.strictEqual(t.handled.length, 2)
      })
    )
  )

  const verifyAnswers: ReadonlyArray<readonly [FakeGateway.VerifyAnswer, string]> = [
    ["false", "notify_verify_false"],
    ["invalid", "notify_verify_invalid"],
    ["error", "notify_verify_error"]
  ]
  for (const [answer, reason] of verifyAnswers) {
    it.effect(`notify_verify ${answer}: \`fail\`, the handler never runs (${reason})`, () =>
      run(
        Effect.gen(function* () {
          const t = yield* setup()
          t.gateway.verifyAnswers.set("n-1", answer)
          assertNack(yield* t.post(Notifications.assign("n-1")))
          assert.strictEqual(t.handled.length, 0)
          assert.deepStrictEqual(
            t.refusals().map((r) => r["reason"]),
            [reason]
          )
          // Alipay retries; once notify_verify confirms, it is handled.
          t.gateway.verifyAnswers.set("n-1", "true")
          assertAck(yield* t.post(Notifications.assign("n-1")))
          assert.strictEqual(t.handled.length, 1)
        })
      )
    )
  }

  it.effect("notifyVerify: false skips the gateway round trip", () =>
    run(
      Effect.gen(function* () {
        const t = yield* setup({ notifyVerify: false })
        t.gateway.verifyAnswers.set("n-1", "false")
        assertAck(yield* t.post(Notifications.assign("n-1")))
        assert.strictEqual(t.handled.length, 1)
        assert.strictEqual(t.gateway.received.length, 0)
      })
    )
  )
})

BodyLimitSuite.suite("NotificationEndpoint.httpApp", (options) =>
  Effect.map(setup(options), (t) => ({ url: t.url, handled: t.handled, logs: t.logs }))
)

describe("NotificationEndpoint.httpApp: the Content-Type's charset is not signed (PROTOCOL.md §6)", () => {
  const FORM = "application/x-www-form-urlencoded"
  const verifyCount = (t: { readonly gateway: FakeGateway.FakeGateway }) =>
    t.gateway.received.filter((r) => r.service === Protocol.NotifyVerify.service).length

  it.effect(
    "a copy relabelled gbk arriving first is refused; the genuine one is then handled with its fields",
    () =>
      run(
        Effect.gen(function* () {
          const t = yield* setup()
          // A genuine UTF-8 notification with Chinese ids: its bytes are valid GBK too, as other text.
          const body = Notifications.assign("n-cs", "中文任务-7", "转账-7")
          for (const label of ["gbk", "GB2312", "latin1"]) {
            assertNack(yield* t.post(body, `${FORM}; text/html; charset=${label}`))
            assert.strictEqual(t.handled.length, 0)
          }
          assert.deepStrictEqual(
            t.refusals().map((r) => r["reason"]),
            ["malformed", "malformed", "malformed"]
          )
          assert.match(String(t.refusals()[0]!["detail"]), /Content-Type charset "gbk" is not one/)
          // Refused before notify_verify and the inbox: nothing recorded, so the genuine one is no duplicate.
          assert.strictEqual(verifyCount(t), 0)
          assertAck(yield* t.post(body))
          assert.strictEqual(t.handled.length, 1)
          const payload = t.handled[0]!.payload
          assert.isTrue(payload._tag === "Assign", payload._tag)
          if (payload._tag === "Assign") {
            assert.strictEqual(payload.outerTaskId, "中文任务-7")
            assert.strictEqual(payload.outerTransferNo, "转账-7")
          }
          // A late relabelled copy is still refused, not acknowledged as a duplicate of other text.
          assertNack(yield* t.post(body, `${FORM}; charset=gbk`))
          assert.strictEqual(t.handled.length, 1)
        })
      )
  )

  it.effect(
    "the endpoint's `charsets` option: a label among them passes; a body read differently is ambiguous",
    () =>
      run(
        Effect.gen(function* () {
          const t = yield* setup({ charsets: ["utf-8", "gbk"] })
          // ASCII reads alike in both: any accepted label, or none, is the same notification.
          assertAck(yield* t.post(Notifications.assign("n-ascii"), `${FORM}; charset=GBK`))
          assertAck(yield* t.post(Notifications.assign("n-ascii"), FORM))
          assert.strictEqual(t.handled.length, 1)
          // Chinese UTF-8 reads as other text in GBK: which was meant cannot be told, under any label.
          const chinese = Notifications.assign("n-zh", "中文任务-8", "转账-8")
          for (const contentType of [`${FORM}; charset=utf-8`, `${FORM}; charset=gbk`, FORM])
            assertNack(yield* t.post(chinese, contentType))
          assert.match(String(t.refusals().at(-1)!["detail"]), /decodes differently in utf-8 and gbk/)
          assert.strictEqual(t.handled.length, 1)
        })
      )
  )
})

describe("NotificationEndpoint.respond", () => {
  const setupRespond = Effect.gen(function* () {
    const h = yield* Harness.make()
    const handled: Array<string> = []
    const handler = (n: Notification.Notification) => Effect.sync(() => void handled.push(n.notifyId))
    const logs: Array<Harness.LogLine> = []
    const respond = (raw: Notification.RawNotification, options: NotificationEndpoint.Options = {}) =>
      NotificationEndpoint.respond(raw, handler, options).pipe(
        Effect.provide(h.context),
        Harness.capturingLogs(logs)
      )
    return { ...h, handled, logs, respond }
  })

  const parsed: ReadonlyArray<readonly [string, unknown]> = [
    ["an object from a body parser", { notify_id: "n-1", sign: "x", sign_type: "DSA" }],
    ["a string", "notify_id=n-1&sign=x"],
    ["nothing", undefined]
  ]
  for (const [name, body] of parsed) {
    it.effect(`given ${name} instead of bytes: a logged error naming the cause, \`fail\`, no handler`, () =>
      run(
        Effect.gen(function* () {
          const t = yield* setupRespond
          const told: Array<string> = []
          const answer = yield* t.respond(
            { body, contentType: Notifications.CONTENT_TYPE },
            { onBodyError: (e) => Effect.sync(() => void told.push(e.reason)) }
          )
          assert.strictEqual(answer.status, 500)
          assert.strictEqual(answer.headers["connection"], "close")
          assert.deepStrictEqual(told, ["already_parsed"])
          assert.strictEqual(new TextDecoder().decode(answer.body), "fail")
          assert.strictEqual(answer.result._tag, "NotificationBodyError")
          const errors = t.logs.filter((l) => l.level === "ERROR")
          assert.strictEqual(errors.length, 1)
          assert.include(errors[0]!.message, "before any body parser")
          assert.strictEqual(t.handled.length, 0)
          assert.strictEqual(t.gateway.received.length, 0)
        })
      )
    )
  }

  it.effect(
    "given the raw bytes (a Buffer too): `success`, and onResult sees the committed result first",
    () =>
      run(
        Effect.gen(function* () {
          const t = yield* setupRespond
          const seen: Array<string> = []
          const answer = yield* t.respond(
            { body: Buffer.from(Notifications.assign("n-1")), contentType: Notifications.CONTENT_TYPE },
            {
              onResult: (result) => Effect.sync(() => void seen.push(`${result._tag}:${t.handled.length}`))
            }
          )
          assert.strictEqual(answer.status, 200)
          assert.deepStrictEqual([...answer.body], [...Buffer.from("success")])
          assert.deepStrictEqual(seen, ["Acknowledged:1"])
          const oversized = yield* t.respond(
            { body: Notifications.assign("n-2"), contentType: Notifications.CONTENT_TYPE },
            { maxBodyBytes: 100 }
          )
          assert.strictEqual(oversized.status, 413)
          assert.strictEqual(t.handled.length, 1)
        })
      )
  )
})
