// For any set of tasks and any seeded fault schedule, once every delivery is over, the sandbox's ledger and
// the notifications the platform's handler processed agree exactly: each payment once, none missing. The
// receiver is core's NotificationReceiver (signature, notify_verify) on testkit's MemoryInbox (de-dup by
// notify_id and by business key).
import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as Notification from "@witkey/core/Notification"
import * as Protocol from "@witkey/core/Protocol"
import { BigDecimal, Duration, Effect, Either, FastCheck as fc, Schedule, TestClock } from "effect"
import * as Arbitraries from "../src/Arbitraries.js"
import * as Sandbox from "../src/Sandbox.js"
import * as TestKeys from "../src/TestKeys.js"
import { layer, notifyUrlFor, PAYEE_A, PAYEE_B, receiver } from "./Harness.js"

const task = fc.record({
  transfers: fc.array(fc.record({ amount: Arbitraries.amount, payee: fc.constantFrom(PAYEE_A, PAYEE_B) }), {
    minLength: 1,
    maxLength: 5
  }),
  fee: fc.constantFrom("0", "0.01", "30.00", "1234.56"),
  /** How many confirm calls pay the task (its serials split in that many consecutive chunks). */
  calls: fc.integer({ min: 1, max: 3 }),
  charset: Arbitraries.charset
})

const scenario = fc.record({
  tasks: fc.array(task, { minLength: 1, maxLength: 4 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  answerRate: fc.constantFrom(0, 0.3, 0.6),
  notifyRate: fc.constantFrom(0, 0.5, 1)
})

const chunks = <A>(items: ReadonlyArray<A>, n: number): Array<Array<A>> => {
  const size = Math.ceil(items.length / Math.min(n, items.length))
  const out: Array<Array<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const key = (...parts: ReadonlyArray<string>) => parts.join("|")

describe("ledger and notifications agree", () => {
  it.effect.prop(
    "for any tasks and seeded faults, every payment is processed exactly once",
    [scenario],
    ([s]) =>
      Effect.gen(function* () {
        const sandbox = yield* Sandbox.Sandbox
        const client = yield* Client.Client
        const r = yield* receiver()
        yield* sandbox.setDeliver(r.deliver)

        const calls: Array<{
          outerTaskId: string
          serials: Array<string>
          charset: (typeof s.tasks)[number]["charset"]
        }> = []
        for (const [t, spec] of s.tasks.entries()) {
          const outerTaskId = spec.charset === "utf-8" ? `task-${t}` : `任务-${t}`
          const serials = spec.transfers.map((_, i) => `${outerTaskId}-转账-${i}`)
          yield* sandbox.registerTask({
            partner: TestKeys.partnerId,
            outerTaskId,
            transfers: spec.transfers.map((tr, i) => ({
              serial: serials[i]!,
              payeeUserId: tr.payee,
              amount: tr.amount
            })),
            serviceFee: spec.fee,
            platformAccount: TestKeys.platformUserId
          })
          for (const chunk of chunks(serials, spec.calls))
            calls.push({ outerTaskId, serials: chunk, charset: spec.charset })
        }

        // The platform re-sends each call until it has an outcome, as it must after an unknown one.
        for (const call of calls) {
          let outcome: Either.Either<Client.Outcome, Client.ConfirmError> | undefined
          for (
            let attempt = 0;
            attempt < 10 && (outcome === undefined || Either.isLeft(outcome));
            attempt++
          ) {
            outcome = yield* Effect.either(
              client.confirmByPlatform({
                outerTaskId: call.outerTaskId,
                transfers: call.serials,
                charset: call.charset,
                notifyUrl: notifyUrlFor(call.charset)
              })
            )
            if (Either.isLeft(outcome))
              assert.strictEqual(outcome.left._tag, "UnknownOutcome", outcome.left.message)
          }
          assert.isTrue(outcome !== undefined && Either.isRight(outcome), "no outcome after 10 re-sends")
        }

        // Late and re-issued notifications come within hours; retries end within 24h22m of each.
        yield* TestClock.adjust(Duration.days(3))
        yield* sandbox.awaitDeliveries

        const ledger = yield* sandbox.ledger
        const expected = new Map<
          string,
          { amount: BigDecimal.BigDecimal; payee: string; charge?: BigDecimal.BigDecimal }
        >()
        for (const entry of ledger) {
          const k =
            entry._tag === "Transfer"
              ? key(Protocol.Notify.assign, entry.outerTaskId, entry.serial)
              : key(Protocol.Notify.platformProfit, entry.outerTaskId, "")
          assert.isFalse(expected.has(k), `paid twice: ${k}`)
          expected.set(k, {
            amount: entry.amount,
            payee: entry.payeeUserId,
            ...(entry._tag === "PlatformProfit" ? { charge: entry.serviceCharge } : {})
          })
        }
        // The ledger is exactly what was registered: every serial once, a profit per task with a fee.
        const serialCount = s.tasks.reduce((n, t) => n + t.transfers.length, 0)
        const profitCount = s.tasks.filter((t) => t.fee !== "0").length
        assert.strictEqual(expected.size, serialCount + profitCount)

        const processed = new Map<string, Notification.Notification>()
        for (const n of r.processed) {
          const k = Notification.businessKey(n)!
          assert.isFalse(processed.has(k), `processed twice: ${k}`)
          processed.set(k, n)
        }
        assert.deepStrictEqual([...processed.keys()].sort(), [...expected.keys()].sort())
        for (const [k, n] of processed) {
          const want = expected.get(k)!
          assert.isTrue(
            BigDecimal.equals(
              n.payload._tag === "UnknownSubType" ? BigDecimal.fromBigInt(-1n) : n.payload.transferAmount,
              want.amount
            ),
            k
          )
          assert.strictEqual(n.payload._tag !== "UnknownSubType" && n.payload.payeeUserId, want.payee)
          if (n.payload._tag === "PlatformProfit")
            assert.isTrue(BigDecimal.equals(n.payload.serviceCharge, want.charge!))
        }
        // Every notification was acknowledged in the end.
        assert.isTrue((yield* sandbox.notifications).every((n) => n.state === "acknowledged"))
      }).pipe(
        Effect.provide(
          layer(
            { faults: { seed: s.seed, answerRate: s.answerRate, notifyRate: s.notifyRate } },
            { retry: Schedule.recurs(3) }
          )
        )
      ),
    { fastCheck: { numRuns: 10 } }
  )
})
