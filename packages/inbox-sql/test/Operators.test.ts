// Two operators (two pools) on one PostgreSQL: replays racing replays, live deliveries, resolves and prunes,
// and sweeps racing sweeps. Exactly once: every event's business write happens once, whoever wins.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import { Context, Effect, Layer, Schema, TestClock } from "effect"
import * as PgInbox from "../src/PgInbox.js"
import * as PgTest from "./PgTest.js"

const unavailable = await PgTest.unavailable

class Outage extends Schema.TaggedError<Outage>()("Outage", { message: Schema.String }) {}

type Services = Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient

/** Two inboxes (two pools) on one fresh schema, with a business table the handlers write. */
const twoOperators = (policy: Inbox.Policy = {}) =>
  Effect.gen(function* () {
    const url = yield* PgTest.scopedSchema("operators")
    const [a, b] = yield* Effect.all(
      [
        Layer.build(PgInbox.layer({ ...policy, url, maxConnections: 6 })),
        Layer.build(PgInbox.layer({ ...policy, url, maxConnections: 6 }))
      ],
      { concurrency: "unbounded" }
    )
    const sql = Context.get(a, SqlClient.SqlClient)
    yield* sql`CREATE TABLE payouts (business_key TEXT NOT NULL, notify_id TEXT NOT NULL, operator TEXT NOT NULL)`
    const handler = (operator: string) => (n: Notification.Notification) =>
      Effect.flatMap(SqlClient.SqlClient, (client) =>
        // A slow business write widens the window in which a second runner could slip in.
        client`SELECT pg_sleep(0.02)`.pipe(
          Effect.zipRight(
            client`INSERT INTO payouts VALUES (${Notification.businessKey(n) ?? n.notifyId}, ${n.notifyId}, ${operator})`
          )
        )
      )
    const on = <A, E>(
      context: Context.Context<Services>,
      f: (inbox: Inbox.Inbox & Inbox.Operations) => Effect.Effect<A, E, SqlClient.SqlClient>
    ) =>
      Effect.flatMap(Effect.all([Inbox.Inbox, Inbox.Operations]), ([inbox, ops]) =>
        f({ ...inbox, ...ops })
      ).pipe(Effect.provide(context))
    const payouts = sql<{
      business_key: string
      n: string
    }>`SELECT business_key, COUNT(*) AS n FROM payouts GROUP BY business_key ORDER BY business_key`.pipe(
      Effect.map((rows) => new Map(rows.map((r) => [r.business_key, Number(r.n)])))
    )
    return { a, b, on, handler, payouts }
  })

const failing = (n: Notification.Notification) =>
  Effect.fail(new Outage({ message: `down for ${n.notifyId}` }))

/** Five events, each delivered under two notify_ids (a re-issue), every delivery failed once through `a`. */
const failedPairs = (t: Effect.Effect.Success<ReturnType<typeof twoOperators>>, prefix: string) =>
  Effect.gen(function* () {
    const deliveries = yield* Effect.forEach(
      Array.from({ length: 5 }, (_, i) => i),
      (i) =>
        Effect.forEach([1, 2], (alias) =>
          InboxSuite.received({
            notifyId: `${prefix}-${i}-${alias}`,
            payload: InboxSuite.assign(`${prefix}-${i}`, "s-1")
          })
        )
    )
    for (const r of deliveries.flat()) yield* Effect.flip(t.on(t.a, (inbox) => inbox.receive(r, failing)))
    return deliveries
  })

if (unavailable !== undefined) {
  console.warn(PgTest.skipMessage(unavailable))
  if (PgTest.required)
    describe("operators on PostgreSQL", () => {
      it("PostgreSQL is required (WITKEY_PG_REQUIRED=1) but unreachable", () => {
        assert.fail(unavailable)
      })
    })
} else {
  describe("two operators on one PostgreSQL", { timeout: 120_000 }, () => {
    it.scoped(
      "replays racing replays and live deliveries (and a re-issue) run each event's handler once",
      () =>
        Effect.gen(function* () {
          const t = yield* twoOperators()
          // Every notification failed once: both are failing entries of one event.
          const deliveries = yield* failedPairs(t, "op")
          const racing = deliveries.flatMap(([first, reissue]) => [
            t.on(t.a, (inbox) => inbox.replay(first!.notification.notifyId, t.handler("a"))),
            t.on(t.b, (inbox) => inbox.replay(first!.notification.notifyId, t.handler("b"))),
            t.on(t.b, (inbox) => inbox.replay(reissue!.notification.notifyId, t.handler("b"))),
            t.on(t.a, (inbox) => inbox.receive(first!, t.handler("a"))),
            t.on(t.b, (inbox) => inbox.receive(reissue!, t.handler("b")))
          ])
          const outcomes = yield* Effect.all(racing, { concurrency: "unbounded" })
          assert.strictEqual(outcomes.filter((o) => o._tag === "Processed").length, deliveries.length)
          const counts = yield* t.payouts
          assert.strictEqual(counts.size, deliveries.length)
          for (const [, n] of counts) assert.strictEqual(n, 1)
          for (const r of deliveries.flat()) {
            const e = yield* t.on(t.b, (inbox) => inbox.get(r.notification.notifyId))
            assert.strictEqual(e._tag === "Some" ? e.value.status : "missing", "processed")
          }
        })
    )

    it.scoped("a resolve racing a replay: exactly one wins, and the business write matches the winner", () =>
      Effect.gen(function* () {
        const t = yield* twoOperators()
        const rounds = 5
        for (let i = 0; i < rounds; i++) {
          const r = yield* InboxSuite.received({
            notifyId: `rr-${i}`,
            payload: InboxSuite.assign(`rr-${i}`, "s-1")
          })
          yield* Effect.flip(t.on(t.a, (inbox) => inbox.receive(r, failing)))
          const [resolved, replayed] = yield* Effect.all(
            [
              t.on(t.a, (inbox) => inbox.resolve(`rr-${i}`, "paid by hand")),
              t.on(t.b, (inbox) => inbox.replay(`rr-${i}`, t.handler("b")))
            ],
            { concurrency: "unbounded" }
          )
          const written = (yield* t.payouts).get(Notification.businessKey(r.notification)!) ?? 0
          if (replayed._tag === "Processed") {
            assert.strictEqual(resolved._tag, "AlreadyProcessed")
            assert.strictEqual(written, 1)
          } else {
            assert.strictEqual(resolved._tag, "Resolved")
            assert.strictEqual(replayed._tag, "AlreadyProcessed")
            assert.strictEqual(written, 0)
          }
        }
      })
    )

    it.scoped(
      "prunes racing replays and deliveries: each event's handler runs once, no replay finds its body gone, pruned entries still de-duplicate",
      () =>
        Effect.gen(function* () {
          const t = yield* twoOperators()
          const deliveries = yield* failedPairs(t, "pr")
          // Settled entries, prunable from the start.
          const settled = yield* Effect.forEach([0, 1, 2], (i) =>
            InboxSuite.received({
              notifyId: `pr-done-${i}`,
              payload: InboxSuite.assign(`pr-done-${i}`, "s-1")
            })
          )
          for (const r of settled) yield* t.on(t.a, (inbox) => inbox.receive(r, t.handler("a")))
          yield* TestClock.adjust("1 hour")
          const prune = (context: typeof t.a) =>
            t.on(context, (inbox) => inbox.prune({ olderThan: "30 minutes" }))
          const racing = deliveries.flatMap(([first, reissue]) => [
            t.on(t.a, (inbox) => inbox.replay(first!.notification.notifyId, t.handler("a"))),
            prune(t.b),
            t.on(t.b, (inbox) => inbox.replay(first!.notification.notifyId, t.handler("b"))),
            prune(t.a),
            t.on(t.b, (inbox) => inbox.replay(reissue!.notification.notifyId, t.handler("b"))),
            t.on(t.a, (inbox) => inbox.receive(first!, t.handler("a")))
          ])
          const outcomes = yield* Effect.all(racing, { concurrency: "unbounded" })
          assert.deepStrictEqual(
            outcomes.filter((o) => "_tag" in o && o._tag === "BodyRemoved"),
            [],
            "prune empties settled entries only"
          )
          const counts = yield* t.payouts
          assert.strictEqual(counts.size, deliveries.length + settled.length)
          for (const [key, n] of counts) assert.strictEqual(n, 1, key)

          // Everything settled and, an hour on, pruned: every notify_id and every event still de-duplicates.
          yield* TestClock.adjust("1 hour")
          yield* prune(t.b)
          for (const r of [...deliveries.flat(), ...settled]) {
            const e = yield* t.on(t.a, (inbox) => inbox.get(r.notification.notifyId))
            assert.strictEqual(e._tag === "Some" ? e.value.status : "missing", "processed")
            assert.isDefined(e._tag === "Some" ? e.value.bodyRemovedAt : undefined, r.notification.notifyId)
            const again = yield* t.on(t.b, (inbox) => inbox.receive(r, t.handler("b")))
            assert.notStrictEqual(again._tag, "Processed")
            const reissued = yield* InboxSuite.received({
              notifyId: `${r.notification.notifyId}-late`,
              payload: InboxSuite.assign(r.notification.fields["outer_task_id"]!, "s-1")
            })
            const late = yield* t.on(t.a, (inbox) => inbox.receive(reissued, t.handler("a")))
            assert.strictEqual(late._tag, "Duplicate")
          }
          for (const [key, n] of yield* t.payouts) assert.strictEqual(n, 1, key)
        })
    )

    it.scoped("two sweeps at once report each exhausted entry once in all", () =>
      Effect.gen(function* () {
        const seen: Array<string> = []
        const t = yield* twoOperators({ onExhausted: (e) => Effect.sync(() => void seen.push(e.notifyId)) })
        const ids = Array.from({ length: 8 }, (_, i) => `sw-${i}`)
        for (const id of ids) {
          const r = yield* InboxSuite.received({ notifyId: id, payload: InboxSuite.assign(id, "s-1") })
          yield* Effect.flip(t.on(t.a, (inbox) => inbox.receive(r, failing)))
        }
        yield* TestClock.adjust("26 hours")
        const [fromA, fromB] = yield* Effect.all(
          [t.on(t.a, (inbox) => inbox.sweep), t.on(t.b, (inbox) => inbox.sweep)],
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual([...fromA, ...fromB].map((e) => e.notifyId).sort(), [...ids].sort())
        assert.deepStrictEqual([...seen].sort(), [...ids].sort())
      })
    )
  })
}
