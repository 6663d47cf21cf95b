// The Promise API against the testkit sandbox over HTTP: both outcomes, the three error classes, the
// constructor's checks, redaction, aborts and close().
import { assert, describe, it } from "@effect/vitest"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as Fault from "@witkey/testkit/Fault"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Effect, Either, Redacted } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { inspect } from "node:util"
import {
  ClosedError,
  ConfigurationError,
  GatewayRejectedError,
  InvalidRequestError,
  UnknownOutcomeError,
  Witkey,
  WitkeyError
} from "../src/index.js"
import { closedPort, options, sandbox, settle, tempDir } from "./Support.js"

/** A Witkey closed with the scope. */
const witkey = (opts: ConstructorParameters<typeof Witkey>[0]) =>
  Effect.acquireRelease(
    Effect.sync(() => new Witkey(opts)),
    (wk) => Effect.promise(() => wk.close())
  )

const left = <A>(either: Either.Either<A, unknown>): unknown => {
  if (Either.isRight(either)) throw new Error(`expected a rejection, got ${JSON.stringify(either.right)}`)
  return either.left
}

/** What the constructor throws (it must throw). */
const thrown = (f: () => unknown): Error => {
  try {
    f()
  } catch (error) {
    assert.instanceOf(error, Error)
    return error as Error
  }
  throw new Error("expected the constructor to throw")
}

/** The KeyError message crypto-dsa (and so the CLI) gives for this private key text. */
const keyErrorOf = (privateKey: string) =>
  Effect.flip(DsaSigner.make({ privateKey: Redacted.make(privateKey) })).pipe(
    Effect.map((e) => `${e.message} [${e.reason}]`)
  )

describe("Witkey.confirmByPlatform", () => {
  it.scopedLive("confirmed, then already_confirmed for the identical call", () =>
    Effect.gen(function* () {
      const { sandbox: gw, server } = yield* sandbox(["task-1"])
      const wk = yield* witkey(options(server.gatewayUrl))
      const first = yield* Effect.promise(() =>
        wk.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a", "task-1-b"] })
      )
      assert.deepStrictEqual(first, { status: "confirmed", outerTaskId: "task-1", attempts: 1 })
      const again = yield* Effect.promise(() =>
        wk.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a", "task-1-b"] })
      )
      assert.deepStrictEqual(again, {
        status: "already_confirmed",
        outerTaskId: "task-1",
        attempts: 1,
        code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID",
        afterResend: false
      })
      const ledger = yield* gw.ledger
      assert.strictEqual(ledger.length, 3) // two bounties and the service fee, once
    })
  )

  it.scopedLive("InvalidRequestError: every broken rule, nothing sent", () =>
    Effect.gen(function* () {
      const { sandbox: gw, server } = yield* sandbox([])
      const wk = yield* witkey(options(server.gatewayUrl))
      const error = left(yield* settle(() => wk.confirmByPlatform({ outerTaskId: "", transfers: [] })))
      assert.instanceOf(error, InvalidRequestError)
      assert.instanceOf(error, WitkeyError)
      const e = error as InvalidRequestError
      assert.strictEqual(e.name, "InvalidRequestError")
      assert.deepStrictEqual(e.issues.map((i) => i.field).sort(), ["outer_task_id", "transfer_detail"])
      assert.match(e.message, /^invalid request: /)
      assert.strictEqual((yield* gw.calls).length, 0)
      // Untyped callers get the same class, not a TypeError.
      const untyped = left(yield* settle(() => wk.confirmByPlatform(null as never)))
      assert.instanceOf(untyped, InvalidRequestError)
    })
  )

  it.scopedLive("GatewayRejectedError: code and category", () =>
    Effect.gen(function* () {
      const { server } = yield* sandbox([])
      const wk = yield* witkey(options(server.gatewayUrl))
      const error = left(yield* settle(() => wk.confirmByPlatform({ outerTaskId: "nope", transfers: ["x"] })))
      assert.instanceOf(error, GatewayRejectedError)
      const e = error as GatewayRejectedError
      assert.strictEqual(e.name, "GatewayRejectedError")
      assert.strictEqual(e.code, "WITKEY_TASK_NOT_EXIST")
      assert.strictEqual(e.category, "business")
      assert.strictEqual(e.message, "the gateway rejected the request: WITKEY_TASK_NOT_EXIST (business)")
    })
  )

  it.scopedLive(
    "UnknownOutcomeError: an answer that does not verify (may have paid), a refused connection (not sent)",
    () =>
      Effect.gen(function* () {
        const { server } = yield* sandbox(["task-1"])
        const wrongKey = yield* witkey(
          options(server.gatewayUrl, { alipayPublicKey: TestKeys.otherPublicKeyPem })
        )
        const error = left(
          yield* settle(() => wrongKey.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a"] }))
        )
        assert.instanceOf(error, UnknownOutcomeError)
        const e = error as UnknownOutcomeError
        assert.strictEqual(e.name, "UnknownOutcomeError")
        assert.strictEqual(e.reason, "signature")
        assert.isTrue(e.mayHaveReached)
        assert.strictEqual(e.outerTaskId, "task-1")
        assert.isFalse(Symbol.for("effect/Runtime/FiberFailure") in e)

        const port = yield* closedPort
        const nowhere = yield* witkey(options(`http://127.0.0.1:${port}/gateway.do`))
        const refused = left(
          yield* settle(() => nowhere.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a"] }))
        ) as UnknownOutcomeError
        assert.instanceOf(refused, UnknownOutcomeError)
        assert.strictEqual(refused.reason, "transport")
        assert.isFalse(refused.mayHaveReached)
        assert.match(refused.message, /nothing was paid/)
      })
  )

  it.scopedLive("an already aborted signal: unknown outcome, reason aborted, nothing sent", () =>
    Effect.gen(function* () {
      const { sandbox: gw, server } = yield* sandbox(["task-1", "task-2"])
      const wk = yield* witkey(options(server.gatewayUrl))
      const aborted = () =>
        settle(() =>
          wk.confirmByPlatform(
            { outerTaskId: "task-2", transfers: ["task-2-a"] },
            { signal: AbortSignal.abort(new Error("user gave up")) }
          )
        )
      // Twice: on a runtime not built yet, and on a built one, where a fiber runs synchronously up to the
      // first request before it sees an interruption.
      const first = left(yield* aborted()) as UnknownOutcomeError
      yield* Effect.promise(() => wk.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a"] }))
      const second = left(yield* aborted()) as UnknownOutcomeError
      for (const error of [first, second]) {
        assert.instanceOf(error, UnknownOutcomeError)
        assert.strictEqual(error.reason, "aborted")
        assert.isFalse(error.mayHaveReached)
        assert.strictEqual(error.attempts, 0)
        assert.strictEqual(error.outerTaskId, "task-2")
        assert.strictEqual((error.cause as Error).message, "user gave up")
      }
      assert.deepStrictEqual(
        (yield* gw.calls).map((c) => c.result._tag),
        ["Success"]
      )
    })
  )

  it.scopedLive("aborted while the request is at the gateway: unknown outcome that may have paid", () =>
    Effect.gen(function* () {
      const { sandbox: gw, server } = yield* sandbox(["task-1"])
      const wk = yield* witkey(options(server.gatewayUrl))
      yield* gw.queueAnswerFaults(Fault.drop({ mode: "hang" }))
      const controller = new AbortController()
      const pending = wk.confirmByPlatform(
        { outerTaskId: "task-1", transfers: ["task-1-a", "task-1-b"] },
        { signal: controller.signal }
      )
      // The gateway has the request (and, with this fault, paid) but never answers.
      while ((yield* gw.calls).length === 0) yield* Effect.sleep("10 millis")
      controller.abort()
      const error = left(yield* settle(() => pending)) as UnknownOutcomeError
      assert.instanceOf(error, UnknownOutcomeError)
      assert.strictEqual(error.reason, "aborted")
      assert.isTrue(error.mayHaveReached)
      assert.strictEqual(error.attempts, 1)
      assert.strictEqual((error.cause as Error).name, "AbortError")
      // And the re-send is safe: the gateway paid once, so the identical call resolves already_confirmed.
      const resend = yield* Effect.promise(() =>
        wk.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a", "task-1-b"] })
      )
      assert.strictEqual(resend.status, "already_confirmed")
    })
  )
})

describe("new Witkey", () => {
  it.effect("a bad key throws in the constructor with crypto-dsa's (the CLI's) message, never the key", () =>
    Effect.gen(function* () {
      const broken = TestKeys.partnerPrivateKeyPem.replace("MII", "M!I")
      const error = thrown(() => new Witkey(options("http://127.0.0.1:1/gateway.do", { privateKey: broken })))
      assert.instanceOf(error, ConfigurationError)
      assert.strictEqual(error.name, "ConfigurationError")
      assert.strictEqual(error.message, `privateKey: ${yield* keyErrorOf(broken)}`)
      const body = TestKeys.oneLine(TestKeys.partnerPrivateKeyPem)
      assert.notInclude(error.message, body.slice(10, 40))

      const swapped = thrown(
        () =>
          new Witkey(options("http://127.0.0.1:1/gateway.do", { privateKey: TestKeys.partnerPublicKeyPem }))
      )
      assert.match(swapped.message, /^privateKey: found a DSA public key .*\[wrong_kind\]$/)
      const path = thrown(
        () => new Witkey(options("http://127.0.0.1:1/gateway.do", { alipayPublicKey: "./keys/alipay.pem" }))
      )
      assert.match(
        path.message,
        /^alipayPublicKey: .*\[malformed\]; a file path\? give it as alipayPublicKeyFile$/
      )
    })
  )

  it.effect("partner, gateway, charset and missing keys are checked there too", () =>
    Effect.sync(() => {
      const gateway = "http://127.0.0.1:1/gateway.do"
      assert.strictEqual(
        thrown(() => new Witkey(options(gateway, { partner: "123" }))).message,
        "partner: must be an Alipay partner id: 16 digits starting with 2088"
      )
      assert.strictEqual(
        thrown(() => new Witkey(options("gateway.example.com"))).message,
        "gateway: the gateway URL is not an absolute http(s) URL"
      )
      assert.strictEqual(
        thrown(() => new Witkey(options(gateway, { charset: "latin1" }))).message,
        'charset: "latin1" is not one of utf-8, gbk, gb2312 (any letter case)'
      )
      assert.match(
        thrown(() => new Witkey(options(gateway, { privateKey: undefined }))).message,
        /^privateKey: no key was given: .*\[missing\]$/
      )
      assert.match(
        thrown(() => new Witkey(options(gateway, { privateKeyFile: "/nonexistent/key.pem" }))).message,
        /^privateKey: give privateKey or privateKeyFile, not both$/
      )
    })
  )

  it.scoped("keys as PEM, one-line Base64, a Buffer or a file; a missing file names the path", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const gateway = "http://127.0.0.1:1/gateway.do"
      const file = join(dir, "partner.pem")
      writeFileSync(file, TestKeys.partnerPrivateKeyPem)
      for (const keys of [
        { privateKey: TestKeys.oneLine(TestKeys.partnerPrivateKeyPem) },
        { privateKey: Buffer.from(TestKeys.partnerPrivateKeyPem) },
        { privateKey: undefined, privateKeyFile: file }
      ]) {
        const wk = new Witkey(options(gateway, keys))
        yield* Effect.promise(() => wk.close())
      }
      const missing = join(dir, "missing.pem")
      assert.strictEqual(
        thrown(() => new Witkey(options(gateway, { privateKey: undefined, privateKeyFile: missing })))
          .message,
        `privateKeyFile ${missing}: cannot read the key file (ENOENT) [unreadable_file]`
      )
    })
  )

  it.effect("util.inspect and JSON show no key", () =>
    Effect.promise(async () => {
      const wk = new Witkey(options("http://127.0.0.1:1/gateway.do"))
      const body = TestKeys.oneLine(TestKeys.partnerPrivateKeyPem)
      for (const shown of [inspect(wk, { depth: 10, showHidden: true }), JSON.stringify(wk), String(wk)]) {
        assert.notInclude(shown, body.slice(20, 60))
        assert.notInclude(shown, "PRIVATE KEY")
      }
      assert.strictEqual(
        inspect(wk),
        'Witkey { partner: "2088101012352995", gateway: "http://127.0.0.1:1/gateway.do", charset: "utf-8" }'
      )
      await wk.close()
    })
  )
})

describe("Witkey.close", () => {
  it.scopedLive("waits for running calls, then refuses new ones with ClosedError", () =>
    Effect.gen(function* () {
      const { server, sandbox: gw } = yield* sandbox(["task-1"])
      const wk = new Witkey(options(server.gatewayUrl))
      yield* gw.queueAnswerFaults(Fault.delay("300 millis"))
      const running = wk.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a"] })
      while ((yield* gw.calls).length === 0) yield* Effect.sleep("10 millis")
      const closed = wk.close()
      assert.isTrue(wk.closed)
      assert.strictEqual(wk.close(), closed) // idempotent
      const refused = left(
        yield* settle(() => wk.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a"] }))
      )
      assert.instanceOf(refused, ClosedError)
      // The running payout is not cut short by close(): it completes, verified.
      const result = yield* Effect.promise(() => running)
      assert.strictEqual(result.status, "confirmed")
      yield* Effect.promise(() => closed)
      assert.throws(
        () => wk.notificationListener({ inbox: { sqlite: ":memory:" }, handler: () => {} }),
        ClosedError
      )
    })
  )
})
