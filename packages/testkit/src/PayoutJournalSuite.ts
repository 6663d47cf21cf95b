/**
 * A conformance suite for a `PayoutJournal`: what `JournaledClient` relies on, whatever the storage. Call it at
 * the top level of a test file with a layer (shared by the suite's tests, which use ids of their own):
 *
 * ```ts
 * PayoutJournalSuite.suite("MemoryPayoutJournal", MemoryPayoutJournal.layer)
 * ```
 *
 * @since 0.1.0
 */
import { assert, layer as withLayer } from "@effect/vitest"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as SignedRequest from "@witkey/core/SignedRequest"
import type { Layer } from "effect"
import { Clock, Effect, FastCheck as fc, Option, TestClock } from "effect"
import * as TestKeys from "./TestKeys.js"

const GATEWAY = "https://gateway.witkey.invalid/gateway.do"
const LEASE = 60_000

/**
 * A signed request for a task and serials, as the client would send it (a fresh DSA signature each time); by
 * default without a notify_url, in utf-8, to the suite's gateway.
 */
export const signed = (
  outerTaskId: string,
  transfers: ReadonlyArray<string>,
  options: { readonly notifyUrl?: string; readonly charset?: string; readonly gateway?: string } = {}
): Effect.Effect<SignedRequest.SignedRequest> =>
  Effect.gen(function* () {
    const request = yield* ConfirmRequest.validate({
      partner: TestKeys.partnerId,
      outerTaskId,
      transfers,
      notifyUrl: options.notifyUrl,
      charset: options.charset
    })
    return yield* SignedRequest.make(request, { gateway: options.gateway ?? GATEWAY }).pipe(
      Effect.provide(TestKeys.partnerSigner)
    )
  }).pipe(Effect.orDie)

/** Every outcome a journal must keep as it was given. */
export const outcome: fc.Arbitrary<PayoutJournal.Outcome> = fc.oneof(
  fc.constant<PayoutJournal.Outcome>({ _tag: "Pending" }),
  fc.record({
    _tag: fc.constant("Confirmed" as const),
    verifiedBy: fc.record({
      keyId: fc.string({ minLength: 1, maxLength: 60 }),
      status: fc.constantFrom("active" as const, "retired" as const)
    })
  }),
  fc.record({
    _tag: fc.constant("AlreadyConfirmed" as const),
    code: fc.string({ maxLength: 60 }),
    afterResend: fc.boolean()
  }),
  fc.record({ _tag: fc.constant("Rejected" as const), code: fc.string({ maxLength: 60 }) }),
  fc.record({
    _tag: fc.constant("Unknown" as const),
    reason: fc.constantFrom("transport", "http_status", "malformed", "signature", "mismatched_task"),
    mayHaveReached: fc.boolean(),
    message: fc.string({ maxLength: 300 })
  })
)

export const suite = (name: string, layer: Layer.Layer<PayoutJournal.PayoutJournal, unknown>): void =>
  withLayer(layer, { timeout: "60 seconds" })(`PayoutJournal conformance: ${name}`, (it) => {
    const run = Math.random().toString(36).slice(2, 8)
    let counter = 0
    const task = (label: string) => `t-${run}-${++counter}-${label}`
    const journal = PayoutJournal.PayoutJournal
    const claimFor = (owner: string) =>
      Effect.map(Clock.currentTimeMillis, (now): PayoutJournal.Claim => ({ owner, until: now + LEASE }))
    /** The journal, a task of the test's own, and its payout of `s-1`, recorded and claimed by `owner`. */
    const recordedPayout = (label: string, owner = "a") =>
      Effect.gen(function* () {
        const j = yield* journal
        const t = task(label)
        const { entry } = yield* j.record(yield* signed(t, ["s-1"]), yield* claimFor(owner))
        return { entry, j, t }
      })
    const mine = (t: string) => (entries: ReadonlyArray<PayoutJournal.Entry>) =>
      entries.filter((e) => e.outerTaskId === t)

    it.effect("record keeps the signed request byte for byte, pending and claimed by its sender", () =>
      Effect.gen(function* () {
        const j = yield* journal
        const t = task("record")
        // The Clock may be shared by the suite\'s tests: times are compared with where it stood.
        const start = yield* Clock.currentTimeMillis
        yield* TestClock.adjust("1234 millis")
        const request = yield* signed(t, ["s-2", "s-1"])
        const { claimed, created, entry } = yield* j.record(request, yield* claimFor("a"))
        assert.isTrue(created)
        assert.isTrue(claimed)
        assert.strictEqual(entry.id, PayoutJournal.payoutId(request.request))
        assert.strictEqual(entry.request.url, request.url)
        assert.deepStrictEqual(entry.request, request)
        assert.deepStrictEqual(entry.transfers, ["s-2", "s-1"])
        assert.strictEqual(entry.outerTaskId, t)
        assert.strictEqual(entry.partner, TestKeys.partnerId)
        assert.strictEqual(entry.recordedAt, start + 1234)
        assert.deepStrictEqual(entry.outcome, { _tag: "Pending" })
        assert.deepStrictEqual(entry.attempts, [])
        assert.deepStrictEqual(
          Option.map(yield* j.get(entry.id), (e) => e.request.url),
          Option.some(request.url)
        )
      })
    )

    it.effect(
      "the same payout prepared again is found, with the URL on record; serial order does not matter",
      () =>
        Effect.gen(function* () {
          const j = yield* journal
          const t = task("again")
          const first = yield* signed(t, ["s-1", "s-2"])
          yield* j.record(first, yield* claimFor("a"))
          const second = yield* signed(t, ["s-2", "s-1"])
          assert.notStrictEqual(second.url, first.url)
          const again = yield* j.record(second, yield* claimFor("a"))
          assert.isFalse(again.created)
          assert.isTrue(again.claimed, "the holder itself may go on")
          assert.strictEqual(again.entry.request.url, first.url)
          const other = yield* j.record(second, yield* claimFor("b"))
          assert.isFalse(other.claimed, "another sender waits for the lease")
          yield* TestClock.adjust(LEASE)
          assert.isTrue((yield* j.record(second, yield* claimFor("b"))).claimed, "the lease is over")
          assert.strictEqual(mine(t)(yield* j.all).length, 1)
        })
    )

    it.effect(
      "the same payout with another notify_url, charset or gateway is refused (conflict), nothing claimed",
      () =>
        Effect.gen(function* () {
          const j = yield* journal
          const t = task("conflict")
          const notifyUrl = "https://platform.example/alipay/notify"
          const { entry } = yield* j.record(
            yield* signed(t, ["s-1", "s-2"], { notifyUrl }),
            yield* claimFor("a")
          )
          yield* TestClock.adjust(LEASE)
          const others = [
            yield* signed(t, ["s-2", "s-1"], { notifyUrl: "https://elsewhere.example/notify" }),
            yield* signed(t, ["s-1", "s-2"]),
            yield* signed(t, ["s-1", "s-2"], { notifyUrl, charset: "gbk" }),
            yield* signed(t, ["s-1", "s-2"], {
              notifyUrl,
              gateway: "https://other.witkey.invalid/gateway.do"
            })
          ]
          for (const [i, other] of others.entries()) {
            const error = yield* Effect.flip(j.record(other, yield* claimFor("b")))
            assert.strictEqual(error.reason, "conflict", `request ${i}`)
            assert.include(error.message, entry.id)
          }
          assert.include(
            (yield* Effect.flip(j.record(others[2]!, yield* claimFor("b")))).message,
            "charset utf-8, not gbk"
          )
          assert.strictEqual(
            (yield* Effect.flip(j.startAttempt(entry.id, "b"))).reason,
            "busy",
            "a refused record claims nothing"
          )
          const same = yield* j.record(yield* signed(t, ["s-2", "s-1"], { notifyUrl }), yield* claimFor("b"))
          assert.isFalse(same.created)
          assert.isTrue(same.claimed, "the same notify_url, charset and gateway: the recorded payout")
          assert.strictEqual(mine(t)(yield* j.all).length, 1)
        })
    )

    it.effect(
      "a lease past its time is taken over by another sender, and its holder may not start an attempt; a live one holds",
      () =>
        Effect.gen(function* () {
          const { entry, j } = yield* recordedPayout("lease")
          yield* TestClock.adjust(LEASE - 1)
          assert.isFalse(yield* j.claim(entry.id, yield* claimFor("b")), "a live lease is not taken over")
          assert.strictEqual(yield* j.startAttempt(entry.id, "a"), 1, "its holder sends")
          yield* TestClock.adjust(1)
          const late = yield* Effect.flip(j.startAttempt(entry.id, "a"))
          assert.strictEqual(late.reason, "busy", "over: another sender may take it at any moment")
          assert.isTrue(yield* j.claim(entry.id, yield* claimFor("b")), "taken over")
          assert.strictEqual(yield* j.startAttempt(entry.id, "b"), 2)
          assert.strictEqual((yield* Effect.flip(j.startAttempt(entry.id, "a"))).reason, "busy")
          assert.isFalse(yield* j.finish(entry.id, "a", { _tag: "Rejected", code: "X" }))
          assert.deepStrictEqual(
            Option.getOrThrow(yield* j.get(entry.id)).attempts.map((a) => a.n),
            [1, 2]
          )
        })
    )

    it.effect("release gives up the holder's claim and nothing else", () =>
      Effect.gen(function* () {
        const { entry, j } = yield* recordedPayout("release")
        const unknown: PayoutJournal.Outcome = {
          _tag: "Unknown",
          reason: "signature",
          mayHaveReached: true,
          message: "m"
        }
        yield* j.finish(entry.id, "a", unknown)
        const before = Option.getOrThrow(yield* j.get(entry.id))
        assert.isTrue(yield* j.claim(entry.id, yield* claimFor("a")))
        assert.isFalse(yield* j.release(entry.id, "b"), "not b's to release")
        assert.isFalse(yield* j.claim(entry.id, yield* claimFor("b")))
        yield* TestClock.adjust("1 second")
        assert.isTrue(yield* j.release(entry.id, "a"))
        assert.deepStrictEqual(
          Option.getOrThrow(yield* j.get(entry.id)),
          before,
          "outcome and its time untouched"
        )
        assert.isTrue(yield* j.claim(entry.id, yield* claimFor("b")), "free again")
      })
    )

    it.effect(
      "attempts are numbered, written only by the holder, and finished with what the transport saw",
      () =>
        Effect.gen(function* () {
          const { entry, j } = yield* recordedPayout("attempts")
          const start = yield* Clock.currentTimeMillis
          yield* TestClock.adjust("5 seconds")
          assert.strictEqual(yield* j.startAttempt(entry.id, "a"), 1)
          yield* j.finishAttempt(entry.id, 1, { text: "transport connect: refused", mayHaveReached: false })
          yield* TestClock.adjust("2 seconds")
          assert.strictEqual(yield* j.startAttempt(entry.id, "a"), 2)
          const intruder = yield* Effect.flip(j.startAttempt(entry.id, "b"))
          assert.strictEqual(intruder.reason, "busy")
          const e = Option.getOrThrow(yield* j.get(entry.id))
          assert.deepStrictEqual(e.attempts, [
            { n: 1, at: start + 5000, result: "transport connect: refused", mayHaveReached: false },
            { n: 2, at: start + 7000, result: undefined, mayHaveReached: true }
          ])
        })
    )

    it.effect(
      "finish writes the outcome and frees the claim, only for the holder; a paid payout is never claimed",
      () =>
        Effect.gen(function* () {
          const { entry, j, t } = yield* recordedPayout("finish")
          const start = yield* Clock.currentTimeMillis
          assert.isFalse(yield* j.finish(entry.id, "b", { _tag: "Rejected", code: "X" }))
          assert.deepStrictEqual(Option.getOrThrow(yield* j.get(entry.id)).outcome, { _tag: "Pending" })
          yield* TestClock.adjust("3 seconds")
          const paid: PayoutJournal.Outcome = {
            _tag: "Confirmed",
            verifiedBy: { keyId: "k", status: "active" }
          }
          assert.isTrue(yield* j.finish(entry.id, "a", paid))
          const e = Option.getOrThrow(yield* j.get(entry.id))
          assert.deepStrictEqual(e.outcome, paid)
          assert.strictEqual(e.outcomeAt, start + 3000)
          assert.isFalse(yield* j.claim(entry.id, yield* claimFor("b")))
          assert.isFalse(yield* j.claim(entry.id, yield* claimFor("a")))
          assert.isFalse((yield* j.record(yield* signed(t, ["s-1"]), yield* claimFor("a"))).claimed)
          assert.isFalse(
            yield* j.finish(entry.id, "a", { _tag: "Pending" }),
            "released: no longer the holder"
          )
        })
    )

    it.effect("a rejected payout can be claimed and sent again; an unknown one too", () =>
      Effect.gen(function* () {
        const { entry, j } = yield* recordedPayout("rejected")
        yield* j.finish(entry.id, "a", { _tag: "Rejected", code: "WITKEY_TASK_NOT_EXIST" })
        assert.isTrue(yield* j.claim(entry.id, yield* claimFor("b")))
        yield* j.finish(entry.id, "b", {
          _tag: "Unknown",
          reason: "transport",
          mayHaveReached: true,
          message: "m"
        })
        assert.isTrue(yield* j.claim(entry.id, yield* claimFor("a")))
      })
    )

    it.effect(
      "unsettled lists pending and unknown payouts, oldest first; byTask lists a task's payouts",
      () =>
        Effect.gen(function* () {
          const j = yield* journal
          const t = task("lists")
          const outcomes: ReadonlyArray<PayoutJournal.Outcome> = [
            { _tag: "Pending" },
            { _tag: "Confirmed", verifiedBy: { keyId: "k", status: "active" } },
            { _tag: "Unknown", reason: "http_status", mayHaveReached: true, message: "HTTP 502" },
            { _tag: "AlreadyConfirmed", code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID", afterResend: true },
            { _tag: "Rejected", code: "WITKEY_TASK_NOT_EXIST" }
          ]
          const ids: Array<string> = []
          for (const [i, o] of outcomes.entries()) {
            yield* TestClock.adjust("1 second")
            const { entry } = yield* j.record(yield* signed(t, [`s-${i}`]), yield* claimFor("a"))
            if (o._tag !== "Pending") yield* j.finish(entry.id, "a", o)
            ids.push(entry.id)
          }
          assert.deepStrictEqual(
            mine(t)(yield* j.unsettled).map((e) => e.id),
            [ids[0], ids[2]]
          )
          assert.deepStrictEqual(
            (yield* j.byTask(t)).map((e) => e.id),
            ids
          )
          assert.deepStrictEqual(yield* j.byTask(`${t}-none`), [])
        })
    )

    it.effect("of many concurrent claimers of one payout, exactly one gets it", () =>
      Effect.gen(function* () {
        const { entry, j } = yield* recordedPayout("race", "first")
        yield* TestClock.adjust(LEASE)
        const owners = Array.from({ length: 8 }, (_, i) => `owner-${i}`)
        const claims = yield* Effect.forEach(
          owners,
          (owner) => Effect.flatMap(claimFor(owner), (c) => j.claim(entry.id, c)),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(claims.filter(Boolean).length, 1)
        const winner = owners[claims.indexOf(true)]!
        const attempts = yield* Effect.forEach(
          owners,
          (owner) => Effect.either(j.startAttempt(entry.id, owner)),
          {
            concurrency: "unbounded"
          }
        )
        assert.strictEqual(attempts.filter((a) => a._tag === "Right").length, 1)
        assert.strictEqual(attempts[owners.indexOf(winner)]!._tag, "Right")
      })
    )

    it.effect.prop(
      "every outcome is kept as it was written",
      [outcome],
      ([o]) =>
        Effect.gen(function* () {
          const { entry, j } = yield* recordedPayout("outcome")
          assert.isTrue(yield* j.finish(entry.id, "a", o))
          assert.deepStrictEqual(Option.getOrThrow(yield* j.get(entry.id)).outcome, o)
        }),
      { fastCheck: { numRuns: 30 } }
    )
  })
