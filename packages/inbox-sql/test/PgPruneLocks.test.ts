// `prune` on PostgreSQL beside a transaction that locks entries in notify_id order, as a batch of deliveries
// does: it locks the entries it empties in that order too, so it waits instead of deadlocking. A plain UPDATE
// locked them in scan order (insertion order here: "z" before "a") and PostgreSQL aborted one of the two
// (`inbox prune: deadlock detected`, once in a fresh-clone CI run of Operators.test.ts).
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import type * as Inbox from "@witkey/core/Inbox"
import * as CoreInbox from "@witkey/core/Inbox"
import { Context, Deferred, Effect, Exit, Fiber, Layer } from "effect"
import * as Migrations from "../src/Migrations.js"
import * as PgInbox from "../src/PgInbox.js"
import * as PgTest from "./PgTest.js"

const unavailable = await PgTest.unavailable

describe.skipIf(unavailable !== undefined && !PgTest.required)("PostgreSQL prune and row locks", () => {
  it.scopedLive(
    "prune waits for a transaction holding one of its entries and wanting another: no deadlock",
    () =>
      Effect.gen(function* () {
        const url = yield* PgTest.scopedSchema("prunelocks")
        const context = yield* Layer.build(PgInbox.layer({ url, maxConnections: 4 }))
        const sql = Context.get(context, SqlClient.SqlClient)
        const inbox = Context.get(context, CoreInbox.Inbox) as Inbox.Inbox & Inbox.Operations
        const table = Migrations.tables(Migrations.DEFAULT_TABLE_PREFIX).notifications
        const N = sql(table)
        // Two processed entries, long settled, "z" stored first.
        yield* sql`INSERT INTO ${N} (notify_id, event_key, sub_type, body, first_received_at, last_received_at, deliveries, state, failures) VALUES ('z', 'e-z', 'ASSIGN_FOR_ANNOUNCE_PAYMENT', decode('3c', 'hex'), 1, 1, 1, 'processed', 0), ('a', 'e-a', 'ASSIGN_FOR_ANNOUNCE_PAYMENT', decode('3c', 'hex'), 1, 1, 1, 'processed', 0)`
        const locked = yield* Deferred.make<void>()
        const go = yield* Deferred.make<void>()
        // Another transaction, in notify_id order: "a" now, "z" once the prune waits.
        const other = yield* Effect.fork(
          sql.withTransaction(
            Effect.gen(function* () {
              yield* sql`SELECT notify_id FROM ${N} WHERE notify_id = 'a' FOR UPDATE`
              yield* Deferred.succeed(locked, undefined)
              yield* Deferred.await(go)
              yield* sql`UPDATE ${N} SET deliveries = deliveries + 1 WHERE notify_id = 'z'`
            })
          )
        )
        yield* Deferred.await(locked)
        const prune = yield* Effect.fork(inbox.prune({ olderThan: "1 millis" }))
        // The prune waits for a row lock of the inbox's table (it holds the row's tuple lock while it waits).
        let waiting = false
        for (let i = 0; i < 400 && !waiting; i++) {
          const rows = yield* sql<{
            n: string
          }>`SELECT count(*)::text AS n FROM pg_locks WHERE locktype = 'tuple' AND relation = ${table}::regclass`
          waiting = Number(rows[0]!.n) > 0
          if (!waiting) yield* Effect.sleep("25 millis")
        }
        assert.isTrue(waiting, "the prune waits for the entry the other transaction holds")
        yield* Deferred.succeed(go, undefined)
        const otherExit = yield* Fiber.await(other)
        const pruneExit = yield* Fiber.await(prune)
        assert.isTrue(Exit.isSuccess(otherExit), `the other transaction: ${String(otherExit)}`)
        assert.isTrue(Exit.isSuccess(pruneExit), `the prune: ${String(pruneExit)}`)
        if (Exit.isSuccess(pruneExit)) assert.strictEqual(pruneExit.value.bodies, 2)
      })
  )
})
