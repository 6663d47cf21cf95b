/**
 * resume reads the unsettled payouts, then claims them one by one. Another process may settle one in between:
 * with an outcome a re-send must not touch (an answer whose signature failed: a re-send would only earn an
 * ALREADY_PAID and hide it), resume must hold it, as it holds one it reads so, and send nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import * as JournaledClient from "@witkey/core/JournaledClient"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import { Clock, Effect, Fiber, Layer, Option, Schedule, TestClock } from "effect"
import * as Fault from "../src/Fault.js"
import * as MemoryPayoutJournal from "../src/MemoryPayoutJournal.js"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxTransport from "../src/SandboxTransport.js"
import * as TestKeys from "../src/TestKeys.js"
import { layer, NOTIFY_URL, PAYEE_A, receiver, registerTask } from "./Harness.js"

const LEASE = "5 minutes" as const

describe("JournaledClient races", () => {
  it.effect(
    "a payout another process settled as unverifiable between the list and the claim is held, not re-sent",
    () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const journal = yield* PayoutJournal.PayoutJournal
        yield* sandbox.setDeliver((yield* receiver()).deliver)
        yield* registerTask("task-race", [["s-1", PAYEE_A, "120.00"]])
        const options = {
          partner: TestKeys.partnerId,
          gateway: SandboxTransport.GATEWAY_URL,
          notifyUrl: NOTIFY_URL,
          retry: Schedule.recurs(3),
          lease: LEASE
        }
        const services = Layer.mergeAll(
          TestKeys.partnerSigner,
          Sandbox.gatewayVerifier,
          SandboxTransport.layer
        )
        // A process died after recording the payout (its lease is over).
        const dead = yield* JournaledClient.make({ ...options, owner: "dead" }).pipe(Effect.provide(services))
        const request = yield* dead.client.prepare({ outerTaskId: "task-race", transfers: ["s-1"] })
        const now = yield* Clock.currentTimeMillis
        const { entry } = yield* journal.record(request, { owner: "dead", until: now + 300_000 })
        yield* TestClock.adjust(LEASE)
        // Process "other" settles it right after this resume listed it: an answer it could not verify.
        const racing: PayoutJournal.PayoutJournal = {
          ...journal,
          unsettled: Effect.tap(journal.unsettled, () =>
            Effect.gen(function* () {
              const until = (yield* Clock.currentTimeMillis) + 300_000
              assert.isTrue(yield* journal.claim(entry.id, { owner: "other", until }))
              yield* journal.finish(entry.id, "other", {
                _tag: "Unknown",
                reason: "signature",
                mayHaveReached: true,
                message: "the answer's signature does not verify"
              })
            })
          )
        }
        const operator = yield* JournaledClient.make({ ...options, owner: "operator" }).pipe(
          Effect.provide(services),
          Effect.provideService(PayoutJournal.PayoutJournal, racing)
        )
        const resumed = yield* operator.resume
        const calls = (yield* sandbox.calls).filter((c) => c.service === Protocol.SERVICE)
        assert.deepStrictEqual(calls, [], "nothing was sent")
        assert.deepStrictEqual(
          resumed.map((r) => r._tag),
          ["Held"]
        )
        const after = Option.getOrThrow(yield* journal.get(entry.id))
        assert.deepStrictEqual(after.outcome._tag === "Unknown" && after.outcome.reason, "signature")
        // Not left claimed by the operator: the next resume holds it again at once.
        assert.deepStrictEqual(
          (yield* operator.resume).map((r) => r._tag),
          ["Held"]
        )
      }).pipe(Effect.provide(Layer.merge(layer(), MemoryPayoutJournal.layer)))
  )

  it.effect(
    "two sends of one payout at once by one client: the second is told busy, one request goes out",
    () =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        yield* sandbox.setDeliver((yield* receiver()).deliver)
        yield* registerTask("task-twice-at-once", [["s-1", PAYEE_A, "120.00"]])
        const client = yield* JournaledClient.make({
          partner: TestKeys.partnerId,
          gateway: SandboxTransport.GATEWAY_URL,
          notifyUrl: NOTIFY_URL,
          retry: Schedule.recurs(3),
          lease: LEASE,
          owner: "one-process"
        }).pipe(
          Effect.provide(
            Layer.mergeAll(TestKeys.partnerSigner, Sandbox.gatewayVerifier, SandboxTransport.layer)
          )
        )
        yield* sandbox.queueAnswerFaults(Fault.delay("10 seconds"))
        const request = yield* client.client.prepare({
          outerTaskId: "task-twice-at-once",
          transfers: ["s-1"]
        })
        const payoutCalls = Effect.map(sandbox.calls, (calls) =>
          calls.filter((c) => c.service === Protocol.SERVICE)
        )
        const first = yield* Effect.fork(client.send(request))
        // The first is in flight (the gateway holds its answer) when the second starts.
        for (let turn = 0; turn < 10_000 && (yield* payoutCalls).length === 0; turn++)
          yield* Effect.yieldNow()
        assert.strictEqual((yield* payoutCalls).length, 1, "the first send reached the gateway")
        const second = yield* Effect.either(client.send(request))
        assert.isTrue(
          second._tag === "Left" && second.left._tag === "JournalError" && second.left.reason === "busy",
          `the second send: ${JSON.stringify(second)}`
        )
        yield* TestClock.adjust("10 seconds")
        const outcome = yield* Fiber.join(first)
        assert.strictEqual(outcome._tag, "Confirmed")
        assert.strictEqual((yield* payoutCalls).length, 1)
      }).pipe(Effect.provide(Layer.merge(layer(), MemoryPayoutJournal.layer)))
  )
})
