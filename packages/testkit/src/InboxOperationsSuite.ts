/**
 * A conformance suite for an inbox's `Operations` (the operator's loop: see what failed, replay or resolve it,
 * keep the store small) and its `Policy` (hooks, permanent failures, the handler's time limit). Every test
 * builds its own inbox from `make(policy)`, on the `TestClock`:
 *
 * ```ts
 * InboxOperationsSuite.suite("in memory", MemoryInbox.layerWith)
 * ```
 *
 * @since 0.2.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import type { Layer } from "effect"
import { Deferred, Effect, Exit, FastCheck, Fiber, Option, Ref, TestClock } from "effect"
import type { Scenario } from "./internal/InboxScenario.js"
import { alreadyProcessed, BusinessFailure, duplicate, scenarios } from "./internal/InboxScenario.js"

const HOUR = 3_600_000

export const suite = (
  name: string,
  make: (policy: Inbox.Policy) => Layer.Layer<Inbox.Inbox | Inbox.Operations, unknown>
): void => {
  describe(`Inbox operations conformance: ${name}`, { timeout: 60_000 }, () => {
    const scenario = scenarios("o")
    /** Runs `body` on a fresh inbox with `policy`, in a scenario of its own. */
    const withScenario = <A, E>(
      policy: Inbox.Policy,
      label: string,
      body: (s: Scenario & { readonly ops: Inbox.Operations }) => Effect.Effect<A, E, Inbox.Inbox>
    ): Effect.Effect<A, unknown> =>
      Effect.gen(function* () {
        const s = yield* scenario(label)
        return yield* body({ ...s, ops: yield* Inbox.Operations })
      }).pipe(Effect.provide(make(policy)), Effect.scoped)
    /** `withScenario` whose `onExhausted` hook records the notify_ids it was told of, in `seen`. */
    const withExhaustedLog = <A, E>(
      label: string,
      body: (
        s: Scenario & { readonly ops: Inbox.Operations },
        seen: ReadonlyArray<string>
      ) => Effect.Effect<A, E, Inbox.Inbox>
    ): Effect.Effect<A, unknown> => {
      const seen: Array<string> = []
      return withScenario({ onExhausted: (e) => Effect.sync(() => void seen.push(e.notifyId)) }, label, (s) =>
        body(s, seen)
      )
    }

    it.effect(
      "a failing entry turns exhausted after Alipay's window; sweep reports it once and runs onExhausted",
      () =>
        withExhaustedLog("exhausted", ({ entry, fail, id, inbox, notice, ops }, seen) =>
          Effect.gen(function* () {
            const r = yield* notice(1)
            const ok = yield* notice(2, "s-2")
            yield* fail(r)
            yield* inbox.receive(ok, () => Effect.void)
            assert.strictEqual((yield* entry(id.notify(1))).status, "failing")
            assert.strictEqual((yield* entry(id.notify(1))).failures, 1)
            assert.deepStrictEqual(yield* ops.sweep, [], "nothing is exhausted while Alipay retries")
            yield* TestClock.adjust(24 * HOUR)
            assert.strictEqual(
              (yield* entry(id.notify(1))).status,
              "failing",
              "24 h: Alipay's last retry is still due"
            )
            yield* TestClock.adjust(2 * HOUR)
            const e = yield* entry(id.notify(1))
            assert.strictEqual(e.status, "exhausted")
            assert.strictEqual((yield* entry(id.notify(2))).status, "processed")
            const byStatus = yield* ops.list({ status: "exhausted", outerTaskId: id.task })
            assert.deepStrictEqual(
              byStatus.map((x) => x.notifyId),
              [id.notify(1)]
            )
            assert.deepStrictEqual(
              (yield* ops.list({ status: "processed", outerTaskId: id.task })).map((x) => x.notifyId),
              [id.notify(2)]
            )
            assert.deepStrictEqual(
              (yield* ops.list({ outerTaskId: id.task })).map((x) => x.notifyId),
              [id.notify(1), id.notify(2)]
            )
            // Newest first, and the limit keeps the newest (arrivals at the same millisecond: by arrival order).
            assert.deepStrictEqual(
              (yield* ops.list({ outerTaskId: id.task, order: "newest" })).map((x) => x.notifyId),
              [id.notify(2), id.notify(1)]
            )
            assert.deepStrictEqual(
              (yield* ops.list({ outerTaskId: id.task, order: "newest", limit: 1 })).map((x) => x.notifyId),
              [id.notify(2)]
            )
            assert.deepStrictEqual(
              yield* ops.list({ outerTaskId: id.task, limit: -1 }),
              [],
              "a negative limit: none"
            )
            assert.deepStrictEqual(
              (yield* ops.list({ outerTaskId: id.task, limit: 1.5 })).map((x) => x.notifyId),
              [id.notify(1)],
              "a fractional limit: rounded down"
            )
            assert.deepStrictEqual(
              (yield* ops.list({ outerTaskId: id.task, limit: Number.MAX_SAFE_INTEGER })).map(
                (x) => x.notifyId
              ),
              [id.notify(1), id.notify(2)],
              "no limit in effect (the console reads a task's every notification so)"
            )
            const swept = yield* ops.sweep
            assert.deepStrictEqual(
              swept.filter((x) => x.outerTaskId === id.task).map((x) => x.notifyId),
              [id.notify(1)]
            )
            assert.deepStrictEqual(
              seen.filter((x) => x === id.notify(1)),
              [id.notify(1)]
            )
            assert.deepStrictEqual(
              (yield* ops.sweep).filter((x) => x.notifyId === id.notify(1)),
              [],
              "reported once"
            )
            assert.strictEqual(seen.filter((x) => x === id.notify(1)).length, 1)
          })
        )
    )

    it.effect(
      "replay runs the handler once on the stored bytes; a second replay does nothing and says so",
      () =>
        withScenario({}, "replay", ({ entry, fail, handler, id, inbox, notice, ops, runs }) =>
          Effect.gen(function* () {
            const r = yield* notice(1, "s-1", "88.00")
            yield* fail(r)
            const seen = yield* Ref.make<Option.Option<Notification.Notification>>(Option.none())
            const outcome = yield* ops.replay(id.notify(1), (n) =>
              Effect.zipRight(Ref.set(seen, Option.some(n)), handler(n))
            )
            assert.deepStrictEqual(outcome, { _tag: "Processed" })
            const n = Option.getOrThrow(yield* Ref.get(seen))
            assert.strictEqual(n.notifyId, id.notify(1))
            assert.strictEqual(n.fields["transfer_amount"], "88.00")
            assert.deepStrictEqual(yield* ops.replay(id.notify(1), handler), alreadyProcessed(id.notify(1)))
            assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
            const e = yield* entry(id.notify(1))
            assert.strictEqual(e.status, "processed")
            assert.strictEqual(e.deliveries, 1, "a replay is not a delivery")
            // Alipay's next retry is a duplicate now.
            assert.deepStrictEqual(yield* inbox.receive(r, handler), duplicate("notify_id", id.notify(1)))
            const attempts = yield* ops.attempts(id.notify(1))
            assert.deepStrictEqual(
              attempts.map((a) => [a.source, a.outcome, a.verification]),
              [
                ["alipay", "failed", "signature"],
                ["replay", "processed", "stored"],
                ["alipay", "duplicate", "signature"]
              ]
            )
            assert.include(attempts[0]!.error ?? "", "ledger down")
            assert.strictEqual(attempts[0]!.notifyVerify, "not_asked")
            assert.deepStrictEqual(yield* ops.replay(`${id.notify(1)}-nobody`, handler), { _tag: "NotFound" })
          })
        )
    )

    it.effect(
      "attempts record notify_verify and, when the notification carries it, the key that verified it",
      () =>
        withScenario({}, "attempts", ({ fail, id, inbox, notice, ops }) =>
          Effect.gen(function* () {
            const r = yield* notice(1)
            // A verifier with a trust list of keys says which one matched (`verifiedBy`).
            const byKey: Inbox.Received = {
              ...r,
              notification: { ...r.notification, verifiedBy: { keyId: "alipay-2026", status: "active" } },
              gatewayConfirmed: true
            }
            yield* fail(byKey)
            yield* inbox.receive(r, () => Effect.void)
            const attempts = yield* ops.attempts(id.notify(1))
            assert.deepStrictEqual(
              attempts.map((a) => [a.source, a.outcome, a.notifyVerify, a.verifiedBy]),
              [
                ["alipay", "failed", "true", "alipay-2026"],
                ["alipay", "processed", "not_asked", r.notification.verifiedBy.keyId]
              ]
            )
            for (const a of attempts) assert.isAtLeast(a.durationMillis, 0)
          })
        )
    )

    it.effect("sweep settles a failed notify_id whose event a re-issue processed: no false alarm", () =>
      withExhaustedLog("reissued", ({ entry, fail, id, inbox, notice, ops }, seen) =>
        Effect.gen(function* () {
          const first = yield* notice(1)
          const reissue = yield* notice(2)
          yield* fail(first)
          assert.deepStrictEqual(yield* inbox.receive(reissue, () => Effect.void), { _tag: "Processed" })
          yield* TestClock.adjust(26 * HOUR)
          assert.deepStrictEqual(
            (yield* ops.sweep).filter((e) => e.outerTaskId === id.task),
            []
          )
          assert.deepStrictEqual(
            seen.filter((x) => x === id.notify(1)),
            []
          )
          const e = yield* entry(id.notify(1))
          assert.strictEqual(e.status, "processed")
          assert.strictEqual(e.duplicateOf, id.notify(2))
        })
      )
    )

    it.effect("concurrent replays and a live delivery of one failed entry run the handler once", () =>
      withScenario({}, "race", ({ fail, handler, id, inbox, notice, ops, runs }) =>
        Effect.gen(function* () {
          const r = yield* notice(1)
          yield* fail(r)
          // The handler yields before it records: the three interleave.
          const outcomes = yield* Effect.all(
            [ops.replay(id.notify(1), handler), ops.replay(id.notify(1), handler), inbox.receive(r, handler)],
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
          assert.strictEqual(outcomes.filter((o) => o._tag === "Processed").length, 1)
        })
      )
    )

    it.effect(
      "resolve settles an entry by hand: later deliveries, re-issues and replays are duplicates",
      () =>
        withScenario({}, "resolve", ({ entry, fail, handler, id, inbox, notice, ops, runs }) =>
          Effect.gen(function* () {
            const r = yield* notice(1)
            const reissue = yield* notice(2)
            yield* fail(r)
            assert.deepStrictEqual(yield* ops.resolve(id.notify(1), "paid by hand, ticket 42"), {
              _tag: "Resolved"
            })
            const e = yield* entry(id.notify(1))
            assert.strictEqual(e.status, "resolved")
            assert.strictEqual(e.resolution, "paid by hand, ticket 42")
            assert.isDefined(e.resolvedAt)
            assert.deepStrictEqual(yield* ops.resolve(id.notify(1), "again"), alreadyProcessed(id.notify(1)))
            assert.deepStrictEqual(yield* ops.replay(id.notify(1), handler), alreadyProcessed(id.notify(1)))
            assert.strictEqual((yield* inbox.receive(r, handler))._tag, "Duplicate")
            assert.deepStrictEqual(
              yield* inbox.receive(reissue, handler),
              duplicate("business_key", id.notify(1))
            )
            assert.deepStrictEqual(yield* Ref.get(runs), [])
            assert.deepStrictEqual(
              (yield* ops.list({ status: "resolved", outerTaskId: id.task })).map((x) => x.notifyId),
              [id.notify(1)]
            )
            assert.deepStrictEqual(yield* ops.resolve("nobody-" + id.notify(1), "x"), { _tag: "NotFound" })
          })
        )
    )

    it.effect(
      "a permanent failure is acknowledged and parked; deliveries leave it parked, a replay runs it",
      () =>
        withScenario({}, "permanent", ({ entry, handler, id, inbox, notice, ops, runs }) =>
          Effect.gen(function* () {
            const r = yield* notice(1)
            const outcome = yield* inbox.receive(r, () =>
              Effect.fail(new Inbox.PermanentFailure({ message: "no such task in our books" }))
            )
            assert.strictEqual(outcome._tag, "Parked")
            assert.include(outcome._tag === "Parked" ? outcome.error : "", "no such task")
            const e = yield* entry(id.notify(1))
            assert.strictEqual(e.status, "failed_permanent")
            assert.isDefined(e.parkedAt)
            assert.strictEqual(
              (yield* inbox.receive(r, handler))._tag,
              "Parked",
              "a delivery does not run it"
            )
            assert.deepStrictEqual(yield* Ref.get(runs), [])
            assert.deepStrictEqual(
              (yield* ops.list({ status: "failed_permanent", outerTaskId: id.task })).map((x) => x.notifyId),
              [id.notify(1)]
            )
            assert.deepStrictEqual(yield* ops.replay(id.notify(1), handler), { _tag: "Processed" })
            assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
            const after = yield* entry(id.notify(1))
            assert.strictEqual(after.status, "processed")
            assert.isUndefined(after.parkedAt)
          })
        )
    )

    it.effect("a classifier decides which failures are permanent", () =>
      withScenario(
        { isPermanent: (e) => e instanceof BusinessFailure },
        "classifier",
        ({ entry, failing, id, inbox, notice }) =>
          Effect.gen(function* () {
            const r = yield* notice(1)
            assert.strictEqual((yield* inbox.receive(r, failing))._tag, "Parked")
            const transient = yield* notice(2, "s-2")
            const error = yield* Effect.flip(
              inbox.receive(transient, () =>
                Effect.fail(new Inbox.PermanentFailure({ message: "not by this policy" }))
              )
            )
            assert.strictEqual((error as { _tag: string })._tag, "PermanentFailure")
            assert.strictEqual((yield* entry(id.notify(2))).status, "failing")
          })
      )
    )

    it.effect("onFailing runs once, after the Nth failed delivery", () => {
      const calls: Array<readonly [string, number]> = []
      return withScenario(
        { onFailing: { after: 2, run: (e) => Effect.sync(() => void calls.push([e.notifyId, e.failures])) } },
        "onfailing",
        ({ fail, id, notice }) =>
          Effect.gen(function* () {
            const r = yield* notice(1)
            yield* fail(r)
            assert.deepStrictEqual(calls, [])
            yield* fail(r)
            assert.deepStrictEqual(calls, [[id.notify(1), 2]])
            yield* fail(r)
            assert.deepStrictEqual(calls, [[id.notify(1), 2]])
          })
      )
    })

    it.effect("a handler past its time limit fails with HandlerTimeout, is recorded, and runs again", () =>
      withScenario(
        { handlerTimeout: "5 seconds" },
        "timeout",
        ({ entry, handler, id, inbox, notice, runs }) =>
          Effect.gen(function* () {
            const r = yield* notice(1)
            const started = yield* Deferred.make<void>()
            const fiber = yield* Effect.fork(
              inbox.receive(r, () => Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
            )
            yield* Deferred.await(started)
            yield* TestClock.adjust("4 seconds")
            assert.isNull(fiber.unsafePoll(), "not before its time")
            yield* TestClock.adjust("1 second")
            const exit = yield* Fiber.await(fiber)
            assert.isTrue(Exit.isFailure(exit))
            const error = yield* Effect.flip(exit)
            assert.instanceOf(error, Inbox.HandlerTimeout)
            const e = yield* entry(id.notify(1))
            assert.strictEqual(e.status, "failing")
            assert.include(e.lastError ?? "", "HandlerTimeout")
            assert.deepStrictEqual(yield* inbox.receive(r, handler), { _tag: "Processed" })
            assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
          })
      )
    )

    // Any interleaving of deliveries, replays and resolves (some failing, some concurrent): each event's handler
    // succeeds at most once, and after a last replay of every event it has succeeded exactly once, unless an
    // operator resolved the event first.
    interface Step {
      readonly kind: "deliver" | "replay" | "resolve"
      readonly event: number
      readonly alias: number
      readonly fails: boolean
      readonly together: boolean
    }
    const Step: FastCheck.Arbitrary<Step> = FastCheck.record({
      kind: FastCheck.constantFrom<"deliver" | "replay" | "resolve">("deliver", "replay", "resolve"),
      event: FastCheck.nat(2),
      alias: FastCheck.nat(1),
      fails: FastCheck.boolean(),
      together: FastCheck.boolean()
    })
    it.effect.prop(
      "any interleaving of deliveries, replays and resolves runs each event once, or leaves it resolved",
      [FastCheck.array(Step, { maxLength: 10 })],
      ([steps]) =>
        withScenario({}, "prop", ({ event, eventOf, failing, handler, id, inbox, ops, runs }) =>
          Effect.gen(function* () {
            const resolved = new Set<number>()
            const act = (step: Step) =>
              Effect.gen(function* () {
                const r = yield* event(step.event, step.alias)
                const notifyId = r.notification.notifyId
                const run = step.fails ? failing : handler
                if (step.kind === "deliver") yield* Effect.either(inbox.receive(r, run))
                else if (step.kind === "replay") yield* Effect.either(ops.replay(notifyId, run))
                else {
                  const outcome = yield* ops.resolve(notifyId, "by hand")
                  if (outcome._tag === "Resolved") resolved.add(step.event)
                }
              })
            // Steps marked `together` run concurrently with the one before them.
            let i = 0
            while (i < steps.length) {
              let j = i + 1
              while (j < steps.length && steps[j]!.together) j++
              yield* Effect.all(steps.slice(i, j).map(act), { concurrency: "unbounded" })
              i = j
            }
            // The operator's last pass: every event delivered once more, then replayed.
            for (let e = 0; e <= 2; e++) {
              yield* Effect.either(inbox.receive(yield* event(e, 0), handler))
              for (const alias of [0, 1]) yield* ops.replay(id.notify(e * 10 + alias), handler)
            }
            const done = (yield* Ref.get(runs)).map(eventOf)
            for (let e = 0; e <= 2; e++) {
              const n = done.filter((d) => d === e).length
              assert.isAtMost(n, 1, `event ${e} ran ${n} times`)
              if (n === 0) assert.isTrue(resolved.has(e), `event ${e} neither ran nor was resolved`)
            }
            for (const entry of yield* ops.list({ outerTaskId: id.task }))
              assert.include(["processed", "resolved"], entry.status)
          })
        ),
      { fastCheck: { numRuns: 12 } }
    )

    it.effect("prune empties old settled bodies and old attempts; de-duplication is unchanged", () =>
      withScenario({}, "prune", ({ entry, fail, handler, id, inbox, notice, ops, runs }) =>
        Effect.gen(function* () {
          const done = yield* notice(1)
          const open = yield* notice(2, "s-2")
          yield* inbox.receive(done, handler)
          yield* fail(open)
          yield* TestClock.adjust(31 * 24 * HOUR)
          const pruned = yield* ops.prune({ olderThan: "30 days" })
          assert.isAtLeast(pruned.bodies, 1)
          assert.isAtLeast(pruned.attempts, 2)
          const e = yield* entry(id.notify(1))
          assert.strictEqual(e.body.length, 0)
          assert.isDefined(e.bodyRemovedAt)
          assert.strictEqual(e.status, "processed")
          assert.deepStrictEqual(yield* ops.attempts(id.notify(1)), [])
          const kept = yield* entry(id.notify(2))
          assert.deepStrictEqual(
            Array.from(kept.body),
            Array.from(open.body),
            "an unsettled body stays for a replay"
          )
          assert.strictEqual((yield* inbox.receive(done, handler))._tag, "Duplicate")
          const reissue = yield* notice(3)
          assert.deepStrictEqual(
            yield* inbox.receive(reissue, handler),
            duplicate("business_key", id.notify(1))
          )
          assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
        })
      )
    )

    it.effect(
      "erase removes a task's bodies (payee ids), error texts and resolution notes; de-duplication still works",
      () =>
        withScenario({}, "erase", ({ entry, fail, handler, id, inbox, notice, ops, runs }) =>
          Effect.gen(function* () {
            const other = yield* scenario("erase-other")
            const r = yield* notice(1)
            const failed = yield* notice(2, "s-2")
            const settledByHand = yield* notice(4, "s-4")
            const kept = yield* other.notice(1)
            yield* inbox.receive(r, handler)
            yield* fail(failed)
            yield* fail(settledByHand)
            // An operator's note is free text: it may name the payee it was paid to by hand.
            yield* ops.resolve(id.notify(4), "paid by hand to 2088102122524333")
            yield* inbox.receive(kept, other.handler)
            assert.strictEqual(yield* ops.erase(id.task), 3)
            for (const notifyId of [id.notify(1), id.notify(2), id.notify(4)]) {
              const e = yield* entry(notifyId)
              assert.strictEqual(e.body.length, 0)
              assert.isDefined(e.bodyRemovedAt)
              assert.isUndefined(e.lastError)
              assert.isUndefined(e.resolution)
              for (const a of yield* ops.attempts(notifyId)) assert.isUndefined(a.error)
            }
            const resolved = yield* entry(id.notify(4))
            assert.strictEqual(resolved.status, "resolved", "still settled by hand, and when")
            assert.isDefined(resolved.resolvedAt)
            assert.isAbove((yield* entry(other.id.notify(1))).body.length, 0, "another task is untouched")
            assert.deepStrictEqual(yield* ops.replay(id.notify(2), handler), { _tag: "BodyRemoved" })
            assert.strictEqual((yield* inbox.receive(r, handler))._tag, "Duplicate")
            assert.strictEqual(
              (yield* entry(id.notify(1))).body.length,
              0,
              "a late delivery does not store it again"
            )
            const reissue = yield* notice(3)
            assert.strictEqual((yield* inbox.receive(reissue, handler))._tag, "Duplicate")
            assert.deepStrictEqual(yield* Ref.get(runs), [id.notify(1)])
            assert.deepStrictEqual(yield* Ref.get(other.runs), [other.id.notify(1)])
          })
        )
    )
  })
}
