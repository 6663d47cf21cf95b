import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as JournaledClient from "@witkey/core/JournaledClient"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import * as PayoutJournalSuite from "@witkey/testkit/PayoutJournalSuite"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxTransport from "@witkey/testkit/SandboxTransport"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Clock, Context, Effect, Exit, Layer, Schedule, Scope, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlPayoutJournal from "../src/SqlPayoutJournal.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-journal-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const journalOn = (filename: string) =>
  SqlPayoutJournal.layer({ tablePrefix: "ops_" }).pipe(Layer.provide(SqliteClient.layer({ filename })))

PayoutJournalSuite.suite(
  "SqlPayoutJournal on SQLite",
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => journalOn(path.join(dir, "journal.db"))))
)

describe("SqlPayoutJournal on SQLite", () => {
  it.scoped(
    "what a process left when it died after sending survives it: the next one resumes and settles it",
    () =>
      Effect.gen(function* () {
        const filename = path.join(yield* tempDir, "journal.db")
        const sandbox = yield* Sandbox.make()
        yield* sandbox.registerTask({
          partner: TestKeys.partnerId,
          outerTaskId: "task-crash",
          transfers: [{ serial: "s-1", payeeUserId: "2088102122524333", amount: "10.00" }],
          serviceFee: "1.00",
          platformAccount: TestKeys.platformUserId
        })
        const keys = Layer.mergeAll(
          TestKeys.partnerSigner,
          Sandbox.gatewayVerifier,
          SandboxTransport.layer
        ).pipe(Layer.provide(Layer.succeed(Sandbox.Sandbox, sandbox)))
        const operator = (owner: string) =>
          JournaledClient.make({
            partner: TestKeys.partnerId,
            gateway: SandboxTransport.GATEWAY_URL,
            retry: Schedule.recurs(3),
            owner,
            lease: "5 minutes"
          }).pipe(Effect.provide(keys))

        // The first process: its own connection, closed with the payout sent and no outcome written.
        const first = yield* Scope.make()
        const journal = Context.get(
          yield* Layer.buildWithScope(journalOn(filename), first),
          PayoutJournal.PayoutJournal
        )
        const dead = yield* operator("dead").pipe(Effect.provideService(PayoutJournal.PayoutJournal, journal))
        const request = yield* dead.client.prepare({ outerTaskId: "task-crash", transfers: ["s-1"] })
        const now = yield* Clock.currentTimeMillis
        const { entry } = yield* journal.record(request, { owner: "dead", until: now + 300_000 })
        yield* journal.startAttempt(entry.id, "dead")
        yield* sandbox.handle(request.url)
        yield* Scope.close(first, Exit.void)

        // The next process, on the same file.
        const next = Context.get(yield* Layer.build(journalOn(filename)), PayoutJournal.PayoutJournal)
        yield* TestClock.adjust("5 minutes")
        const resumed = yield* Effect.flatMap(operator("next"), (o) => o.resume).pipe(
          Effect.provideService(PayoutJournal.PayoutJournal, next)
        )
        assert.deepStrictEqual(
          resumed.map((r) => [r._tag, r._tag === "Settled" ? r.outcome._tag : ""]),
          [["Settled", "AlreadyConfirmed"]]
        )
        const [after] = yield* next.byTask("task-crash")
        assert.deepStrictEqual(after!.outcome, {
          _tag: "AlreadyConfirmed",
          code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID",
          afterResend: true
        })
        assert.deepStrictEqual(
          after!.attempts.map((a) => a.n),
          [1, 2]
        )
        const calls = (yield* sandbox.calls).filter((c) => c.service === Protocol.SERVICE)
        assert.deepStrictEqual(
          calls.map((c) => c.url),
          [request.url, request.url]
        )
        assert.strictEqual((yield* sandbox.ledger).filter((l) => l._tag === "Transfer").length, 1)
      })
  )
})
