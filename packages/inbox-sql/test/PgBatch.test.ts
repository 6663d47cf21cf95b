// PostgreSQL's group commit (`internal/pgBatch.ts`): deliveries that wait share one transaction and its
// multi-row statements. Each test forces its deliveries into one batch: the fast lane is held by a lone
// delivery whose handler waits on a latch while the TestClock stands still, the deliveries under test queue
// meanwhile, and the lane is then freed, so the next batch takes every one of them. Each handler reads the
// transaction's id: one id for the whole batch is what the old per-delivery transactions could not give.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import {
  Cause,
  Context,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Ref,
  Scope,
  TestClock,
  TestServices
} from "effect"
import * as PgBatch from "../src/internal/pgBatch.js"
import * as Migrations from "../src/Migrations.js"
import * as PgInbox from "../src/PgInbox.js"
import * as PgTest from "./PgTest.js"

const unavailable = await PgTest.unavailable

type Handler = (r: Inbox.Received) => Effect.Effect<void, unknown, SqlClient.SqlClient>

interface Harness {
  readonly sql: SqlClient.SqlClient
  readonly inbox: Inbox.Inbox & Inbox.Operations
  /** The transaction ids the handlers ran in, by notify_id. */
  readonly txids: Map<string, string>
  /** One delivery with its handler, which reads its transaction id first. */
  readonly run: (r: Inbox.Received, handler: Handler) => Effect.Effect<Inbox.Outcome, unknown>
  /** Runs `deliveries` in one batch, each with its handler; their fibers, once all are queued. */
  readonly batch: (
    deliveries: ReadonlyArray<readonly [Inbox.Received, Handler]>
  ) => Effect.Effect<ReadonlyArray<Fiber.RuntimeFiber<Inbox.Outcome, unknown>>, unknown, Scope.Scope>
  readonly pay: (r: Inbox.Received) => Effect.Effect<void, unknown>
  readonly paid: (r: Inbox.Received) => Effect.Effect<number, unknown>
}

let serial = 0
const fresh = (label: string, event = label) =>
  InboxSuite.received({ notifyId: `${label}-${serial++}`, payload: InboxSuite.assign(event, "s-1") })

/** Until every fiber waits (suspended): the deliveries are queued for their turn. */
const allWaiting = (fibers: ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>) =>
  Effect.gen(function* () {
    for (;;) {
      const statuses = yield* Effect.forEach(fibers, (f) => f.status)
      if (statuses.every((s) => s._tag === "Suspended")) return
      yield* Effect.yieldNow()
    }
  })

/** A lone delivery whose handler waits for `release`; its fiber, once it is inside its handler. */
const blocker = (inbox: Inbox.Inbox, label: string, release: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    const r = yield* fresh(label)
    const fiber = yield* Effect.forkDaemon(
      inbox.receive(r, () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)))
    )
    yield* Deferred.await(started)
    return fiber
  })

/**
 * The fast lane held by a lone delivery whose handler waits for `release`, with the Clock kept still (a batch
 * gives the lane back after `LANE_MILLIS`): deliveries offered meanwhile queue for the next batch. The
 * blockers' fibers, once each is inside its handler.
 */
const holdLane = (inbox: Inbox.Inbox, label: string, release: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const blockers: Array<Fiber.RuntimeFiber<Inbox.Outcome, unknown>> = []
    for (let i = 0; i < PgBatch.FAST_BATCHES; i++)
      blockers.push(yield* blocker(inbox, `${label}-blocker-${i}`, release))
    return blockers
  })

/**
 * Every permit held: `MAX_BATCHES` fast batches of one delivery whose handler waits for `release`, each past
 * `LANE_MILLIS` (`pass`: the Clock moved on) before the next starts, so that the next batch waits for permits.
 */
const holdPermits = (
  inbox: Inbox.Inbox,
  label: string,
  release: Deferred.Deferred<void>,
  pass: Effect.Effect<void>
) =>
  Effect.gen(function* () {
    const blockers: Array<Fiber.RuntimeFiber<Inbox.Outcome, unknown>> = []
    for (let i = 0; i < PgBatch.MAX_BATCHES; i++) {
      blockers.push(yield* blocker(inbox, `${label}-blocker-${i}`, release))
      yield* pass
    }
    return blockers
  })

const pastLane = TestClock.adjust(`${PgBatch.LANE_MILLIS} millis`)
const pastLaneBut1 = TestClock.adjust(`${PgBatch.LANE_MILLIS - 1} millis`)

const harness = (
  label: string,
  options: Partial<PgInbox.Options> = {}
): Effect.Effect<Harness, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const url = yield* PgTest.scopedSchema(label)
    const context = yield* Layer.build(
      PgInbox.layer({ url, maxConnections: PgBatch.MAX_BATCHES + 4, ...options })
    )
    const sql = Context.get(context, SqlClient.SqlClient)
    const inbox = Context.get(context, Inbox.Inbox) as Inbox.Inbox & Inbox.Operations
    yield* sql`CREATE TABLE payouts (id TEXT NOT NULL)`
    const txids = new Map<string, string>()
    const run = (r: Inbox.Received, handler: Handler) =>
      inbox
        .receive(r, () =>
          Effect.zipRight(
            Effect.flatMap(sql<{ txid: string }>`SELECT txid_current()::text AS txid`, (rows) =>
              Effect.sync(() => void txids.set(r.notification.notifyId, rows[0]!.txid))
            ),
            handler(r)
          ).pipe(Effect.provideService(SqlClient.SqlClient, sql))
        )
        .pipe(Effect.provide(context))
    const batch: Harness["batch"] = (deliveries) =>
      Effect.gen(function* () {
        const release = yield* Deferred.make<void>()
        const blockers = yield* holdLane(inbox, label, release)
        const fibers: Array<Fiber.RuntimeFiber<Inbox.Outcome, unknown>> = []
        for (const [r, handler] of deliveries) fibers.push(yield* Effect.fork(run(r, handler)))
        yield* allWaiting(fibers)
        yield* Deferred.succeed(release, undefined)
        for (const blocker of blockers)
          assert.deepStrictEqual(yield* Fiber.join(blocker), { _tag: "Processed" })
        return fibers
      })
    const pay = (r: Inbox.Received) =>
      Effect.asVoid(sql`INSERT INTO payouts VALUES (${r.notification.notifyId})`)
    const paid = (r: Inbox.Received) =>
      Effect.map(
        sql<{ n: string }>`SELECT count(*)::text AS n FROM payouts WHERE id = ${r.notification.notifyId}`,
        (rows) => Number(rows[0]!.n)
      )
    return { sql, inbox, txids, run, batch, pay, paid }
  })

/** Each of `rs` received with `pay` as its handler, in a fiber of its own; the fibers, once all are waiting. */
const queuedPaying = (h: Harness, rs: ReadonlyArray<Inbox.Received>) =>
  Effect.gen(function* () {
    const fibers: Array<Fiber.RuntimeFiber<Inbox.Outcome, unknown>> = []
    for (const r of rs) fibers.push(yield* Effect.fork(h.run(r, h.pay)))
    yield* allWaiting(fibers)
    return fibers
  })

/**
 * None of `rs` has run its handler, after 100 ms of real time for a batch that should not have started to show
 * its writes (it can only pass wrongly, on a machine too slow to show them in time).
 */
const assertNotRun = (h: Harness, rs: ReadonlyArray<Inbox.Received>, message: string) =>
  Effect.gen(function* () {
    yield* TestServices.provideLive(Effect.sleep("100 millis"))
    for (const r of rs) {
      assert.strictEqual(yield* h.paid(r), 0, message)
      assert.isUndefined(h.txids.get(r.notification.notifyId), `${message}: no handler ran`)
    }
  })

const attemptsOf = (h: Harness, r: Inbox.Received) =>
  Effect.map(h.inbox.attempts(r.notification.notifyId), (as) => as.map((a) => a.outcome))

if (unavailable !== undefined) {
  console.warn(PgTest.skipMessage(unavailable))
} else {
  describe("PgInbox group commit", () => {
    it.scoped("one failing handler in a batch: its writes and claim go, the others commit", () =>
      Effect.gen(function* () {
        const h = yield* harness("batchfail")
        const [a, b, c, d] = yield* Effect.all([
          fresh("batchfail-a"),
          fresh("batchfail-b"),
          fresh("batchfail-c"),
          fresh("batchfail-d")
        ])
        const fibers = yield* h.batch([
          [a, h.pay],
          // Writes, then fails: its write is rolled back with its savepoint.
          [b, (r) => Effect.zipRight(h.pay(r), Effect.fail("no payee"))],
          // Writes, then swallows a failed statement: PostgreSQL aborted its savepoint, it fails alone.
          [c, (r) => Effect.zipRight(h.pay(r), Effect.ignore(h.sql`SELECT 1 / 0`))],
          // Sends no SQL of its own but the transaction id.
          [d, () => Effect.void]
        ])
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        const ids = [a, b, c, d].map((r) => h.txids.get(r.notification.notifyId))
        assert.isDefined(ids[0])
        assert.deepStrictEqual(new Set(ids).size, 1, "one transaction for the batch")
        assert.deepStrictEqual(exits[0], Exit.succeed({ _tag: "Processed" }))
        assert.isTrue(Exit.isFailure(exits[1]!))
        assert.isTrue(Exit.isFailure(exits[2]!))
        assert.deepStrictEqual(exits[3], Exit.succeed({ _tag: "Processed" }))
        assert.deepStrictEqual([yield* h.paid(a), yield* h.paid(b), yield* h.paid(c)], [1, 0, 0])
        const entryB = Option.getOrThrow(yield* h.inbox.get(b.notification.notifyId))
        assert.strictEqual(entryB.state, "failed")
        assert.strictEqual(entryB.failures, 1)
        assert.strictEqual(entryB.deliveries, 1)
        assert.include(entryB.lastError ?? "", "no payee")
        assert.deepStrictEqual(yield* attemptsOf(h, a), ["processed"])
        assert.deepStrictEqual(yield* attemptsOf(h, b), ["failed"])
        assert.strictEqual(Option.getOrThrow(yield* h.inbox.get(c.notification.notifyId)).state, "failed")
        // The claims were released: a re-issue of b's event, and the next delivery of c, process them.
        const reissue = yield* fresh("batchfail-b2", b.notification.payload.outerTaskId)
        assert.deepStrictEqual(yield* h.inbox.receive(reissue, () => h.pay(reissue)), { _tag: "Processed" })
        assert.deepStrictEqual(yield* h.inbox.receive(c, () => h.pay(c)), { _tag: "Processed" })
        assert.deepStrictEqual(yield* h.inbox.receive(b, () => h.pay(b)), {
          _tag: "Duplicate",
          by: "business_key",
          processedNotifyId: reissue.notification.notifyId
        })
        assert.deepStrictEqual([yield* h.paid(b), yield* h.paid(c), yield* h.paid(reissue)], [0, 1, 1])
      })
    )

    it.scoped(
      "one notify_id twice and a re-issue of its event in one queue: the handler runs once, nothing fails",
      () =>
        Effect.gen(function* () {
          const h = yield* harness("batchdup")
          const [a, unconfirmed] = yield* Effect.all([fresh("batchdup-a"), fresh("batchdup-other")])
          // Recorded on its own first (`notify_verify` confirmed it): the batch does not count it again.
          const other: Inbox.Received = { ...unconfirmed, gatewayConfirmed: true }
          const reissue = yield* fresh("batchdup-a2", a.notification.payload.outerTaskId)
          const fibers = yield* h.batch([
            [a, h.pay],
            [a, h.pay],
            [reissue, h.pay],
            [other, h.pay]
          ])
          // Whichever of them comes first (a notify_id or event already in a batch waits for the next one, which
          // may run beside it): the event's handler runs once, the others are duplicates, nothing fails.
          const outcomes = yield* Effect.forEach(fibers, Fiber.join)
          assert.deepStrictEqual(outcomes[3], { _tag: "Processed" })
          const tags = outcomes.slice(0, 3).map((o) => o._tag)
          assert.deepStrictEqual(tags.filter((t) => t === "Processed").length, 1)
          assert.deepStrictEqual(tags.filter((t) => t === "Duplicate").length, 2)
          assert.strictEqual((yield* h.paid(a)) + (yield* h.paid(reissue)), 1)
          assert.strictEqual(yield* h.paid(other), 1)
          assert.strictEqual(Option.getOrThrow(yield* h.inbox.get(a.notification.notifyId)).deliveries, 2)
          assert.strictEqual(Option.getOrThrow(yield* h.inbox.get(other.notification.notifyId)).deliveries, 1)
          assert.strictEqual((yield* attemptsOf(h, a)).length, 2)
        })
    )

    it.scoped("a batch whose commit fails: every delivery fails, is recorded, and is processed later", () =>
      Effect.gen(function* () {
        const h = yield* harness("batchcommit")
        // A deferred unique constraint fails at COMMIT, not at the handler's statement.
        yield* h.sql`CREATE TABLE once (v INTEGER UNIQUE DEFERRABLE INITIALLY DEFERRED)`
        const [a, b] = yield* Effect.all([fresh("batchcommit-a"), fresh("batchcommit-b")])
        const both: Handler = (r) => Effect.zipRight(h.pay(r), h.sql`INSERT INTO once VALUES (1)`)
        const fibers = yield* h.batch([
          [a, both],
          [b, both]
        ])
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        for (const [i, r] of [a, b].entries()) {
          const exit = exits[i]!
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual(yield* h.paid(r), 0)
          const entry = Option.getOrThrow(yield* h.inbox.get(r.notification.notifyId))
          assert.strictEqual(entry.state, "failed")
          assert.strictEqual(entry.deliveries, 1)
          assert.deepStrictEqual(yield* attemptsOf(h, r), ["failed"])
        }
        assert.deepStrictEqual(yield* h.inbox.receive(a, () => h.pay(a)), { _tag: "Processed" })
        assert.deepStrictEqual(yield* h.inbox.receive(b, () => h.pay(b)), { _tag: "Processed" })
        assert.deepStrictEqual([yield* h.paid(a), yield* h.paid(b)], [1, 1])
      })
    )

    it.scoped("a handler may not end or begin the shared transaction: that handler fails alone", () =>
      Effect.gen(function* () {
        const h = yield* harness("batchend")
        const [a, b, c] = yield* Effect.all([fresh("batchend-a"), fresh("batchend-b"), fresh("batchend-c")])
        // A COMMIT here would have committed every claim of the batch before its mark; a ROLLBACK + BEGIN
        // would have left the others' claims gone. Both are refused; the handler fails, its writes go.
        const fibers = yield* h.batch([
          [a, (r) => Effect.zipRight(h.pay(r), h.sql.unsafe("COMMIT"))],
          [
            b,
            (r) => Effect.zipRight(h.sql.unsafe("ROLLBACK"), Effect.zipRight(h.sql.unsafe("BEGIN"), h.pay(r)))
          ],
          [c, h.pay]
        ])
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        assert.strictEqual(new Set([a, b, c].map((r) => h.txids.get(r.notification.notifyId))).size, 1)
        for (const [i, r] of [a, b].entries()) {
          assert.isTrue(Exit.isFailure(exits[i]!))
          assert.include(
            Cause.pretty((exits[i] as Exit.Failure<unknown, unknown>).cause),
            "may not end or begin"
          )
          assert.strictEqual(yield* h.paid(r), 0)
          const entry = Option.getOrThrow(yield* h.inbox.get(r.notification.notifyId))
          assert.strictEqual(entry.state, "failed")
        }
        assert.deepStrictEqual(exits[2], Exit.succeed({ _tag: "Processed" }))
        assert.strictEqual(yield* h.paid(c), 1)
        // The failed ones are unclaimed: their next delivery runs them, once.
        for (const r of [a, b]) {
          assert.deepStrictEqual(yield* h.inbox.receive(r, () => h.pay(r)), { _tag: "Processed" })
          assert.strictEqual(yield* h.paid(r), 1)
        }
      })
    )

    it.scoped("a handler that throws before it returns an Effect fails alone; its batch still answers", () =>
      Effect.gen(function* () {
        const h = yield* harness("batchthrow")
        const [a, b, c] = yield* Effect.all([
          fresh("batchthrow-a"),
          fresh("batchthrow-b"),
          fresh("batchthrow-c")
        ])
        const fibers = yield* h.batch([
          [a, h.pay],
          [
            b,
            (): Effect.Effect<void> => {
              throw new Error("a handler's bug")
            }
          ],
          [c, h.pay]
        ])
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        assert.deepStrictEqual(exits[0], Exit.succeed({ _tag: "Processed" }))
        assert.strictEqual(yield* h.paid(a), 1)
        assert.isTrue(Exit.isFailure(exits[1]!))
        assert.deepStrictEqual(exits[2], Exit.succeed({ _tag: "Processed" }))
        // a and c (and b, queued between them) shared one transaction.
        assert.strictEqual(h.txids.get(a.notification.notifyId), h.txids.get(c.notification.notifyId))
        assert.deepStrictEqual(yield* h.inbox.receive(b, () => h.pay(b)), { _tag: "Processed" })
      })
    )

    it.scoped(
      "slow handlers: deliveries run alone, side by side up to the pool's size; fast again, they batch again",
      () =>
        Effect.gen(function* () {
          const h = yield* harness("adapt")
          // The handlers take 100 ms (TestClock): the estimate goes above the batch's budget.
          for (let i = 0; i < 3; i++) {
            const r = yield* fresh(`adapt-slow-${i}`)
            assert.deepStrictEqual(yield* h.inbox.receive(r, () => TestClock.adjust("100 millis")), {
              _tag: "Processed"
            })
          }
          // The pool has MAX_BATCHES + 4 connections: as many deliveries are inside their handlers at once.
          const n = PgBatch.MAX_BATCHES + 4
          const inside = yield* Ref.make(0)
          const allInside = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const fibers: Array<Fiber.RuntimeFiber<Inbox.Outcome, unknown>> = []
          for (let i = 0; i < n; i++) {
            const r = yield* fresh(`adapt-side-${i}`)
            fibers.push(
              yield* Effect.fork(
                h.inbox.receive(r, () =>
                  Effect.gen(function* () {
                    if ((yield* Ref.updateAndGet(inside, (k) => k + 1)) === n)
                      yield* Deferred.succeed(allInside, undefined)
                    yield* Deferred.await(release)
                  })
                )
              )
            )
          }
          // Batched, at most MAX_BATCHES handlers would run at once, and this would never complete.
          yield* Deferred.await(allInside)
          yield* Deferred.succeed(release, undefined)
          for (const fiber of fibers) assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Processed" })
          // Fast handlers bring the estimate down, and the waiting deliveries share a transaction again.
          for (let i = 0; i < 24; i++) {
            const r = yield* fresh(`adapt-fast-${i}`)
            yield* h.inbox.receive(r, () => Effect.void)
          }
          const [a, b, c] = yield* Effect.all([fresh("adapt-a"), fresh("adapt-b"), fresh("adapt-c")])
          const batched = yield* h.batch([
            [a, h.pay],
            [b, h.pay],
            [c, h.pay]
          ])
          for (const fiber of batched) assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Processed" })
          const ids = [a, b, c].map((r) => h.txids.get(r.notification.notifyId))
          assert.isDefined(ids[0])
          assert.strictEqual(new Set(ids).size, 1, "one transaction for the batch")
        })
    )

    it.scoped(
      "handlers that turn slow while deliveries wait: the waiting ones are sized when they start, alone",
      () =>
        Effect.gen(function* () {
          const h = yield* harness("stale")
          // Every permit held; the estimate is still "fast".
          const release = yield* Deferred.make<void>()
          const blockers = yield* holdPermits(h.inbox, "stale", release, pastLane)
          const rs = yield* Effect.all([fresh("stale-a"), fresh("stale-b"), fresh("stale-c")])
          const fibers = yield* queuedPaying(h, rs)
          // The blockers' handlers take a second (TestClock): when they end, the estimate is far above the budget
          // of a batch, before the waiting deliveries get their permits.
          yield* TestClock.adjust("1 second")
          yield* Deferred.succeed(release, undefined)
          for (const blocker of blockers)
            assert.deepStrictEqual(yield* Fiber.join(blocker), { _tag: "Processed" })
          for (const fiber of fibers) assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Processed" })
          const ids = rs.map((r) => h.txids.get(r.notification.notifyId))
          assert.strictEqual(new Set(ids).size, 3, "one transaction each")
        })
    )

    it.scopedLive(
      "closing while batches run and deliveries wait: every caller is answered, closing ends",
      () =>
        Effect.gen(function* () {
          const url = yield* PgTest.scopedSchema("closing")
          for (let round = 0; round < 12; round++) {
            const scope = yield* Scope.make()
            const context = yield* Layer.buildWithScope(
              PgInbox.layer({ url, maxConnections: PgBatch.MAX_BATCHES + 4 }),
              scope
            )
            const inbox = Context.get(context, Inbox.Inbox)
            const release = yield* Deferred.make<void>()
            const callers: Array<Fiber.RuntimeFiber<Inbox.Outcome, unknown>> = []
            // Every third round, every permit is held first by lone deliveries waiting for `release`: the
            // dispatcher waits for permits, holding a delivery, when closing begins. In the rounds where
            // round % 3 is 1, a lone delivery holds the fast lane: the dispatcher may be waiting for it then
            // (for `LANE_MILLIS` of real time).
            if (round % 3 === 2)
              callers.push(
                ...(yield* holdPermits(
                  inbox,
                  `closing-${round}`,
                  release,
                  Effect.sleep(`${PgBatch.LANE_MILLIS + 4} millis`)
                ))
              )
            if (round % 3 === 1) callers.push(...(yield* holdLane(inbox, `closing-${round}`, release)))
            for (let i = 0; i < 12; i++) {
              const r = yield* fresh(`closing-${round}-${i}`)
              // Some handlers wait until closing has begun: their batches hold permits while it starts.
              const handler = i % 3 === 0 ? Deferred.await(release) : Effect.void
              callers.push(yield* Effect.forkDaemon(inbox.receive(r, () => handler)))
            }
            // Closing at different points: while a batch is being formed (the deliveries queued, the dispatcher
            // waiting for the event loop's next turn), or later.
            if (round % 2 === 0) yield* Effect.sleep(`${round % 5} millis`)
            else yield* allWaiting(callers)
            const closer = yield* Effect.fork(Scope.close(scope, Exit.void))
            yield* Effect.sleep("1 millis")
            yield* Deferred.succeed(release, undefined)
            // Bounds for a failure message only: the test passes as soon as everything is answered.
            const closed = yield* Fiber.await(closer).pipe(Effect.timeout("30 seconds"), Effect.option)
            assert.isTrue(Option.isSome(closed), `round ${round}: closing never ended`)
            for (const caller of callers) {
              const answered = yield* Fiber.await(caller).pipe(Effect.timeout("30 seconds"), Effect.option)
              assert.isTrue(Option.isSome(answered), `round ${round}: a caller got no answer`)
            }
            const late = yield* Effect.exit(
              inbox.receive(yield* fresh(`closing-late-${round}`), () => Effect.void)
            )
            assert.isTrue(Exit.isFailure(late), "a closed inbox refuses")
          }
        })
    )

    it.scoped(
      "a fast batch holds the next one back until it ends or has run LANE_MILLIS: a hung handler does not stop the inbox",
      () =>
        Effect.gen(function* () {
          const h = yield* harness("lane")
          const release = yield* Deferred.make<void>()
          const hung = yield* blocker(h.inbox, "lane-hung", release)
          // On a failure below, the hung batch must still end, or closing the inbox would wait for it.
          yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
          const rs = yield* Effect.all([fresh("lane-a"), fresh("lane-b"), fresh("lane-c")])
          const fibers = yield* queuedPaying(h, rs)
          // The Clock has not moved: the hung batch still holds the lane, and nothing of the others ran.
          yield* pastLaneBut1
          yield* assertNotRun(h, rs, "waits for the young batch")
          // Past LANE_MILLIS the lane is given back: the waiting deliveries run as one batch beside the hung one.
          yield* TestClock.adjust("1 millis")
          for (const fiber of fibers) {
            const outcome = yield* TestServices.provideLive(Effect.timeout(Fiber.join(fiber), "10 seconds"))
            assert.deepStrictEqual(outcome, { _tag: "Processed" })
          }
          for (const r of rs) assert.strictEqual(yield* h.paid(r), 1)
          const ids = rs.map((r) => h.txids.get(r.notification.notifyId))
          assert.strictEqual(new Set(ids).size, 1, "one batch")
          assert.isNull(hung.unsafePoll(), "the hung handler is still running")
          yield* Deferred.succeed(release, undefined)
          assert.deepStrictEqual(yield* Fiber.join(hung), { _tag: "Processed" })
        })
    )

    it.scoped(
      "the lane is given back once: after a batch passed LANE_MILLIS and then ended, one fast batch at a time again",
      () =>
        Effect.gen(function* () {
          const h = yield* harness("once")
          const first = yield* Deferred.make<void>()
          const second = yield* Deferred.make<void>()
          yield* Effect.addFinalizer(() =>
            Effect.zipRight(Deferred.succeed(first, undefined), Deferred.succeed(second, undefined))
          )
          // Given back twice (by the watch, then as the batch ends), the lane would let two batches run.
          const hung = yield* blocker(h.inbox, "once-hung", first)
          yield* pastLane
          yield* Deferred.succeed(first, undefined)
          assert.deepStrictEqual(yield* Fiber.join(hung), { _tag: "Processed" })
          // Its 16 ms made the estimate slow; fast handlers bring it back under FAST_MILLIS (0.8 per run).
          for (let i = 0; i < 8; i++)
            assert.deepStrictEqual(yield* h.run(yield* fresh(`once-fast-${i}`), h.pay), { _tag: "Processed" })
          const holder = yield* blocker(h.inbox, "once-holder", second)
          const rs = yield* Effect.all([fresh("once-a"), fresh("once-b")])
          const fibers = yield* queuedPaying(h, rs)
          yield* assertNotRun(h, rs, "waits for the batch in the lane")
          yield* Deferred.succeed(second, undefined)
          assert.deepStrictEqual(yield* Fiber.join(holder), { _tag: "Processed" })
          for (const fiber of fibers) assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Processed" })
        })
    )

    it.scoped("a batch runs its handlers by task, then notify_id", () =>
      Effect.gen(function* () {
        const h = yield* harness("order")
        // notify_id order a, b, c, d; task order b, d, c, a.
        const a = yield* fresh("order-a", "order-t4")
        const b = yield* fresh("order-b", "order-t1")
        const c = yield* fresh("order-c", "order-t3")
        const d = yield* fresh("order-d", "order-t2")
        const ran: Array<string> = []
        const note: Handler = (r) => Effect.sync(() => void ran.push(r.notification.notifyId))
        const fibers = yield* h.batch([
          [a, note],
          [b, note],
          [c, note],
          [d, note]
        ])
        for (const fiber of fibers) assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Processed" })
        assert.strictEqual(new Set([a, b, c, d].map((r) => h.txids.get(r.notification.notifyId))).size, 1)
        assert.deepStrictEqual(
          ran,
          [b, d, c, a].map((r) => r.notification.notifyId)
        )
      })
    )

    it.scoped(
      "a deadlock between two batches' handlers: the victim's handler fails alone, is recorded, and is retried",
      () =>
        Effect.gen(function* () {
          const h = yield* harness("deadlock")
          yield* h.sql`CREATE TABLE tasks (id TEXT PRIMARY KEY, n INTEGER NOT NULL)`
          yield* h.sql`INSERT INTO tasks VALUES ('x', 0), ('y', 0)`
          // Handlers of 30 ms (TestClock) make batches of two (BUDGET_MILLIS / 6 ms estimated).
          const warm = yield* fresh("deadlock-warm")
          yield* h.inbox.receive(warm, () => TestClock.adjust("30 millis"))
          const [d1, d2, d3, d4] = yield* Effect.all([
            fresh("deadlock-1", "deadlock-t1"),
            fresh("deadlock-2", "deadlock-t2"),
            fresh("deadlock-3", "deadlock-t3"),
            fresh("deadlock-4", "deadlock-t4")
          ])
          const xLocked = yield* Deferred.make<void>()
          const yLocked = yield* Deferred.make<void>()
          const bump = (id: string) => h.sql`UPDATE tasks SET n = n + 1 WHERE id = ${id}`
          // Batch {d1, d2} locks x then y; batch {d3, d4} locks y then x.
          const handlers: Array<Handler> = [
            () => Effect.zipRight(bump("x"), Deferred.succeed(xLocked, undefined)),
            () => Effect.zipRight(Deferred.await(yLocked), bump("y")),
            () => Effect.zipRight(bump("y"), Deferred.succeed(yLocked, undefined)),
            () => Effect.zipRight(Deferred.await(xLocked), bump("x"))
          ]
          const fibers: Array<Fiber.RuntimeFiber<Inbox.Outcome, unknown>> = []
          for (const [i, r] of [d1, d2, d3, d4].entries())
            fibers.push(yield* Effect.fork(h.run(r, handlers[i]!)))
          const exits = yield* Effect.forEach(fibers, Fiber.await)
          const ids = [d1, d2, d3, d4].map((r) => h.txids.get(r.notification.notifyId))
          assert.strictEqual(ids[0], ids[1])
          assert.strictEqual(ids[2], ids[3])
          assert.notStrictEqual(ids[0], ids[2])
          assert.deepStrictEqual(exits[0], Exit.succeed({ _tag: "Processed" }))
          assert.deepStrictEqual(exits[2], Exit.succeed({ _tag: "Processed" }))
          // PostgreSQL aborts one of the two waiting statements: that handler fails inside its savepoint, the
          // rest of its batch commits, and the other batch goes on.
          const victims = [1, 3].filter((i) => Exit.isFailure(exits[i]!))
          assert.strictEqual(victims.length, 1)
          const victim = [d1, d2, d3, d4][victims[0]!]!
          const entry = Option.getOrThrow(yield* h.inbox.get(victim.notification.notifyId))
          assert.strictEqual(entry.state, "failed")
          assert.strictEqual(entry.failures, 1)
          assert.include(entry.lastError ?? "", "deadlock")
          assert.deepStrictEqual(yield* attemptsOf(h, victim), ["failed"])
          const rows = yield* h.sql<{ n: number }>`SELECT n FROM tasks ORDER BY id`
          assert.deepStrictEqual(
            rows.map((r) => r.n),
            [victims[0] === 3 ? 1 : 2, victims[0] === 1 ? 1 : 2]
          )
          // Alipay's next delivery runs it again.
          assert.deepStrictEqual(yield* h.inbox.receive(victim, () => Effect.void), { _tag: "Processed" })
        })
    )

    it.scoped("groupCommit: false: one transaction per delivery, side by side", () =>
      Effect.gen(function* () {
        const h = yield* harness("nogroup", { groupCommit: false })
        const n = PgBatch.MAX_BATCHES + 4
        const inside = yield* Ref.make(0)
        const allInside = yield* Deferred.make<void>()
        const rs = yield* Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) => fresh(`nogroup-${i}`)
        )
        const fibers = yield* Effect.forEach(rs, (r) =>
          Effect.fork(
            h.run(r, () =>
              Effect.gen(function* () {
                if ((yield* Ref.updateAndGet(inside, (k) => k + 1)) === n)
                  yield* Deferred.succeed(allInside, undefined)
                yield* Deferred.await(allInside)
              })
            )
          )
        )
        for (const fiber of fibers) assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Processed" })
        assert.strictEqual(new Set(rs.map((r) => h.txids.get(r.notification.notifyId))).size, n)
      })
    )

    it.scoped(
      "a claim removed inside the batch: its mark fails the whole batch, nothing commits, all run again",
      () =>
        Effect.gen(function* () {
          const h = yield* harness("batchlost")
          const events = Migrations.tables(Migrations.DEFAULT_TABLE_PREFIX).events
          const [a, b] = yield* Effect.all([fresh("batchlost-a"), fresh("batchlost-b")])
          // A handler that drops its own claim (a bug, or a hand on the table): the mark finds no claim for it.
          const unclaim: Handler = (r) =>
            Effect.zipRight(
              h.pay(r),
              h.sql`DELETE FROM ${h.sql(events)} WHERE processed_notify_id = ${r.notification.notifyId}`
            )
          const fibers = yield* h.batch([
            [a, unclaim],
            [b, h.pay]
          ])
          const exits = yield* Effect.forEach(fibers, Fiber.await)
          for (const [i, r] of [a, b].entries()) {
            assert.isTrue(Exit.isFailure(exits[i]!))
            assert.strictEqual(yield* h.paid(r), 0)
          }
          for (const r of [a, b])
            assert.deepStrictEqual(yield* h.inbox.receive(r, () => h.pay(r)), { _tag: "Processed" })
          assert.deepStrictEqual([yield* h.paid(a), yield* h.paid(b)], [1, 1])
        })
    )

    it.scoped("an interrupted handler in a batch: its writes and claim go, the others commit", () =>
      Effect.gen(function* () {
        const h = yield* harness("batchint")
        const [a, b] = yield* Effect.all([fresh("batchint-a"), fresh("batchint-b")])
        const inside = yield* Deferred.make<void>()
        const fibers = yield* h.batch([
          [
            a,
            (r) =>
              Effect.zipRight(h.pay(r), Effect.zipRight(Deferred.succeed(inside, undefined), Effect.never))
          ],
          [b, h.pay]
        ])
        yield* Deferred.await(inside)
        const interrupted = yield* Fiber.interrupt(fibers[0]!)
        assert.isTrue(Exit.isInterrupted(interrupted))
        assert.deepStrictEqual(yield* Fiber.join(fibers[1]!), { _tag: "Processed" })
        assert.deepStrictEqual([yield* h.paid(a), yield* h.paid(b)], [0, 1])
        const entry = Option.getOrThrow(yield* h.inbox.get(a.notification.notifyId))
        assert.strictEqual(entry.state, "pending")
        assert.strictEqual(entry.failures, 0)
        assert.deepStrictEqual(yield* attemptsOf(h, a), ["interrupted"])
        assert.deepStrictEqual(yield* h.inbox.receive(a, () => h.pay(a)), { _tag: "Processed" })
        assert.strictEqual(yield* h.paid(a), 1)
      })
    )
  })
}
