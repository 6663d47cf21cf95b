import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import * as JournaledClient from "@witkey/core/JournaledClient"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import * as PayoutJournalSuite from "@witkey/testkit/PayoutJournalSuite"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxTransport from "@witkey/testkit/SandboxTransport"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Clock, Context, Effect, Layer, Redacted, Schedule, TestClock } from "effect"
import * as SqlPayoutJournal from "../src/SqlPayoutJournal.js"
import * as PgTest from "./PgTest.js"

const unavailable = await PgTest.unavailable

const journalOn = (url: string) =>
  SqlPayoutJournal.layer().pipe(
    Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }).pipe(Layer.orDie))
  )

if (unavailable !== undefined) {
  console.warn(PgTest.skipMessage(unavailable))
  // Skipped (and said so by the warning) without a server; CI sets WITKEY_PG_REQUIRED=1, where it fails.
  describe.skipIf(!PgTest.required)("SqlPayoutJournal on PostgreSQL", () => {
    it("PostgreSQL is required (WITKEY_PG_REQUIRED=1) but unreachable", () => {
      assert.fail(unavailable)
    })
  })
} else {
  PayoutJournalSuite.suite("SqlPayoutJournal on PostgreSQL", PgTest.inSchema("journal_suite", journalOn))

  describe("SqlPayoutJournal on PostgreSQL", () => {
    it.scoped(
      "two operators resuming at once (two pools) send each crashed payout once, and record it once",
      () =>
        Effect.gen(function* () {
          const url = yield* PgTest.scopedSchema("journal_resume")
          // Both start at once: the journal's migrations must serialize, not collide.
          const [a, b] = yield* Effect.all([Layer.build(journalOn(url)), Layer.build(journalOn(url))], {
            concurrency: "unbounded"
          })
          const sandbox = yield* Sandbox.make()
          const keys = Layer.mergeAll(
            TestKeys.partnerSigner,
            Sandbox.gatewayVerifier,
            SandboxTransport.layer
          ).pipe(Layer.provide(Layer.succeed(Sandbox.Sandbox, sandbox)))
          const operator = (journal: Context.Context<PayoutJournal.PayoutJournal>, owner: string) =>
            JournaledClient.make({
              partner: TestKeys.partnerId,
              gateway: SandboxTransport.GATEWAY_URL,
              retry: Schedule.recurs(3),
              owner,
              lease: "5 minutes"
            }).pipe(Effect.provide(keys), Effect.provide(journal))

          // A process that died after sending: each payout recorded with one attempt and no outcome; the
          // even ones reached the gateway (and were paid), the odd ones did not.
          const dead = yield* operator(a, "dead")
          const journalA = Context.get(a, PayoutJournal.PayoutJournal)
          const tasks = Array.from({ length: 6 }, (_, i) => `resume-${i}`)
          const urls: Array<string> = []
          for (const [i, task] of tasks.entries()) {
            yield* sandbox.registerTask({
              partner: TestKeys.partnerId,
              outerTaskId: task,
              transfers: [
                { serial: `${task}-1`, payeeUserId: "2088102122524333", amount: "10.00" },
                { serial: `${task}-2`, payeeUserId: "2088102122524334", amount: "20.00" }
              ],
              serviceFee: "1.00",
              platformAccount: TestKeys.platformUserId
            })
            const request = yield* dead.client.prepare({
              outerTaskId: task,
              transfers: [`${task}-1`, `${task}-2`]
            })
            const now = yield* Clock.currentTimeMillis
            const { entry } = yield* journalA.record(request, { owner: "dead", until: now + 300_000 })
            yield* journalA.startAttempt(entry.id, "dead")
            if (i % 2 === 0) yield* sandbox.handle(request.url)
            urls.push(request.url)
          }
          yield* TestClock.adjust("5 minutes")

          const [one, two] = yield* Effect.all(
            [
              Effect.flatMap(operator(a, "operator-a"), (o) => o.resume),
              Effect.flatMap(operator(b, "operator-b"), (o) => o.resume)
            ],
            { concurrency: "unbounded" }
          )
          const settled = [...one, ...two].filter((r) => r._tag === "Settled")
          assert.deepStrictEqual(settled.map((r) => r.outerTaskId).sort(), [...tasks].sort())
          assert.isTrue([...one, ...two].every((r) => r._tag === "Settled" || r._tag === "Busy"))

          // Each URL went to the gateway once after the crash (plus once before it, for the even ones).
          const calls = (yield* sandbox.calls).filter((c) => c.service === Protocol.SERVICE).map((c) => c.url)
          for (const [i, u] of urls.entries())
            assert.strictEqual(calls.filter((c) => c === u).length, i % 2 === 0 ? 2 : 1, tasks[i])
          const ledger = yield* sandbox.ledger
          assert.strictEqual(ledger.filter((l) => l._tag === "Transfer").length, tasks.length * 2)

          const entries = yield* Context.get(b, PayoutJournal.PayoutJournal).all
          for (const [i, e] of entries.entries()) {
            assert.deepStrictEqual(
              e.attempts.map((x) => x.n),
              [1, 2]
            )
            assert.strictEqual(e.outcome._tag, i % 2 === 0 ? "AlreadyConfirmed" : "Confirmed")
          }
          const report = PayoutJournal.reconcile({
            payouts: entries,
            notifications: [],
            now: yield* Clock.currentTimeMillis
          })
          assert.strictEqual(report.counts.awaiting_notification, tasks.length * 2)
        })
    )
  })
}
