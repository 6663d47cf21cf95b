// Laws of the Promise layer: what an aborted call reports as "may have reached", and the plain notification.
import { assert, describe, it } from "@effect/vitest"
import * as Notification from "@witkey/core/Notification"
import * as Transport from "@witkey/core/Transport"
import * as Arbitraries from "@witkey/testkit/Arbitraries"
import * as NotificationSigner from "@witkey/testkit/NotificationSigner"
import * as TestKeys from "@witkey/testkit/TestKeys"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import { Effect, Either, FastCheck as fc, Redacted } from "effect"
import * as Attempts from "../src/internal/Attempts.js"
import { toPlain } from "../src/NotificationListener.js"

const answer: Transport.RawResponse = { status: 200, body: new Uint8Array(0), contentType: undefined }

/** One attempt's ending: an answer, or a transport failure (which may or may not have left). */
const ending = fc.oneof(
  fc.constant(Either.right(answer)),
  Arbitraries.transportError.map((e) => Either.left(e))
)

describe("Attempts", () => {
  it.effect.prop(
    "reached is true exactly when some attempt was answered or may have left; every attempt is counted",
    [fc.array(ending, { maxLength: 6 })],
    ([endings]) =>
      Effect.gen(function* () {
        let next = 0
        const transport = Attempts.track(Transport.make(() => Effect.suspend(() => endings[next++]!)))
        const attempts = Attempts.make()
        for (let i = 0; i < endings.length; i++)
          yield* Effect.either(transport.get("http://gw/").pipe(Effect.locally(Attempts.current, attempts)))
        assert.strictEqual(attempts.sent, endings.length)
        assert.strictEqual(
          attempts.reached,
          endings.some((e) => Either.isRight(e) || e.left.mayHaveReached)
        )
      }),
    { fastCheck: { numRuns: 30 } }
  )

  it.effect("an interrupted request counts as reached; calls without a record are not counted", () =>
    Effect.gen(function* () {
      const transport = Attempts.track(Transport.make(() => Effect.never))
      const attempts = Attempts.make()
      const fiber = yield* Effect.fork(
        transport.get("http://gw/").pipe(Effect.locally(Attempts.current, attempts))
      )
      yield* Effect.yieldNow()
      assert.isFalse(attempts.reached)
      yield* fiber.interruptAsFork(fiber.id())
      yield* fiber.await
      assert.deepStrictEqual(attempts, { sent: 1, reached: true })
      const untracked = Attempts.track(Transport.make(() => Effect.succeed(answer)))
      yield* untracked.get("http://gw/")
      assert.deepStrictEqual(attempts, { sent: 1, reached: true })
    })
  )
})

describe("toPlain", () => {
  it.effect.prop(
    "keeps the signed notification's id, sub type, task, serial and amounts as wire text",
    [Arbitraries.notification],
    ([options]) =>
      Effect.gen(function* () {
        const signed = yield* NotificationSigner.sign(options)
        const verifier = yield* DsaVerifier.make({ publicKey: Redacted.make(TestKeys.gatewayPublicKeyPem) })
        // The receiver reads in its configured charset (PROTOCOL.md §6): the one the notification was sent in.
        const n = yield* Notification.decodeWith(
          verifier,
          { body: signed.body, contentType: signed.contentType },
          { charset: options.charset ?? "utf-8" }
        )
        const plain = toPlain(n)
        assert.strictEqual(plain.notifyId, options.notifyId)
        assert.strictEqual(plain.notifyTime, options.notifyTime)
        assert.strictEqual(plain.subType, n.payload.subType)
        assert.strictEqual(plain.outerTaskId, n.fields["outer_task_id"])
        assert.strictEqual(plain.outerTransferNo, n.fields["outer_transfer_no"])
        assert.strictEqual(plain.transferAmount, n.fields["transfer_amount"])
        assert.strictEqual(plain.serviceCharge, n.fields["service_charge"])
        assert.deepStrictEqual(plain.fields, n.fields)
        if (n.payload._tag === "Assign") assert.strictEqual(plain.outerTransferNo, n.payload.outerTransferNo)
      }).pipe(Effect.provide(TestKeys.gatewaySigner), Effect.orDie),
    { fastCheck: { numRuns: 40 } }
  )
})
