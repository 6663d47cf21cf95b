import { assert, describe, it } from "@effect/vitest"
import type * as Charset from "@witkey/core/Charset"
import * as Client from "@witkey/core/Client"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as Notification from "@witkey/core/Notification"
import * as NotifyVerify from "@witkey/core/NotifyVerify"
import * as Protocol from "@witkey/core/Protocol"
import { BigDecimal, Effect, Either, TestClock } from "effect"
import * as Fault from "../src/Fault.js"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxTransport from "../src/SandboxTransport.js"
import * as TestKeys from "../src/TestKeys.js"
import {
  baseParams,
  layer,
  NOTIFY_URL,
  notifyUrlFor,
  PAYEE_A,
  PAYEE_B,
  receiver,
  registerTask,
  signedUrl,
  text
} from "./Harness.js"

const cases: ReadonlyArray<{ charset: Charset.Charset; task: string; serials: [string, string] }> = [
  { charset: "utf-8", task: "task-utf8-é", serials: ["s-1", "s-2"] },
  { charset: "gbk", task: "任务-42", serials: ["转账-1", "转账-2"] },
  { charset: "gb2312", task: "悬赏任务-7", serials: ["奖金-1", "奖金-2"] }
]

describe("Sandbox in-process", () => {
  for (const c of cases) {
    it.effect(`client and sandbox agree end to end in ${c.charset}`, () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const client = yield* Client.Client
        const r = yield* receiver()
        yield* sandbox.setDeliver(r.deliver)
        yield* registerTask(c.task, [
          [c.serials[0], PAYEE_A, "120.00"],
          [c.serials[1], PAYEE_B, "80.5"]
        ])
        const outcome = yield* client.confirmByPlatform({
          outerTaskId: c.task,
          transfers: c.serials,
          charset: c.charset,
          notifyUrl: notifyUrlFor(c.charset)
        })
        assert.strictEqual(outcome._tag, "Confirmed")
        assert.strictEqual(outcome.outerTaskId, c.task)
        assert.strictEqual(outcome.attempts, 1)

        // The answer is in the request charset, and says so twice.
        const [call] = yield* sandbox.calls
        const body = call!.response!.body
        assert.strictEqual(
          call!.response!.contentType,
          `text/xml; charset=${c.charset === "utf-8" ? "utf-8" : c.charset.toUpperCase()}`
        )
        assert.match(
          text(body, c.charset),
          new RegExp(
            `^<\\?xml version="1.0" encoding="${c.charset === "utf-8" ? "utf-8" : c.charset.toUpperCase()}"\\?>`
          )
        )
        assert.include(text(body, c.charset), `<outer_task_id>${c.task}</outer_task_id>`)
        assert.include(text(body, c.charset), `<param name="outer_task_id">${c.task}</param>`)

        const ledger = yield* sandbox.ledger
        assert.deepStrictEqual(
          ledger.map((e) => [
            e._tag,
            e._tag === "Transfer" ? e.serial : "",
            e.payeeUserId,
            BigDecimal.format(e.amount)
          ]),
          [
            ["Transfer", c.serials[0], PAYEE_A, "120"],
            ["Transfer", c.serials[1], PAYEE_B, "80.5"],
            ["PlatformProfit", "", TestKeys.platformUserId, "30"]
          ]
        )

        yield* sandbox.awaitDeliveries
        const notifications = yield* sandbox.notifications
        assert.strictEqual(notifications.length, 3)
        for (const n of notifications) {
          assert.strictEqual(n.state, "acknowledged")
          assert.strictEqual(n.attempts.length, 1)
          assert.strictEqual(n.url, notifyUrlFor(c.charset))
          assert.strictEqual(n.charset, c.charset)
          assert.strictEqual(
            n.contentType,
            `application/x-www-form-urlencoded; charset=${c.charset === "utf-8" ? "utf-8" : c.charset.toUpperCase()}`
          )
        }
        // What the platform's receiver processed: verified, decoded, amounts as two-place text.
        const byKey = new Map(r.processed.map((n) => [Notification.businessKey(n), n]))
        assert.strictEqual(byKey.size, 3)
        const first = byKey.get(`${Protocol.Notify.assign}|${c.task}|${c.serials[0]}`)!
        assert.strictEqual(first.fields["transfer_amount"], "120.00")
        assert.strictEqual(first.fields["payee_user_id"], PAYEE_A)
        assert.strictEqual(first.charset, c.charset)
        assert.strictEqual(
          byKey.get(`${Protocol.Notify.assign}|${c.task}|${c.serials[1]}`)!.fields["transfer_amount"],
          "80.50"
        )
        const profit = byKey.get(`${Protocol.Notify.platformProfit}|${c.task}|`)!
        assert.strictEqual(profit.payload._tag, "PlatformProfit")
        assert.strictEqual(profit.fields["transfer_amount"], "30.00")
        assert.strictEqual(profit.fields["service_charge"], "1.50")
        assert.strictEqual(profit.fields["payee_user_id"], TestKeys.platformUserId)
        // Times from the Clock (TestClock: the epoch), Beijing time.
        assert.strictEqual(first.notifyTime, "1970-01-01 08:00:00")
        assert.strictEqual(first.fields["gmt_transfer"], "19700101080000")
      }).pipe(Effect.provide(layer()))
    )
  }

  it.effect("a repeat is AlreadyConfirmed and pays nothing; a partly paid request pays nothing either", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      const client = yield* Client.Client
      yield* registerTask("t-repeat", [
        ["a", PAYEE_A, "1.00"],
        ["b", PAYEE_B, "2.00"]
      ])
      assert.strictEqual(
        (yield* client.confirmByPlatform({ outerTaskId: "t-repeat", transfers: ["a"] }))._tag,
        "Confirmed"
      )
      const again = yield* client.confirmByPlatform({ outerTaskId: "t-repeat", transfers: ["a"] })
      assert.strictEqual(again._tag, "AlreadyConfirmed")
      assert.isTrue(again._tag === "AlreadyConfirmed" && !again.afterResend)
      const overlap = yield* client.confirmByPlatform({ outerTaskId: "t-repeat", transfers: ["b", "a"] })
      assert.strictEqual(overlap._tag, "AlreadyConfirmed")
      assert.deepStrictEqual(
        (yield* sandbox.ledger).map((e) => (e._tag === "Transfer" ? e.serial : e._tag)),
        ["a"]
      )
      // b alone still goes through, and completes the task: the profit follows.
      assert.strictEqual(
        (yield* client.confirmByPlatform({ outerTaskId: "t-repeat", transfers: ["b"] }))._tag,
        "Confirmed"
      )
      assert.deepStrictEqual(
        (yield* sandbox.ledger).map((e) => (e._tag === "Transfer" ? e.serial : e._tag)),
        ["a", "b", "PlatformProfit"]
      )
      // No notify_url anywhere: recorded, never delivered.
      assert.isTrue(
        (yield* sandbox.notifications).every((n) => n.state === "no_url" && n.attempts.length === 0)
      )
    }).pipe(Effect.provide(layer()))
  )

  it.effect(
    "the partner's registered notify_url is used when the request names none; no profit for a zero fee",
    () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const client = yield* Client.Client
        const r = yield* receiver()
        yield* sandbox.setDeliver(r.deliver)
        yield* registerTask("t-nofee", [["x", PAYEE_A, "5"]], "0")
        yield* client.confirmByPlatform({ outerTaskId: "t-nofee", transfers: ["x"] })
        yield* sandbox.awaitDeliveries
        const notifications = yield* sandbox.notifications
        assert.deepStrictEqual(
          notifications.map((n) => [n.subType, n.url, n.state]),
          [[Protocol.Notify.assign, "http://platform.test/registered", "acknowledged"]]
        )
        assert.strictEqual(r.processed.length, 1)
      }).pipe(
        Effect.provide(
          layer({
            partners: [
              {
                partner: TestKeys.partnerId,
                publicKey: TestKeys.oneLine(TestKeys.partnerPublicKeyPem),
                notifyUrl: "http://platform.test/registered"
              }
            ]
          })
        )
      )
  )
})

/** Answers `url` and returns the error code of an F answer (or "T"). */
const codeOf = (url: string, charset: Charset.Charset = "utf-8") =>
  Effect.gen(function* () {
    const sandbox = yield* Sandbox.Sandbox
    const response = yield* sandbox.handle(url)
    assert.strictEqual(response.status, 200)
    const decoded = yield* Effect.either(GatewayResponse.decode(response, charset))
    if (Either.isRight(decoded)) return "T"
    assert.strictEqual(decoded.left._tag, "GatewayRejected", decoded.left.message)
    return (decoded.left as GatewayResponse.GatewayRejected).code
  }).pipe(Effect.provide(TestKeys.gatewayVerifier))

const replace = (url: string, from: string, to: string) => {
  assert.include(url, from)
  return url.replace(from, to)
}

describe("Sandbox error codes", () => {
  const setup = registerTask("t-codes", [
    ["s1", PAYEE_A, "10.00"],
    ["s2", PAYEE_B, "20.00"]
  ])
  const withCodes = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.zipRight(setup, effect).pipe(Effect.provide(TestKeys.partnerSigner), Effect.provide(layer()))
  const valid = signedUrl(baseParams("t-codes", ["s1"]))

  it.effect("a valid request is T", () =>
    withCodes(Effect.flatMap(valid, codeOf).pipe(Effect.map((c) => assert.strictEqual(c, "T"))))
  )

  const table: ReadonlyArray<readonly [string, Effect.Effect<string, never, any>]> = [
    ["ILLEGAL_SIGN", Effect.map(valid, (u) => replace(u, "outer_task_id=t-codes", "outer_task_id=t-codez"))],
    ["ILLEGAL_SIGN", signedUrl(baseParams("t-codes", ["s1"]), "utf-8", { sign: "" })],
    ["ILLEGAL_SIGN", signedUrl(baseParams("t-codes", ["s1"])).pipe(Effect.provide(TestKeys.otherSigner))],
    [
      "ILLEGAL_PARTNER",
      signedUrl(
        baseParams("t-codes", ["s1"]).map(([n, v]) => [n, n === "partner" ? "2088000000000001" : v] as const)
      )
    ],
    [
      "ILLEGAL_SERVICE",
      Effect.map(valid, (u) => replace(u, `service=${Protocol.SERVICE}`, "service=alipay.other.service"))
    ],
    ["ILLEGAL_SERVICE", signedUrl(baseParams("t-codes", ["s1"]).filter(([n]) => n !== "service"))],
    ["ILLEGAL_SIGN_TYPE", signedUrl(baseParams("t-codes", ["s1"]), "utf-8", { signType: "RSA" })],
    ["ILLEGAL_SIGN_TYPE", signedUrl(baseParams("t-codes", ["s1"]), "utf-8", { signType: "dsa" })],
    [
      "ILLEGAL_CHARSET",
      Effect.map(valid, (u) => replace(u, "_input_charset=utf-8", "_input_charset=latin1"))
    ],
    ["ILLEGAL_CHARSET", signedUrl(baseParams("t-codes", ["s1"]).filter(([n]) => n !== "_input_charset"))],
    [
      "ILLEGAL_ENCODING",
      Effect.map(valid, (u) => replace(u, "outer_task_id=t-codes", "outer_task_id=t-%FF%FE"))
    ],
    [
      "ILLEGAL_ARGUMENT",
      Effect.map(valid, (u) => replace(u, "outer_task_id=t-codes", "outer_task_id=t-%G0"))
    ],
    ["ILLEGAL_ARGUMENT", Effect.map(valid, (u) => `${u}&partner=${TestKeys.partnerId}`)],
    [
      "ILLEGAL_ARGUMENT",
      signedUrl([...baseParams("t-codes", ["s1"]), ["notify_url", "ftp://platform.test/n"]])
    ],
    ["ILLEGAL_ARGUMENT", signedUrl(baseParams("t codes", ["s1"]))],
    [
      "ILLEGAL_ARGUMENT",
      signedUrl(
        baseParams(
          "t-codes",
          Array.from({ length: 31 }, (_, i) => `s${i}`)
        )
      )
    ],
    ["ILLEGAL_LENGTH", signedUrl(baseParams("t".repeat(51), ["s1"]))],
    ["PARAMTER_IS_NULL", signedUrl(baseParams("t-codes", ["s1"]).filter(([n]) => n !== "transfer_detail"))],
    ["WITKEY_OUTER_TRANSFER_REPEAT", signedUrl(baseParams("t-codes", ["s1", "s2", "s1"]))],
    ["WITKEY_TASK_NOT_EXIST", signedUrl(baseParams("t-unknown", ["s1"]))],
    ["WITKEY_TRANSFER_NOT_EXIST", signedUrl(baseParams("t-codes", ["s1", "s3"]))]
  ]
  for (const [index, [code, url]] of table.entries()) {
    it.effect(`${code} (#${index})`, () =>
      withCodes(
        Effect.gen(function* () {
          const sandbox = yield* Sandbox.Sandbox
          assert.strictEqual(yield* codeOf(yield* url), code)
          // Nothing was paid by a refused request.
          assert.deepStrictEqual(yield* sandbox.ledger, [])
          const [call] = yield* sandbox.calls
          assert.deepStrictEqual(call!.result, { _tag: "Failure", code })
        })
      )
    )
  }

  it.effect("WITKEY_OUTER_TRANSFER_ALREADY_PAID: the earlier identical call went through", () =>
    withCodes(
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const url = yield* valid
        assert.strictEqual(yield* codeOf(url), "T")
        assert.strictEqual(yield* codeOf(url), Protocol.ALREADY_PAID_CODE)
        assert.strictEqual(
          yield* codeOf(yield* signedUrl(baseParams("t-codes", ["s2", "s1"]))),
          Protocol.ALREADY_PAID_CODE
        )
        assert.strictEqual((yield* sandbox.ledger).length, 1)
      })
    )
  )

  it.effect(
    "a gbk request with a gbk signature over Chinese text is T; the same bytes named utf-8 are refused",
    () =>
      Effect.gen(function* () {
        yield* registerTask("任务-1", [["转账-1", PAYEE_A, "10.00"]])
        const gbk = yield* signedUrl(baseParams("任务-1", ["转账-1"], "gbk"), "gbk")
        assert.strictEqual(
          yield* codeOf(replace(gbk, "_input_charset=gbk", "_input_charset=utf-8")),
          "ILLEGAL_ENCODING"
        )
        assert.strictEqual(
          yield* codeOf(replace(gbk, "_input_charset=gbk", "_input_charset=GBK")),
          "ILLEGAL_SIGN"
        )
        assert.strictEqual(yield* codeOf(gbk, "gbk"), "T")
      }).pipe(Effect.provide(TestKeys.partnerSigner), Effect.provide(layer()))
  )
})

describe("notify_verify", () => {
  it.effect(
    "true for an id issued to that partner, false for any other id, invalid for an unknown partner",
    () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const client = yield* Client.Client
        yield* registerTask("t-nv", [["n1", PAYEE_A, "3.00"]])
        yield* client.confirmByPlatform({ outerTaskId: "t-nv", transfers: ["n1"], notifyUrl: NOTIFY_URL })
        const [issued] = yield* sandbox.notifications
        const ask = (partner: string, notifyId: string) =>
          Effect.map(
            sandbox.handle(NotifyVerify.url(SandboxTransport.GATEWAY_URL, partner, notifyId)),
            (r) => {
              assert.strictEqual(r.status, 200)
              return text(r.body)
            }
          )
        assert.strictEqual(yield* ask(TestKeys.partnerId, issued!.notifyId), "true")
        assert.strictEqual(yield* client.notifyVerify(issued!.notifyId), "true")
        assert.strictEqual(yield* ask(TestKeys.partnerId, `${issued!.notifyId}0`), "false")
        assert.strictEqual(yield* ask("2088000000000001", issued!.notifyId), "invalid")
        assert.strictEqual(yield* ask("", issued!.notifyId), "invalid")
      }).pipe(Effect.provide(layer({ deliver: () => Effect.never })))
  )
})

describe("notify_verify lifetime and malformed queries", () => {
  it.effect("with a lifetime, an id is true until it expires, then false", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      const client = yield* Client.Client
      yield* registerTask("t-ttl", [["ttl1", PAYEE_A, "3.00"]])
      yield* client.confirmByPlatform({ outerTaskId: "t-ttl", transfers: ["ttl1"], notifyUrl: NOTIFY_URL })
      const [issued] = yield* sandbox.notifications
      yield* TestClock.adjust("60 seconds")
      assert.strictEqual(yield* client.notifyVerify(issued!.notifyId), "true")
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* client.notifyVerify(issued!.notifyId), "false")
    }).pipe(Effect.provide(layer({ deliver: () => Effect.never, notifyIdTtl: "1 minute" })))
  )

  it.effect("a broken notify_verify query is answered `invalid` and consumes no queued fault", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.queueAnswerFaults(Fault.reject("SYSTEM_ERROR"))
      const broken = `${SandboxTransport.GATEWAY_URL}?service=notify_verify&partner=${TestKeys.partnerId}&partner=${TestKeys.partnerId}&notify_id=x`
      assert.strictEqual(text((yield* sandbox.handle(broken)).body), "invalid")
      assert.strictEqual(yield* codeOf(`${SandboxTransport.GATEWAY_URL}?service=x`), "SYSTEM_ERROR")
    }).pipe(Effect.provide(layer()))
  )
})

describe("registration", () => {
  const reasonOf = <A>(effect: Effect.Effect<A, Sandbox.SandboxError, Sandbox.Sandbox>) =>
    Effect.map(Effect.flip(effect), (e) => e.reason)
  const task = (overrides: Partial<Sandbox.TaskRegistration> = {}): Sandbox.TaskRegistration => ({
    partner: TestKeys.partnerId,
    outerTaskId: "reg-1",
    transfers: [{ serial: "r1", payeeUserId: PAYEE_A, amount: "1.00" }],
    serviceFee: "0",
    platformAccount: TestKeys.platformUserId,
    ...overrides
  })

  it.effect("refuses what the gateway could never hold, with a reason", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      const register = (overrides: Partial<Sandbox.TaskRegistration>) =>
        reasonOf(sandbox.registerTask(task(overrides)))
      assert.strictEqual(yield* register({ partner: "2088000000000001" }), "unknown_partner")
      assert.strictEqual(yield* register({ outerTaskId: "a&b" }), "invalid_task")
      assert.strictEqual(yield* register({ transfers: [] }), "invalid_task")
      assert.strictEqual(
        yield* register({ transfers: [{ serial: "x~*~y", payeeUserId: PAYEE_A, amount: "1" }] }),
        "invalid_task"
      )
      assert.strictEqual(
        yield* register({ transfers: [{ serial: "z", payeeUserId: PAYEE_A, amount: "1.005" }] }),
        "invalid_task"
      )
      assert.strictEqual(
        yield* register({ transfers: [{ serial: "z", payeeUserId: PAYEE_A, amount: "0" }] }),
        "invalid_task"
      )
      assert.strictEqual(
        yield* register({ transfers: [{ serial: "z", payeeUserId: PAYEE_A, amount: "-1" }] }),
        "invalid_task"
      )
      assert.strictEqual(
        yield* register({
          transfers: [{ serial: "z", payeeUserId: PAYEE_A, amount: BigDecimal.unsafeFromString("1.234") }]
        }),
        "invalid_task"
      )
      assert.strictEqual(yield* register({ serviceFee: "1.00", serviceCharge: "2.00" }), "invalid_task")
      yield* sandbox.registerTask(task())
      assert.strictEqual(yield* register({}), "duplicate_task")
      assert.strictEqual(yield* register({ outerTaskId: "reg-2" }), "duplicate_transfer")
      assert.strictEqual(
        yield* reasonOf(sandbox.registerPartner({ partner: "2088000000000002", publicKey: "not a key" })),
        "invalid_key"
      )
      assert.strictEqual(
        yield* reasonOf(
          sandbox.registerPartner({ partner: "12345", publicKey: TestKeys.partnerPublicKeyPem })
        ),
        "invalid_partner"
      )
      assert.strictEqual(
        yield* reasonOf(
          sandbox.registerPartner({
            partner: "2088000000000002",
            publicKey: TestKeys.partnerPublicKeyPem,
            notifyUrl: "ftp://x"
          })
        ),
        "invalid_partner"
      )
    }).pipe(Effect.provide(layer()))
  )

  it.effect("a BigDecimal amount and an explicit service charge are kept exactly", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.registerTask(
        task({
          transfers: [{ serial: "bd", payeeUserId: PAYEE_A, amount: BigDecimal.unsafeFromString("0.1") }],
          serviceFee: BigDecimal.unsafeFromString("10"),
          serviceCharge: "0.33"
        })
      )
      yield* (yield* Client.Client).confirmByPlatform({ outerTaskId: "reg-1", transfers: ["bd"] })
      const [transfer, profit] = yield* sandbox.ledger
      assert.isTrue(BigDecimal.equals(transfer!.amount, BigDecimal.unsafeFromString("0.10")))
      assert.isTrue(
        profit!._tag === "PlatformProfit" &&
          BigDecimal.equals(profit!.serviceCharge, BigDecimal.unsafeFromString("0.33"))
      )
      const [assign, fee] = yield* sandbox.notifications
      assert.strictEqual(assign!.fields["transfer_amount"], "0.10")
      assert.strictEqual(fee!.fields["service_charge"], "0.33")
      assert.strictEqual(fee!.fields["transfer_amount"], "10.00")
    }).pipe(Effect.provide(layer()))
  )

  it.effect("a partner registered with its one-line key and a second partner are kept apart", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.registerPartner({
        partner: "2088000000000009",
        publicKey: TestKeys.oneLine(TestKeys.otherPublicKeyPem)
      })
      yield* sandbox.registerTask(task({ partner: "2088000000000009", outerTaskId: "other-1" }))
      // The test partner cannot pay the other partner's task, even with the same task id shape.
      const e = yield* Effect.flip(
        (yield* Client.Client).confirmByPlatform({ outerTaskId: "other-1", transfers: ["r1"] })
      )
      assert.strictEqual(e._tag, "GatewayRejected")
      assert.strictEqual((e as GatewayResponse.GatewayRejected).code, "WITKEY_TASK_NOT_EXIST")
    }).pipe(Effect.provide(layer()))
  )
})
