// Two receiver processes on one database get every notification at the same time (and, under the sandbox's
// Duplicate habit, twice each): each payout must still be processed exactly once. PostgreSQL is the case that
// matters (several app servers, one database); SQLite shows that two processes on one file are safe too.
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import type * as Sandbox from "@witkey/testkit/Sandbox"
import type { Layer, Scope } from "effect"
import { Effect, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as PgTest from "./PgTest.js"
import * as Receivers from "./Receivers.js"

const unavailable = await PgTest.unavailable

interface Database {
  /** What the receivers need in their environment. */
  readonly env: Record<string, string>
  /** The test's own connection, for the checks. */
  readonly client: Layer.Layer<SqlClient.SqlClient, unknown>
}

const ACK = new TextEncoder().encode("success")
const isAck = (answer: Sandbox.DeliveryAnswer) =>
  answer.status === 200 && answer.body.length === ACK.length && answer.body.every((b, i) => b === ACK[i])

const twoReceivers = (label: string, database: Effect.Effect<Database, unknown, Scope.Scope>) =>
  Effect.gen(function* () {
    const db = yield* database
    const ports = [yield* Receivers.freePort, yield* Receivers.freePort] as const
    // One POST to each receiver at the same time; acknowledged only if both said `success`.
    const acked = ports.map(() => new Set<string>())
    const w = yield* Receivers.world(`http://127.0.0.1:${ports[0]}/alipay/notify`, (delivery) =>
      Effect.map(
        Effect.all(
          ports.map((port) => Receivers.post(port, delivery)),
          { concurrency: "unbounded" }
        ),
        (answers) => {
          answers.forEach((a, i) => isAck(a) && acked[i]!.add(delivery.notifyId))
          return answers.find((a) => !isAck(a)) ?? answers[0]!
        }
      )
    )
    // One after the other: each creates the payouts table if it is missing, and PostgreSQL's CREATE TABLE IF
    // NOT EXISTS is not safe against a concurrent one (a duplicate pg_type row).
    yield* Effect.forEach(ports, (port) =>
      Receivers.start({ ...db.env, RECEIVER_PORT: String(port), RECEIVER_GATEWAY: w.gatewayUrl })
    )
    yield* Receivers.queueHabits(w, 8)
    yield* Receivers.payTasks(w, label, 0, 8)
    yield* Receivers.deliverEverything(w)
    const { notifications, rows } = yield* Receivers.verifyExactlyOnce(w).pipe(Effect.provide(db.client))
    assert.strictEqual(rows.length, 8 * 4)
    for (const n of notifications)
      assert.isTrue(
        acked.every((ids) => ids.has(n.notifyId)),
        `both receivers answered success to ${n.notifyId}`
      )
  })

describe("two receiver processes on one database", () => {
  it.scoped(
    "SQLite file: every payout processed exactly once",
    () =>
      twoReceivers(
        "sqlite2",
        Effect.gen(function* () {
          const dir = yield* Effect.acquireRelease(
            Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-two-"))),
            (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
          )
          const filename = path.join(dir, "platform.db")
          return { env: { RECEIVER_SQLITE: filename }, client: SqliteClient.layer({ filename }) }
        })
      ),
    300_000
  )

  if (unavailable !== undefined) {
    // Without a server only the warning says what did not run (CI sets WITKEY_PG_REQUIRED=1: there, a failure).
    console.warn(PgTest.skipMessage(unavailable))
    if (PgTest.required)
      it("PostgreSQL is required (WITKEY_PG_REQUIRED=1) but unreachable", () => {
        assert.fail(unavailable)
      })
  } else
    it.scoped(
      "PostgreSQL: every payout processed exactly once",
      () =>
        twoReceivers(
          "pg2",
          Effect.map(PgTest.scopedSchema("two"), (url) => ({
            env: { RECEIVER_PG: url },
            client: PgClient.layer({ url: Redacted.make(url) })
          }))
        ),
      300_000
    )
})
