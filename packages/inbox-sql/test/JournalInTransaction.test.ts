// Record before send means committed before send. A journal write made inside a database transaction of the
// caller's (a payout sent from an inbox handler, or from the application's own unit of work) joined that
// transaction: the payout went out while its record was uncommitted, and a rollback or a crash took the record
// with it, so resume would never learn that the payout may have happened.
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as JournaledClient from "@witkey/core/JournaledClient"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxTransport from "@witkey/testkit/SandboxTransport"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Clock, Context, Effect, Layer, Option, Redacted, Schedule } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlPayoutJournal from "../src/SqlPayoutJournal.js"
import * as PgTest from "./PgTest.js"

const unavailable = await PgTest.unavailable

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-journal-tx-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

class Boom {
  readonly _tag = "Boom"
}

/** Records a payout inside a transaction that then rolls back; `expected`: what the journal must have done. */
const recordInRolledBackTransaction = (
  database: Layer.Layer<SqlClient.SqlClient, unknown>,
  expected: "refused" | "kept"
) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      SqlPayoutJournal.layer({ tablePrefix: "tx_" }).pipe(Layer.provideMerge(database))
    )
    const journal = Context.get(context, PayoutJournal.PayoutJournal)
    const sql = Context.get(context, SqlClient.SqlClient)
    const sandbox = yield* Sandbox.make()
    const client = yield* JournaledClient.make({
      partner: TestKeys.partnerId,
      gateway: SandboxTransport.GATEWAY_URL,
      retry: Schedule.recurs(1),
      owner: "a"
    }).pipe(
      Effect.provide(
        Layer.mergeAll(TestKeys.partnerSigner, Sandbox.gatewayVerifier, SandboxTransport.layer).pipe(
          Layer.provide(Layer.succeed(Sandbox.Sandbox, sandbox))
        )
      ),
      Effect.provideService(PayoutJournal.PayoutJournal, journal)
    )
    const request = yield* client.client.prepare({ outerTaskId: "task-tx", transfers: ["s-1"] })
    const until = (yield* Clock.currentTimeMillis) + 60_000
    // Once the record "succeeded" a JournaledClient sends; then the transaction rolls back.
    const inside = yield* Effect.either(
      sql.withTransaction(
        Effect.zipRight(journal.record(request, { owner: "a", until }), Effect.fail(new Boom()))
      )
    )
    const refused = inside._tag === "Left" && inside.left._tag === "JournalError"
    const kept = Option.isSome(yield* journal.get(PayoutJournal.payoutId(request.request)))
    assert.isFalse(refused && kept)
    assert.isTrue(
      expected === "refused" ? refused : kept,
      `expected the record ${expected}: the record was rolled back after it was reported written`
    )
  })

describe("SqlPayoutJournal inside a transaction of the caller's", () => {
  it.scoped("SQLite: a write refuses to join it (one connection: it would commit only with it)", () =>
    Effect.gen(function* () {
      const filename = path.join(yield* tempDir, "journal.db")
      yield* recordInRolledBackTransaction(SqliteClient.layer({ filename }), "refused")
    })
  )

  it.scoped.skipIf(unavailable !== undefined)(
    "PostgreSQL: a write refuses to join it (a connection of its own could exhaust the pool)",
    () =>
      Effect.gen(function* () {
        const url = yield* PgTest.scopedSchema("journal_tx")
        yield* recordInRolledBackTransaction(
          PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }).pipe(Layer.orDie),
          "refused"
        )
      })
  )
})
