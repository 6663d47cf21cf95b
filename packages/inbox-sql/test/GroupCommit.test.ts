// Group commit on SQLite: deliveries queued behind a running transaction share the next one. What it must
// keep: a failing delivery rolls back alone, nothing is answered before its commit, a failed commit fails
// (and records) every delivery of the batch and leaves the connection usable, an interruption still records
// the delivery, and closing the inbox never leaves a caller waiting.
//
// The tests order fibers by asking them (`waiting`), and run on the TestClock: a batch stops handing out turns
// after 50 ms on the Clock, so on the live clock a slow machine would split the batches these tests build.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import Sqlite from "better-sqlite3"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option, Ref, Schema, Scope, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqliteInbox from "../src/SqliteInbox.js"

class Refused extends Schema.TaggedError<Refused>()("Refused", { message: Schema.String }) {}

const tempFile = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-group-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => path.join(dir, "inbox.db")))

/** The inbox on a fresh file, a second connection to that file (another reader), and a delivery maker. */
const setup = Effect.gen(function* () {
  const filename = yield* tempFile
  const context = yield* Layer.build(SqliteInbox.layer({ filename }))
  const inbox = Context.get(context, Inbox.Inbox)
  const sql = Context.get(context, SqlClient.SqlClient)
  const other = new Sqlite(filename, { readonly: true })
  yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
  const committedState = (notifyId: string) =>
    (
      other.prepare("SELECT state FROM witkey_inbox WHERE notify_id = ?").get(notifyId) as
        { state: string } | undefined
    )?.state
  const committedRows = (query: string) => other.prepare(query).all()
  const delivery = (id: string) =>
    InboxSuite.received({ notifyId: `${id}-n`, payload: InboxSuite.assign(id, "s-1") })
  const entry = (r: Inbox.Received) =>
    Effect.map(inbox.get(r.notification.notifyId), (e) => Option.getOrThrow(e))
  /** A delivery whose handler holds the transaction until `release`: what queues behind it, batches. */
  const holding = (r: Inbox.Received) =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(
        inbox.receive(r, () => Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)))
      )
      yield* Deferred.await(started)
      return { fiber, release: Deferred.succeed(release, undefined) }
    })
  return { inbox, sql, context, committedState, committedRows, delivery, entry, holding }
})

/**
 * A deferred foreign key (`child` → `parent`): inserting an orphan child succeeds, and the violation is only
 * found at COMMIT, which then fails and, in SQLite, leaves the transaction open.
 */
const deferredForeignKey = (sql: SqlClient.SqlClient) =>
  Effect.all([
    sql.unsafe("PRAGMA foreign_keys = ON"),
    sql.unsafe("CREATE TABLE parent (id TEXT PRIMARY KEY)"),
    sql.unsafe("CREATE TABLE child (parent_id TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)")
  ])

/**
 * Waits until each fiber has run up to the point where it waits: a forked receive is then queued for its turn
 * (nothing before that point waits: a delivery that `notify_verify` did not confirm goes straight to the
 * queue), a forked interruption or close has sent its signal. Asked of the fibers, never guessed with a sleep.
 */
const waiting = (...fibers: ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>) =>
  Effect.forEach(fibers, (fiber) => Effect.repeat(fiber.status, { until: (s) => s._tag !== "Running" }), {
    discard: true
  })

describe("SqlInbox on SQLite: group commit", () => {
  it.effect("deliveries queued behind a transaction share the next one; a failing one rolls back alone", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const t = yield* setup
        const [a, b, c] = yield* Effect.all([t.delivery("gc-a"), t.delivery("gc-b"), t.delivery("gc-c")])
        const first = yield* t.holding(a)
        const seenByOthers = yield* Ref.make<Array<string | undefined>>([])
        const fb = yield* Effect.fork(
          t.inbox.receive(b, () => Effect.fail(new Refused({ message: "no funds" })))
        )
        const fc = yield* Effect.fork(
          t.inbox.receive(c, () =>
            // B ran before C in the same transaction: its failure record exists, but is not committed yet.
            Ref.set(seenByOthers, [
              t.committedState(b.notification.notifyId),
              t.committedState(c.notification.notifyId)
            ])
          )
        )
        yield* waiting(fb, fc)
        assert.isNull(fb.unsafePoll(), "nothing is answered while the transaction ahead runs")
        assert.strictEqual(t.committedState(a.notification.notifyId), undefined, "A is not committed yet")
        yield* first.release
        assert.deepStrictEqual(yield* Fiber.join(first.fiber), { _tag: "Processed" })
        const bExit = yield* Fiber.await(fb)
        assert.isTrue(Exit.isFailure(bExit))
        assert.deepStrictEqual(yield* Fiber.join(fc), { _tag: "Processed" })
        assert.deepStrictEqual(
          yield* Ref.get(seenByOthers),
          [undefined, undefined],
          "C's handler ran inside the transaction B's failure was recorded in"
        )
        // Once answered, committed: another connection sees every outcome.
        assert.strictEqual(t.committedState(a.notification.notifyId), "processed")
        assert.strictEqual(t.committedState(b.notification.notifyId), "failed")
        assert.strictEqual(t.committedState(c.notification.notifyId), "processed")
        const failed = yield* t.entry(b)
        assert.strictEqual(failed.deliveries, 1)
        assert.include(failed.lastError ?? "", "no funds")
        assert.deepStrictEqual(yield* t.inbox.receive(b, () => Effect.void), { _tag: "Processed" })
      })
    )
  )

  it.effect(
    "a failed COMMIT fails every delivery of its batch, records each, and the inbox keeps working",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const t = yield* setup
          yield* deferredForeignKey(t.sql)
          const [a, b, c] = yield* Effect.all([t.delivery("fk-a"), t.delivery("fk-b"), t.delivery("fk-c")])
          const runs = yield* Ref.make<Array<string>>([])
          const handler = (n: Notification.Notification) => Ref.update(runs, (r) => [...r, n.notifyId])
          const first = yield* t.holding(a)
          const fb = yield* Effect.fork(
            t.inbox.receive(b, (n) => Effect.zipRight(handler(n), t.sql`INSERT INTO child VALUES ('nobody')`))
          )
          const fc = yield* Effect.fork(t.inbox.receive(c, handler))
          yield* waiting(fb, fc)
          yield* first.release
          yield* Fiber.join(first.fiber)
          for (const fiber of [fb, fc]) {
            const error = yield* Effect.flip(Fiber.join(fiber))
            assert.instanceOf(error, Inbox.InboxError)
            assert.strictEqual((error as Inbox.InboxError).reason, "storage")
            assert.include((error as Inbox.InboxError).message, "FOREIGN KEY")
          }
          assert.deepStrictEqual(
            (yield* Ref.get(runs)).sort(),
            [b.notification.notifyId, c.notification.notifyId].sort()
          )
          for (const r of [b, c]) {
            const e = yield* t.entry(r)
            assert.strictEqual(e.state, "failed", "recorded after the rollback")
            assert.strictEqual(e.deliveries, 1)
          }
          // The connection is out of the failed transaction: the next deliveries commit.
          assert.deepStrictEqual(yield* t.inbox.receive(c, handler), { _tag: "Processed" })
          assert.strictEqual(t.committedState(c.notification.notifyId), "processed")
          assert.strictEqual((yield* t.entry(c)).deliveries, 2)
        })
      )
  )

  it.effect(
    "a delivery interrupted while it waits for its turn is recorded, and its handler never runs",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const t = yield* setup
          const [a, b] = yield* Effect.all([t.delivery("int-a"), t.delivery("int-b")])
          const ran = yield* Ref.make(false)
          const first = yield* t.holding(a)
          const fb = yield* Effect.fork(t.inbox.receive(b, () => Ref.set(ran, true)))
          yield* waiting(fb)
          const interrupting = yield* Effect.fork(Fiber.interrupt(fb))
          yield* waiting(interrupting)
          yield* first.release
          const exit = yield* Fiber.join(interrupting)
          assert.isTrue(Exit.isInterrupted(exit))
          assert.isFalse(yield* Ref.get(ran))
          const e = yield* t.entry(b)
          assert.strictEqual(e.deliveries, 1)
          assert.notStrictEqual(e.state, "processed")
          assert.deepStrictEqual(yield* t.inbox.receive(b, () => Ref.set(ran, true)), { _tag: "Processed" })
          assert.isTrue(yield* Ref.get(ran))
        })
      )
  )

  it.effect("closing the inbox finishes the running transaction and fails what is still queued", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const t = yield* Scope.extend(setup, scope)
      const [a, b] = yield* Effect.all([t.delivery("close-a"), t.delivery("close-b")])
      const first = yield* t.holding(a)
      const fb = yield* Effect.fork(t.inbox.receive(b, () => Effect.void))
      yield* waiting(fb)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* waiting(closing)
      yield* first.release
      assert.deepStrictEqual(yield* Fiber.join(first.fiber), { _tag: "Processed" })
      const error = yield* Effect.flip(Fiber.join(fb))
      assert.instanceOf(error, Inbox.InboxError)
      yield* Fiber.join(closing)
    })
  )

  // Found in review: SQLite rolls a whole transaction back by itself on some errors, and the next SAVEPOINT
  // silently began a new one, so that deliveries earlier in the batch were answered Processed with nothing
  // committed.
  it.effect(
    "a statement that rolls back the whole transaction fails every delivery of the batch; none is answered as processed",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const t = yield* setup
          yield* t.sql.unsafe("CREATE TABLE uniq (id INTEGER PRIMARY KEY)")
          yield* t.sql.unsafe("INSERT INTO uniq VALUES (1)")
          yield* t.sql.unsafe("CREATE TABLE payouts (id TEXT)")
          const [a, x, b, c] = yield* Effect.all([
            t.delivery("ar-a"),
            t.delivery("ar-x"),
            t.delivery("ar-b"),
            t.delivery("ar-c")
          ])
          const first = yield* t.holding(a)
          const fx = yield* Effect.fork(t.inbox.receive(x, () => t.sql`INSERT INTO payouts VALUES ('x')`))
          const fb = yield* Effect.fork(
            t.inbox.receive(b, () => t.sql`INSERT OR ROLLBACK INTO uniq VALUES (1)`)
          )
          const cRuns = yield* Ref.make(0)
          const payC = Effect.zipRight(
            Ref.update(cRuns, (n) => n + 1),
            t.sql`INSERT INTO payouts VALUES ('c')`
          )
          const fc = yield* Effect.fork(t.inbox.receive(c, () => payC))
          yield* waiting(fx, fb, fc)
          yield* first.release
          yield* Fiber.join(first.fiber)
          for (const [fiber, r] of [
            [fx, x],
            [fb, b],
            [fc, c]
          ] as const) {
            const exit = yield* Fiber.await(fiber)
            // Success means committed: whatever was answered Processed must be on disk.
            if (Exit.isSuccess(exit))
              assert.strictEqual(t.committedState(r.notification.notifyId), "processed")
            else assert.notStrictEqual(t.committedState(r.notification.notifyId), "processed")
          }
          assert.isTrue(Exit.isFailure(yield* Fiber.await(fx)), "x shared the rolled-back transaction")
          assert.deepStrictEqual(
            t.committedRows("SELECT id FROM payouts"),
            [],
            "no payout without its record"
          )
          // Once the transaction is known lost, no more turns in it: C's handler did not run for nothing.
          assert.strictEqual(yield* Ref.get(cRuns), 0)
          // Every one is on record (failed), and goes through on its next delivery.
          for (const r of [x, c]) {
            assert.strictEqual((yield* t.entry(r)).state, "failed")
            assert.deepStrictEqual(yield* t.inbox.receive(r, () => (r === c ? payC : Effect.void)), {
              _tag: "Processed"
            })
          }
          assert.strictEqual(yield* Ref.get(cRuns), 1)
          assert.deepStrictEqual(t.committedRows("SELECT id FROM payouts"), [{ id: "c" }])
        })
      )
  )

  it.effect("a pre-record (notify_verify confirmed) never shares the fate of a handler's failed commit", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const t = yield* setup
        yield* deferredForeignKey(t.sql)
        const [a, b] = yield* Effect.all([t.delivery("pr-a"), t.delivery("pr-b")])
        const c = { ...(yield* t.delivery("pr-c")), gatewayConfirmed: true }
        const first = yield* t.holding(a)
        const fb = yield* Effect.fork(t.inbox.receive(b, () => t.sql`INSERT INTO child VALUES ('nobody')`))
        const fc = yield* Effect.fork(t.inbox.receive(c, () => Effect.void))
        yield* waiting(fb, fc)
        yield* first.release
        yield* Fiber.join(first.fiber)
        assert.isTrue(Exit.isFailure(yield* Fiber.await(fb)))
        assert.deepStrictEqual(yield* Fiber.join(fc), { _tag: "Processed" })
        assert.strictEqual((yield* t.entry(c)).deliveries, 1)
      })
    )
  )

  it.effect("a slow handler does not hold back the answers of the deliveries queued with it", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const t = yield* setup
        const [a, slow, b] = yield* Effect.all([
          t.delivery("slow-a"),
          t.delivery("slow-s"),
          t.delivery("slow-b")
        ])
        const bRan = yield* Ref.make(false)
        const first = yield* t.holding(a)
        // Slow on the Clock the batch is timed with: far longer than a batch hands out turns (50 ms).
        const slowly = TestClock.adjust("1 second")
        const fs = yield* Effect.fork(t.inbox.receive(slow, () => slowly))
        const fb = yield* Effect.fork(t.inbox.receive(b, () => Ref.set(bRan, true)))
        yield* waiting(fs, fb)
        yield* first.release
        yield* Fiber.join(first.fiber)
        assert.deepStrictEqual(yield* Fiber.join(fs), { _tag: "Processed" })
        // The slow one's transaction stopped handing out turns once it had run its time: B was not in it.
        assert.isFalse(yield* Ref.get(bRan), "B waited for the slow handler's batch")
        assert.deepStrictEqual(yield* Fiber.join(fb), { _tag: "Processed" })
      })
    )
  )

  // Found in review: a caller that offered as the worker was being stopped, or after the scope closed before
  // the worker ever ran, waited forever.
  it.live("closing never leaves a caller waiting: racing the close, or after it", () =>
    Effect.gen(function* () {
      for (let round = 0; round < 20; round++) {
        const scope = yield* Scope.make()
        const t = yield* Scope.extend(setup, scope)
        const r = yield* t.delivery(`race-${round}`)
        if (round % 2 === 0) yield* Effect.sleep("5 millis")
        const closer = yield* Effect.fork(Scope.close(scope, Exit.void))
        const caller = yield* Effect.forkDaemon(t.inbox.receive(r, () => Effect.void))
        yield* Fiber.join(closer)
        const answered = yield* Fiber.await(caller).pipe(Effect.timeout("20 seconds"), Effect.option)
        assert.isTrue(Option.isSome(answered), `round ${round}: the caller got no answer`)
        const late = yield* Effect.exit(t.inbox.receive(r, () => Effect.void)).pipe(
          Effect.timeout("20 seconds")
        )
        assert.isTrue(Exit.isFailure(late), "a closed inbox refuses")
      }
    })
  )

  // Found in review: a handler that swallows the error of a statement after which SQLite rolled the whole
  // transaction back (an "already there is fine" insert into a column declared ON CONFLICT ROLLBACK) left the
  // inbox's mark to commit on its own: processed, without the claim or the payout, and never applied.
  it.effect("a handler that swallows a rollback of the whole transaction is not recorded as processed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const t = yield* setup
        yield* t.sql.unsafe("CREATE TABLE ledger (id TEXT PRIMARY KEY ON CONFLICT ROLLBACK)")
        yield* t.sql.unsafe("INSERT INTO ledger VALUES ('seen')")
        yield* t.sql.unsafe("CREATE TABLE payouts (id TEXT)")
        const pay = (r: Inbox.Received) => t.sql`INSERT INTO payouts VALUES (${r.notification.notifyId})`
        for (const confirmed of [true, false]) {
          const r = { ...(yield* t.delivery(`swallow-${confirmed}`)), gatewayConfirmed: confirmed }
          const exit = yield* Effect.exit(
            t.inbox.receive(r, () =>
              Effect.zipRight(pay(r), Effect.ignore(t.sql`INSERT INTO ledger VALUES ('seen')`))
            )
          )
          assert.isTrue(Exit.isFailure(exit), "answered fail")
          assert.notStrictEqual(t.committedState(r.notification.notifyId), "processed")
          assert.deepStrictEqual(yield* t.inbox.receive(r, () => pay(r)), { _tag: "Processed" })
          assert.deepStrictEqual(
            t.committedRows(`SELECT id FROM payouts WHERE id = '${r.notification.notifyId}'`),
            [{ id: r.notification.notifyId }],
            "the payout is applied once, on the next delivery"
          )
        }
      })
    )
  )

  it.effect("a handler's own nested transactions work inside a shared one", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const t = yield* setup
        yield* t.sql.unsafe("CREATE TABLE payouts (id TEXT)")
        const [a, b, c] = yield* Effect.all([
          t.delivery("nest-a"),
          t.delivery("nest-b"),
          t.delivery("nest-c")
        ])
        const first = yield* t.holding(a)
        // B: an inner transaction that fails and is caught, then one that succeeds; the delivery succeeds.
        const fb = yield* Effect.fork(
          t.inbox.receive(b, () =>
            Effect.zipRight(
              Effect.ignore(
                t.sql.withTransaction(
                  Effect.zipRight(t.sql`INSERT INTO payouts VALUES ('b-undone')`, Effect.fail("no"))
                )
              ),
              t.sql.withTransaction(t.sql`INSERT INTO payouts VALUES ('b')`)
            )
          )
        )
        // C: an inner transaction that succeeds, then the handler fails: all of C is rolled back.
        const fc = yield* Effect.fork(
          t.inbox.receive(c, () =>
            Effect.zipRight(
              t.sql.withTransaction(t.sql`INSERT INTO payouts VALUES ('c')`),
              Effect.fail("refused")
            )
          )
        )
        yield* waiting(fb, fc)
        yield* first.release
        yield* Fiber.join(first.fiber)
        assert.deepStrictEqual(yield* Fiber.join(fb), { _tag: "Processed" })
        assert.isTrue(Exit.isFailure(yield* Fiber.await(fc)))
        assert.deepStrictEqual(t.committedRows("SELECT id FROM payouts"), [{ id: "b" }])
        assert.strictEqual(t.committedState(c.notification.notifyId), "failed")
      })
    )
  )
})
