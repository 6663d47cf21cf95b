import { assert, describe, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, LogLevel, Option, Ref, Tracer } from "effect"
import * as Client from "../src/Client.js"
import * as Inbox from "../src/Inbox.js"
import type * as Notification from "../src/Notification.js"
import * as NotificationReceiver from "../src/NotificationReceiver.js"
import * as Transport from "../src/Transport.js"
import { b64, gatewayVerifier, partnerSigner, vectors } from "./fixtures.js"

const body = (name: string) => {
  const v = vectors.notifications.find((n) => n.name === name)!
  return { body: b64(v.body_b64), contentType: v.content_type }
}

/** The smallest honest Inbox: de-dup by notify_id, handler failure leaves it unprocessed. */
const tinyInbox = (confirmed: Ref.Ref<ReadonlyArray<boolean | undefined>>) =>
  Effect.gen(function* () {
    const states = yield* Ref.make(new Map<string, Inbox.State>())
    const setState = (id: string, state: Inbox.State) =>
      Ref.update(states, (m) => new Map([...m, [id, state]]))
    const inbox: Inbox.Inbox = {
      receive: (received, handler) =>
        Effect.gen(function* () {
          yield* Ref.update(confirmed, (c) => [...c, received.gatewayConfirmed])
          const id = received.notification.notifyId
          if ((yield* Ref.get(states)).get(id) === "processed")
            return { _tag: "Duplicate", by: "notify_id", processedNotifyId: id } as const
          yield* setState(id, "pending")
          yield* handler(received.notification).pipe(Effect.tapError(() => setState(id, "failed")))
          yield* setState(id, "processed")
          return { _tag: "Processed" } as const
        }),
      get: (notifyId) =>
        Ref.get(states).pipe(
          Effect.map((m) => {
            const state = m.get(notifyId)
            return state === undefined
              ? Option.none()
              : Option.some({
                  notifyId,
                  businessKey: undefined,
                  subType: "",
                  outerTaskId: undefined,
                  outerTransferNo: undefined,
                  body: new Uint8Array(),
                  contentType: undefined,
                  firstReceivedAt: 0,
                  lastReceivedAt: 0,
                  deliveries: 1,
                  state,
                  processedAt: undefined,
                  lastError: undefined,
                  duplicateOf: undefined,
                  status: state === "processed" ? "processed" : "failing",
                  failures: 0,
                  parkedAt: undefined,
                  resolvedAt: undefined,
                  resolution: undefined,
                  bodyRemovedAt: undefined
                })
          })
        ),
      byTask: () => Effect.succeed([])
    }
    return inbox
  })

const config = { partner: "2088101012352995", gateway: "https://gw.example/gateway.do" }

/** The receiver from its own configuration (no signer), or from a Client's. */
const setup = (notifyVerifyAnswer: string, via: "config" | "client" = "config") =>
  Effect.gen(function* () {
    const answer = yield* Ref.make(notifyVerifyAnswer)
    const verifyCalls = yield* Ref.make<ReadonlyArray<string>>([])
    const transport = Transport.make((url) =>
      Ref.update(verifyCalls, (c) => [...c, url]).pipe(
        Effect.as({
          status: 200,
          body: new TextEncoder().encode(notifyVerifyAnswer),
          contentType: "text/plain"
        })
      )
    )
    const handled = yield* Ref.make<ReadonlyArray<string>>([])
    const confirmed = yield* Ref.make<ReadonlyArray<boolean | undefined>>([])
    const failNext = yield* Ref.make(false)
    const handler = (n: Notification.Notification) =>
      Effect.gen(function* () {
        if (yield* Ref.getAndSet(failNext, false)) return yield* Effect.fail("business write failed" as const)
        yield* Ref.update(handled, (h) => [...h, n.notifyId])
      })
    const services = Layer.mergeAll(Layer.succeed(Transport.Transport, transport), gatewayVerifier)
    const receiver =
      via === "config"
        ? NotificationReceiver.layer(config).pipe(Layer.provide(services))
        : NotificationReceiver.layerFromClient.pipe(
            Layer.provide(Client.layer(config)),
            Layer.provide(Layer.merge(services, partnerSigner))
          )
    const layer = Layer.mergeAll(receiver, Layer.effect(Inbox.Inbox, tinyInbox(confirmed)))
    return { answer, verifyCalls, handled, confirmed, failNext, handler, layer }
  })

describe("NotificationReceiver.receive", () => {
  for (const via of ["config", "client"] as const)
    it.effect(
      `a valid notification is handled once and answered success; a duplicate is acknowledged without the handler (receiver from ${via})`,
      () =>
        Effect.gen(function* () {
          const { handled, handler, layer, verifyCalls } = yield* setup("true", via)
          const [first, again] = yield* Effect.all([
            NotificationReceiver.receive(body("assign-utf8"), handler),
            NotificationReceiver.receive(body("assign-utf8"), handler)
          ]).pipe(Effect.provide(layer))
          assert.strictEqual(NotificationReceiver.answer(first), "success")
          assert.strictEqual(NotificationReceiver.answer(again), "success")
          assert.isTrue(again._tag === "Acknowledged" && again.outcome._tag === "Duplicate")
          assert.deepStrictEqual(yield* Ref.get(handled), ["n-0001"])
          const calls = yield* Ref.get(verifyCalls)
          assert.strictEqual(
            calls[0],
            "https://gw.example/gateway.do?service=notify_verify&partner=2088101012352995&notify_id=n-0001"
          )
        })
    )

  it.effect(
    "a relabelled copy is refused before notify_verify and the inbox; the genuine one is then handled",
    () =>
      Effect.gen(function* () {
        const { confirmed, handled, handler, layer, verifyCalls } = yield* setup("true")
        const genuine = body("profit-gbk")
        const relabelled = {
          body: genuine.body,
          contentType: "application/x-www-form-urlencoded; charset=utf-8"
        }
        const options = { charsets: ["gbk"] } as const
        const copy = yield* NotificationReceiver.receive(relabelled, handler, options).pipe(
          Effect.provide(layer)
        )
        assert.strictEqual(NotificationReceiver.answer(copy), "fail")
        assert.isTrue(copy._tag === "Refused" && copy.reason === "malformed", JSON.stringify(copy))
        assert.match(copy._tag === "Refused" ? copy.message : "", /Content-Type charset "utf-8" .*\(gbk\)/)
        assert.deepStrictEqual(yield* Ref.get(verifyCalls), [])
        assert.deepStrictEqual(yield* Ref.get(confirmed), [])
        const real = yield* NotificationReceiver.receive(genuine, handler, options).pipe(
          Effect.provide(layer)
        )
        assert.strictEqual(NotificationReceiver.answer(real), "success")
        assert.isTrue(real._tag === "Acknowledged" && real.outcome._tag === "Processed")
        assert.strictEqual(
          real._tag === "Acknowledged" && real.notification.fields["outer_task_id"],
          "任务-42"
        )
        assert.deepStrictEqual(yield* Ref.get(handled), ["n-0002"])
      })
  )

  it.effect("the receiver's configured charsets apply when a call names none", () =>
    Effect.gen(function* () {
      const { handled, handler } = yield* setup("true")
      const transport = Transport.make(() =>
        Effect.succeed({ status: 200, body: new TextEncoder().encode("true"), contentType: "text/plain" })
      )
      const confirmed = yield* Ref.make<ReadonlyArray<boolean | undefined>>([])
      const layer = Layer.mergeAll(
        NotificationReceiver.layer({ ...config, charset: "gbk" }).pipe(
          Layer.provide(Layer.merge(Layer.succeed(Transport.Transport, transport), gatewayVerifier))
        ),
        Layer.effect(Inbox.Inbox, tinyInbox(confirmed))
      )
      const result = yield* NotificationReceiver.receive(body("profit-gbk"), handler).pipe(
        Effect.provide(layer)
      )
      assert.strictEqual(NotificationReceiver.answer(result), "success", JSON.stringify(result))
      assert.deepStrictEqual(yield* Ref.get(handled), ["n-0002"])
    })
  )

  it.effect("without `charsets`, the receiver's charset is the only one accepted", () =>
    Effect.gen(function* () {
      const { handled, handler, layer } = yield* setup("true")
      // The client is utf-8: a GBK-labelled notification is refused, however genuine.
      const result = yield* NotificationReceiver.receive(body("profit-gbk"), handler).pipe(
        Effect.provide(layer)
      )
      assert.isTrue(result._tag === "Refused" && result.reason === "malformed")
      assert.match(
        result._tag === "Refused" ? result.message : "",
        /"GBK" is not one this receiver accepts \(utf-8\)/
      )
      assert.deepStrictEqual(yield* Ref.get(handled), [])
    })
  )

  it.effect("the inbox is told when notify_verify confirmed the delivery, and only then", () =>
    Effect.gen(function* () {
      const { confirmed, handler, layer, verifyCalls } = yield* setup("true")
      yield* Effect.gen(function* () {
        yield* NotificationReceiver.receive(body("assign-utf8"), handler)
        // Recorded now: the redelivery skips notify_verify, so nothing new was confirmed.
        yield* NotificationReceiver.receive(body("assign-utf8"), handler)
      }).pipe(Effect.provide(layer))
      assert.deepStrictEqual(yield* Ref.get(confirmed), [true, false])
      assert.strictEqual((yield* Ref.get(verifyCalls)).length, 1)
      const off = yield* setup("true")
      yield* NotificationReceiver.receive(body("assign-utf8"), off.handler, { notifyVerify: false }).pipe(
        Effect.provide(off.layer)
      )
      assert.deepStrictEqual(yield* Ref.get(off.confirmed), [false])
      assert.strictEqual((yield* Ref.get(off.verifyCalls)).length, 0)
    })
  )

  for (const name of [
    "tampered-amount",
    "sign-type-downgrade",
    "unsigned",
    "signed-by-partner-key",
    "garbage"
  ]) {
    it.effect(`${name}: the handler never runs and the answer is fail`, () =>
      Effect.gen(function* () {
        const { handled, handler, layer, verifyCalls } = yield* setup("true")
        const result = yield* NotificationReceiver.receive(body(name), handler).pipe(Effect.provide(layer))
        assert.strictEqual(NotificationReceiver.answer(result), "fail")
        assert.deepStrictEqual(yield* Ref.get(handled), [])
        assert.deepStrictEqual(yield* Ref.get(verifyCalls), [], "nothing unverified is even asked about")
      })
    )
  }

  for (const [answer, reason] of [
    ["false", "notify_verify_false"],
    ["invalid", "notify_verify_invalid"],
    ["<html>", "notify_verify_error"]
  ] as const) {
    it.effect(`notify_verify answering ${answer} refuses with ${reason}`, () =>
      Effect.gen(function* () {
        const { handled, handler, layer } = yield* setup(answer)
        const result = yield* NotificationReceiver.receive(body("assign-utf8"), handler).pipe(
          Effect.provide(layer)
        )
        assert.isTrue(result._tag === "Refused" && result.reason === reason)
        assert.deepStrictEqual(yield* Ref.get(handled), [])
      })
    )
  }

  it.effect("a processed notification redelivered after notify_verify expired is still acknowledged", () =>
    Effect.gen(function* () {
      const { answer, handled, handler, layer, verifyCalls } = yield* setup("true")
      const [first, late] = yield* Effect.all([
        NotificationReceiver.receive(body("assign-utf8"), handler),
        Ref.set(answer, "false").pipe(
          Effect.zipRight(NotificationReceiver.receive(body("assign-utf8"), handler))
        )
      ]).pipe(Effect.provide(layer))
      assert.strictEqual(NotificationReceiver.answer(first), "success")
      assert.strictEqual(NotificationReceiver.answer(late), "success")
      assert.deepStrictEqual(yield* Ref.get(handled), ["n-0001"])
      assert.strictEqual((yield* Ref.get(verifyCalls)).length, 1)
    })
  )

  it.effect("a delivery whose handler failed is retried without asking notify_verify again", () =>
    Effect.gen(function* () {
      const { answer, failNext, handled, handler, layer, verifyCalls } = yield* setup("true")
      yield* Ref.set(failNext, true)
      const [first, retry] = yield* Effect.all([
        NotificationReceiver.receive(body("assign-utf8"), handler),
        Ref.set(answer, "false").pipe(
          Effect.zipRight(NotificationReceiver.receive(body("assign-utf8"), handler))
        )
      ]).pipe(Effect.provide(layer))
      assert.strictEqual(NotificationReceiver.answer(first), "fail")
      assert.strictEqual(NotificationReceiver.answer(retry), "success")
      assert.deepStrictEqual(yield* Ref.get(handled), ["n-0001"])
      assert.strictEqual((yield* Ref.get(verifyCalls)).length, 1)
    })
  )

  it.effect("notify_verify can be turned off", () =>
    Effect.gen(function* () {
      const { handled, handler, layer, verifyCalls } = yield* setup("false")
      const result = yield* NotificationReceiver.receive(body("assign-utf8"), handler, {
        notifyVerify: false
      }).pipe(Effect.provide(layer))
      assert.strictEqual(NotificationReceiver.answer(result), "success")
      assert.deepStrictEqual(yield* Ref.get(handled), ["n-0001"])
      assert.deepStrictEqual(yield* Ref.get(verifyCalls), [])
    })
  )

  it.effect("a failing handler answers fail; the next delivery runs it once", () =>
    Effect.gen(function* () {
      const { failNext, handled, handler, layer } = yield* setup("true")
      yield* Ref.set(failNext, true)
      const [first, second] = yield* Effect.all([
        NotificationReceiver.receive(body("assign-utf8"), handler),
        NotificationReceiver.receive(body("assign-utf8"), handler)
      ]).pipe(Effect.provide(layer))
      assert.isTrue(first._tag === "Refused" && first.reason === "handler")
      assert.strictEqual(NotificationReceiver.answer(second), "success")
      assert.deepStrictEqual(yield* Ref.get(handled), ["n-0001"])
    })
  )

  it.effect("a handler that dies answers fail instead of crashing", () =>
    Effect.gen(function* () {
      const { layer } = yield* setup("true")
      const result = yield* NotificationReceiver.receive(body("assign-utf8"), () =>
        Effect.die(new Error("boom"))
      ).pipe(Effect.provide(layer))
      assert.isTrue(result._tag === "Refused" && result.reason === "handler")
    })
  )

  it.effect("an already-parsed body is refused with a clear message", () =>
    Effect.gen(function* () {
      const { handler, layer } = yield* setup("true")
      const result = yield* NotificationReceiver.receive({ body: { notify_id: "x" } }, handler).pipe(
        Effect.provide(layer)
      )
      assert.isTrue(result._tag === "Refused" && result.reason === "malformed")
      if (result._tag === "Refused") assert.match(result.message, /before any body parser/)
    })
  )
  // The span and the logs are read from the fiber once per notification (no generator, no span under Effect's
  // default tracer): what a tracer or a logger sees must not change.
  it.effect("with a tracer installed, the notification runs in its span; under the default tracer none", () =>
    Effect.gen(function* () {
      const { layer } = yield* setup("true")
      const seen: Array<string> = []
      const handler = () =>
        Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
          Effect.sync(
            () => void seen.push(Option.match(span, { onNone: () => "none", onSome: (s) => s.name }))
          )
        )
      const native = yield* Effect.tracer
      const made: Array<string> = []
      const tracer = Tracer.make({
        span: (...args) => {
          made.push(args[0])
          return native.span(...args)
        },
        context: native.context
      })
      const traced = yield* NotificationReceiver.receive(body("assign-utf8"), handler).pipe(
        Effect.withTracer(tracer),
        Effect.provide(layer)
      )
      assert.strictEqual(traced._tag, "Acknowledged")
      assert.deepStrictEqual(made, ["witkey.receive_notification", "witkey.notify_verify"])
      const untraced = yield* NotificationReceiver.receive(body("unknown-sub-type-kept"), handler).pipe(
        Effect.provide(layer)
      )
      assert.strictEqual(untraced._tag, "Acknowledged")
      assert.deepStrictEqual(seen, ["witkey.receive_notification", "none"])
    })
  )

  it.effect("an acknowledgement is logged at debug level only when it is on; a refusal always warns", () =>
    Effect.gen(function* () {
      const { handler, layer } = yield* setup("true")
      const lines: Array<string> = []
      const annotated: Array<Record<string, unknown>> = []
      const logger = Logger.make(({ annotations, logLevel, message }) => {
        const id = HashMap.get(annotations, "notify_id").pipe(Option.getOrUndefined)
        lines.push(`${logLevel.label} ${String(message)} ${String(id)}`)
        annotated.push(Object.fromEntries(annotations))
      })
      const receive = (name: string, level: LogLevel.LogLevel) =>
        NotificationReceiver.receive(body(name), handler).pipe(
          Logger.withMinimumLogLevel(level),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
          Effect.provide(layer)
        )
      yield* receive("assign-utf8", LogLevel.Info)
      assert.deepStrictEqual(lines, [])
      yield* receive("unknown-sub-type-kept", LogLevel.Debug)
      assert.deepStrictEqual(lines, ["DEBUG witkey notification acknowledged n-0004"])
      const forged = {
        ...body("assign-utf8"),
        body: new TextEncoder().encode("notify_id=x&sign=AAAA&sign_type=DSA")
      }
      lines.length = 0
      yield* NotificationReceiver.receive(forged, handler).pipe(
        Logger.withMinimumLogLevel(LogLevel.Info),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Effect.provide(layer)
      )
      assert.strictEqual(lines.length, 1)
      assert.match(lines[0]!, /^WARN witkey notification refused/)
      // The refusal's warning says why: its reason and detail (the forged body fails its signature check).
      const refusal = annotated[annotated.length - 1]!
      assert.strictEqual(refusal["reason"], "signature")
      assert.strictEqual(refusal["notify_id"], "")
      assert.isString(refusal["detail"])
      assert.isAbove(String(refusal["detail"]).length, 0)
    })
  )
})
