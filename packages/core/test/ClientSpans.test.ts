import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schedule, Tracer } from "effect"
import * as crypto from "node:crypto"
import * as Charset from "../src/Charset.js"
import * as Client from "../src/Client.js"
import * as NotifyVerify from "../src/NotifyVerify.js"
import * as Signer from "../src/Signer.js"
import * as SigningString from "../src/SigningString.js"
import * as Transport from "../src/Transport.js"
import { gatewayVerifier, keyPem, partnerSigner } from "./fixtures.js"

// The payout's spans are made only when a tracer receives them (internal/span.ts): with a tracer installed they
// are all there, named and attributed as before; under Effect's default tracer none is made.

const gatewayKey = crypto.createPrivateKey(keyPem("gateway_private"))
const input = { outerTaskId: "wf301111010000977", transfers: ["89944ID1", "89943ID1"] }

const signedSuccess = (outerTaskId: string) => {
  const sign = crypto
    .sign("sha1", SigningString.bytes([["outer_task_id", outerTaskId]], "utf-8"), {
      key: gatewayKey,
      dsaEncoding: "der"
    })
    .toString("base64")
  return Charset.encode(
    `<?xml version="1.0" encoding="utf-8"?><alipay><is_success>T</is_success><response><task_info><outer_task_id>${outerTaskId}</outer_task_id></task_info></response><sign>${sign}</sign><sign_type>DSA</sign_type></alipay>`,
    "utf-8"
  )
}

/** A tracer that records every span it makes (Effect's default tracer underneath). */
const recording = Effect.map(Effect.tracer, (native) => {
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = native.span(...args)
      spans.push(span)
      return span
    },
    context: native.context
  })
  return { spans, tracer }
})

const attributes = (span: Tracer.Span) => Object.fromEntries(span.attributes)

/** The span current inside each transport call, by name (or "none"), and what the first call answers. */
const observingTransport = (answers: ReadonlyArray<Transport.RawResponse | Transport.TransportError>) => {
  const seen: Array<string> = []
  const transport = Transport.make(() =>
    Effect.flatMap(Effect.option(Effect.currentSpan), (span) => {
      seen.push(Option.match(span, { onNone: () => "none", onSome: (s) => s.name }))
      const answer = answers[Math.min(seen.length - 1, answers.length - 1)]!
      return answer instanceof Transport.TransportError ? Effect.fail(answer) : Effect.succeed(answer)
    })
  )
  return { seen, layer: Layer.succeed(Transport.Transport, transport) }
}

const ok = (body: Uint8Array): Transport.RawResponse => ({ status: 200, body, contentType: "text/xml" })
const lost = new Transport.TransportError({ reason: "timeout", mayHaveReached: true, message: "timed out" })

const clientLayer = (transport: Layer.Layer<Transport.Transport>) =>
  Client.layer({
    partner: "2088101012352995",
    gateway: "https://gw.example/gateway.do",
    retry: Schedule.recurs(2)
  }).pipe(Layer.provide(Layer.mergeAll(transport, partnerSigner, gatewayVerifier)))

describe("Client spans", () => {
  it.effect("with a tracer installed, a payout has its four spans, named, nested and attributed", () =>
    Effect.gen(function* () {
      const { spans, tracer } = yield* recording
      // One lost attempt first: each attempt has its own witkey.send, numbered.
      const { layer, seen } = observingTransport([lost, ok(signedSuccess(input.outerTaskId))])
      const outcome = yield* Effect.flatMap(Client.Client, (c) => c.confirmByPlatform(input)).pipe(
        Effect.provide(clientLayer(layer)),
        Effect.withTracer(tracer)
      )
      assert.strictEqual(outcome._tag, "Confirmed")
      assert.deepStrictEqual(
        spans.map((s) => s.name),
        ["witkey.sign", "witkey.confirm", "witkey.send", "witkey.send", "witkey.verify_response"]
      )
      const [sign, confirm, first, second, verify] = spans
      assert.deepStrictEqual(attributes(sign!), { "witkey.outer_task_id": input.outerTaskId })
      assert.deepStrictEqual(attributes(confirm!), { "witkey.outer_task_id": input.outerTaskId })
      assert.deepStrictEqual(attributes(first!), {
        "witkey.outer_task_id": input.outerTaskId,
        "witkey.attempt": 1
      })
      assert.strictEqual(attributes(second!)["witkey.attempt"], 2)
      for (const span of [first, second, verify])
        assert.strictEqual(Option.getOrUndefined(span!.parent)?.spanId, confirm!.spanId)
      // The first send's span ended failed (the lost attempt, as an UnknownOutcome), the second succeeded.
      assert.strictEqual(first!.status._tag === "Ended" && first!.status.exit._tag, "Failure")
      assert.strictEqual(second!.status._tag === "Ended" && second!.status.exit._tag, "Success")
      // The transport runs inside its attempt's span, where its own span (node-http's) would nest.
      assert.deepStrictEqual(seen, ["witkey.send", "witkey.send"])
    })
  )

  it.effect("under Effect's default tracer no span is made: the transport and the signer see none", () =>
    Effect.gen(function* () {
      const { layer, seen } = observingTransport([ok(signedSuccess(input.outerTaskId))])
      const signed: Array<string> = []
      const signer = Layer.effect(
        Signer.Signer,
        Effect.map(Signer.Signer, (real) =>
          Signer.make((bytes) =>
            Effect.flatMap(Effect.option(Effect.currentSpan), (span) => {
              signed.push(Option.match(span, { onNone: () => "none", onSome: (s) => s.name }))
              return real.sign(bytes)
            })
          )
        )
      ).pipe(Layer.provide(partnerSigner))
      const outcome = yield* Effect.flatMap(Client.Client, (c) => c.confirmByPlatform(input)).pipe(
        Effect.provide(
          Client.layer({ partner: "2088101012352995", gateway: "https://gw.example/gateway.do" }).pipe(
            Layer.provide(Layer.mergeAll(layer, signer, gatewayVerifier))
          )
        )
      )
      assert.strictEqual(outcome._tag, "Confirmed")
      assert.deepStrictEqual(seen, ["none"])
      assert.deepStrictEqual(signed, ["none"])
    })
  )

  it.effect("notify_verify has its span with a tracer installed, none under the default tracer", () =>
    Effect.gen(function* () {
      const { spans, tracer } = yield* recording
      const answer = { status: 200, body: Charset.encode("true", "utf-8"), contentType: "text/plain" }
      const traced = observingTransport([answer])
      assert.strictEqual(
        yield* NotifyVerify.check("https://gw.example/gateway.do", "2088101012352995", "n-1").pipe(
          Effect.provide(traced.layer),
          Effect.withTracer(tracer)
        ),
        "true"
      )
      assert.deepStrictEqual(
        spans.map((s) => s.name),
        ["witkey.notify_verify"]
      )
      assert.deepStrictEqual(traced.seen, ["witkey.notify_verify"])
      const untraced = observingTransport([answer])
      yield* NotifyVerify.check("https://gw.example/gateway.do", "2088101012352995", "n-1").pipe(
        Effect.provide(untraced.layer)
      )
      assert.deepStrictEqual(untraced.seen, ["none"])
    })
  )
})
