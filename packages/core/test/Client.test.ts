import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref, Schedule, TestClock } from "effect"
import * as crypto from "node:crypto"
import * as Charset from "../src/Charset.js"
import * as Client from "../src/Client.js"
import * as SigningString from "../src/SigningString.js"
import * as Transport from "../src/Transport.js"
import { gatewayVerifier, keyPem, partnerSigner } from "./fixtures.js"

const gatewayKey = crypto.createPrivateKey(keyPem("gateway_private"))

/** A signed success answer for `outerTaskId`, as the gateway would send it. */
const signedSuccess = (outerTaskId: string, charset: Charset.Charset = "utf-8", signType = "DSA") => {
  const sign = crypto
    .sign("sha1", SigningString.bytes([["outer_task_id", outerTaskId]], charset), {
      key: gatewayKey,
      dsaEncoding: "der"
    })
    .toString("base64")
  return Charset.encode(
    `<?xml version="1.0" encoding="${charset}"?><alipay><is_success>T</is_success><request></request><response><task_info><outer_task_id>${outerTaskId}</outer_task_id></task_info></response><sign>${sign}</sign><sign_type>${signType}</sign_type></alipay>`,
    charset
  )
}
const failure = (code: string) =>
  Charset.encode(
    `<?xml version="1.0" encoding="utf-8"?><alipay><is_success>F</is_success><error>${code}</error></alipay>`,
    "utf-8"
  )

type Step = Transport.RawResponse | Transport.TransportError
const ok = (body: Uint8Array, status = 200): Step => ({
  status,
  body,
  contentType: "text/xml; charset=utf-8"
})
const timeout = new Transport.TransportError({
  reason: "timeout",
  mayHaveReached: true,
  message: "timed out"
})

/** A Transport that answers from a script and records every URL it was asked for. */
const scripted = (steps: ReadonlyArray<Step>) =>
  Effect.gen(function* () {
    const sent = yield* Ref.make<ReadonlyArray<string>>([])
    const transport = Transport.make((url) =>
      Effect.gen(function* () {
        const seen = yield* Ref.getAndUpdate(sent, (s) => [...s, url])
        const step = steps[Math.min(seen.length, steps.length - 1)]!
        return step instanceof Transport.TransportError ? yield* step : step
      })
    )
    return { sent, layer: Layer.succeed(Transport.Transport, transport) }
  })

const input = { outerTaskId: "wf301111010000977", transfers: ["89944ID1", "89943ID1"] }

const run = <A, E>(
  steps: ReadonlyArray<Step>,
  use: (client: Client.Client) => Effect.Effect<A, E>,
  retry: Schedule.Schedule<unknown, Client.UnknownOutcome> = Schedule.recurs(2)
) =>
  Effect.gen(function* () {
    const { layer, sent } = yield* scripted(steps)
    const result = yield* Effect.either(
      Effect.flatMap(Client.Client, use).pipe(
        Effect.provide(
          Client.layer({ partner: "2088101012352995", gateway: "https://gw.example/gateway.do", retry }).pipe(
            Layer.provide(Layer.mergeAll(layer, partnerSigner, gatewayVerifier))
          )
        )
      )
    )
    return { result, sent: yield* Ref.get(sent) }
  })

describe("Client.confirmByPlatform", () => {
  it.effect("a verified T is Confirmed, sent once", () =>
    Effect.gen(function* () {
      const { result, sent } = yield* run([ok(signedSuccess(input.outerTaskId))], (c) =>
        c.confirmByPlatform(input)
      )
      assert.strictEqual(result._tag, "Right")
      if (result._tag === "Right") {
        assert.strictEqual(result.right._tag, "Confirmed")
        assert.strictEqual(result.right.attempts, 1)
      }
      assert.strictEqual(sent.length, 1)
      assert.match(sent[0]!, /^https:\/\/gw\.example\/gateway\.do\?_input_charset=utf-8&outer_task_id=/)
      assert.match(sent[0]!, /&sign=[^&]+&sign_type=DSA$/)
    })
  )

  it.effect("invalid input is refused before anything is signed or sent", () =>
    Effect.gen(function* () {
      const { result, sent } = yield* run([ok(signedSuccess("x"))], (c) =>
        c.confirmByPlatform({ outerTaskId: "", transfers: [] })
      )
      assert.strictEqual(result._tag === "Left" && result.left._tag, "InvalidRequest")
      assert.strictEqual(sent.length, 0)
    })
  )

  it.effect("input whose reading throws is an InvalidRequest, not a defect; nothing is sent", () =>
    Effect.gen(function* () {
      const throwing = {
        ...input,
        get outerTaskId(): string {
          throw new Error("getter broke")
        }
      }
      const { result, sent } = yield* run([ok(signedSuccess("x"))], (c) => c.confirmByPlatform(throwing))
      assert.isTrue(result._tag === "Left" && result.left._tag === "InvalidRequest")
      if (result._tag === "Left" && result.left._tag === "InvalidRequest")
        assert.include(result.left.message, "getter broke")
      assert.strictEqual(sent.length, 0)
    })
  )

  it.effect("an F answer is a GatewayRejected with its code and category, never re-sent", () =>
    Effect.gen(function* () {
      const { result, sent } = yield* run([ok(failure("WITKEY_TASK_NOT_EXIST"))], (c) =>
        c.confirmByPlatform(input)
      )
      assert.strictEqual(result._tag, "Left")
      if (result._tag === "Left" && result.left._tag === "GatewayRejected") {
        assert.strictEqual(result.left.code, "WITKEY_TASK_NOT_EXIST")
        assert.strictEqual(result.left.category, "business")
      } else assert.fail(`unexpected ${JSON.stringify(result)}`)
      assert.strictEqual(sent.length, 1)
    })
  )

  it.effect("an unknown code is kept verbatim", () =>
    Effect.gen(function* () {
      const { result } = yield* run([ok(failure("SOMETHING_NEW"))], (c) => c.confirmByPlatform(input))
      assert.isTrue(
        result._tag === "Left" &&
          result.left._tag === "GatewayRejected" &&
          result.left.code === "SOMETHING_NEW"
      )
      if (result._tag === "Left" && result.left._tag === "GatewayRejected")
        assert.strictEqual(result.left.category, "unknown")
    })
  )

  it.effect("ALREADY_PAID on the first call is AlreadyConfirmed, not after a re-send", () =>
    Effect.gen(function* () {
      const { result } = yield* run([ok(failure("WITKEY_OUTER_TRANSFER_ALREADY_PAID"))], (c) =>
        c.confirmByPlatform(input)
      )
      assert.isTrue(
        result._tag === "Right" && result.right._tag === "AlreadyConfirmed" && !result.right.afterResend
      )
    })
  )

  it.effect("a lost answer is re-sent byte-identically and ALREADY_PAID then resolves as success", () =>
    Effect.gen(function* () {
      const { result, sent } = yield* run([timeout, ok(failure("WITKEY_OUTER_TRANSFER_ALREADY_PAID"))], (c) =>
        c.confirmByPlatform(input)
      )
      assert.strictEqual(result._tag, "Right")
      if (result._tag === "Right" && result.right._tag === "AlreadyConfirmed") {
        assert.isTrue(result.right.afterResend)
        assert.deepStrictEqual(result.right.resentAfter, ["transport"])
        assert.strictEqual(result.right.attempts, 2)
        assert.strictEqual(result.right.code, "WITKEY_OUTER_TRANSFER_ALREADY_PAID")
      } else assert.fail(JSON.stringify(result))
      assert.strictEqual(sent.length, 2)
      assert.strictEqual(sent[0], sent[1])
    })
  )

  for (const [name, step, reason] of [
    ["a 502", ok(new TextEncoder().encode("<html>502</html>"), 502), "http_status"],
    ["truncated XML", ok(signedSuccess(input.outerTaskId).slice(0, 80)), "malformed"],
    ["a timeout", timeout, "transport"]
  ] as const) {
    it.effect(`${name} is an UnknownOutcome after byte-identical re-sends, never a rejection`, () =>
      Effect.gen(function* () {
        const { result, sent } = yield* run([step], (c) => c.confirmByPlatform(input))
        assert.strictEqual(result._tag, "Left")
        if (result._tag === "Left" && result.left._tag === "UnknownOutcome") {
          assert.strictEqual(result.left.reason, reason)
          assert.isTrue(result.left.mayHaveReached)
          assert.strictEqual(result.left.attempts, 3)
        } else assert.fail(JSON.stringify(result))
        assert.strictEqual(sent.length, 3)
        assert.strictEqual(new Set(sent).size, 1)
      })
    )
  }

  for (const [name, body, reason] of [
    [
      "an unsigned T",
      new TextEncoder().encode(
        "<alipay><is_success>T</is_success><response><task_info><outer_task_id>wf301111010000977</outer_task_id></task_info></response></alipay>"
      ),
      "signature"
    ],
    ["a T of another sign_type", signedSuccess(input.outerTaskId, "utf-8", "RSA"), "signature"],
    ["a signed T for another task", signedSuccess("another-task"), "mismatched_task"]
  ] as const) {
    it.effect(`${name} is an UnknownOutcome at once: a re-send's ALREADY_PAID would hide it`, () =>
      Effect.gen(function* () {
        const { result, sent } = yield* run(
          [ok(body), ok(failure("WITKEY_OUTER_TRANSFER_ALREADY_PAID"))],
          (c) => c.confirmByPlatform(input)
        )
        assert.isTrue(
          result._tag === "Left" && result.left._tag === "UnknownOutcome" && result.left.reason === reason,
          JSON.stringify(result)
        )
        assert.strictEqual(sent.length, 1)
      })
    )
  }

  it.effect("another rejection of a re-send after a lost attempt stays unknown, with its code", () =>
    Effect.gen(function* () {
      const { result } = yield* run([timeout, ok(failure("WITKEY_TASK_LEF_AMOUNT_NOT_ENOUGH"))], (c) =>
        c.confirmByPlatform(input)
      )
      assert.isTrue(result._tag === "Left" && result.left._tag === "UnknownOutcome", JSON.stringify(result))
      if (result._tag === "Left" && result.left._tag === "UnknownOutcome") {
        assert.strictEqual(result.left.reason, "rejected_after_resend")
        assert.strictEqual(result.left.code, "WITKEY_TASK_LEF_AMOUNT_NOT_ENOUGH")
        assert.isTrue(result.left.mayHaveReached)
      }
    })
  )

  it.effect("once an attempt may have reached the gateway, the final outcome never says it did not", () =>
    Effect.gen(function* () {
      const refused = new Transport.TransportError({
        reason: "connect",
        mayHaveReached: false,
        message: "ECONNREFUSED"
      })
      const { result } = yield* run([timeout, refused], (c) => c.confirmByPlatform(input))
      assert.isTrue(
        result._tag === "Left" && result.left._tag === "UnknownOutcome" && result.left.mayHaveReached
      )
    })
  )

  it.effect("ALREADY_PAID after attempts that never left is not called a resolved re-send", () =>
    Effect.gen(function* () {
      const refused = new Transport.TransportError({
        reason: "connect",
        mayHaveReached: false,
        message: "ECONNREFUSED"
      })
      const { result } = yield* run([refused, ok(failure("WITKEY_OUTER_TRANSFER_ALREADY_PAID"))], (c) =>
        c.confirmByPlatform(input)
      )
      assert.isTrue(result._tag === "Right" && result.right._tag === "AlreadyConfirmed")
      if (result._tag === "Right" && result.right._tag === "AlreadyConfirmed") {
        assert.isFalse(result.right.afterResend)
        assert.deepStrictEqual(result.right.resentAfter, ["transport"])
      }
    })
  )

  it.effect("a refused connection says the request never reached the gateway", () =>
    Effect.gen(function* () {
      const refused = new Transport.TransportError({
        reason: "connect",
        mayHaveReached: false,
        message: "ECONNREFUSED"
      })
      const { result } = yield* run([refused], (c) => c.confirmByPlatform(input), Schedule.stop)
      assert.isTrue(
        result._tag === "Left" && result.left._tag === "UnknownOutcome" && !result.left.mayHaveReached
      )
    })
  )

  it.effect("the default retry schedule re-sends 3 times, 1 s, 2 s and 4 s apart", () =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(run([timeout], (c) => c.confirmByPlatform(input), Client.defaultRetry))
      yield* TestClock.adjust("999 millis")
      // still waiting for the first re-send
      assert.isTrue((yield* Fiber.poll(fiber))._tag === "None")
      yield* TestClock.adjust("7 seconds")
      const { result, sent } = yield* Fiber.join(fiber)
      assert.strictEqual(sent.length, 4)
      assert.isTrue(
        result._tag === "Left" && result.left._tag === "UnknownOutcome" && result.left.attempts === 4
      )
    })
  )

  it.effect("GBK requests are signed and verified in GBK", () =>
    Effect.gen(function* () {
      const { result, sent } = yield* run([ok(signedSuccess("任务-42", "gbk"))], (c) =>
        c.confirmByPlatform({ outerTaskId: "任务-42", transfers: ["稿件1"], charset: "gbk" })
      )
      assert.isTrue(result._tag === "Right" && result.right._tag === "Confirmed")
      // 任 in GBK is C8 CE
      assert.include(sent[0]!, "outer_task_id=%C8%CE%CE%F1-42")
    })
  )
})
