/**
 * The payout journal end to end on the in-process sandbox: journaled sends, a crash after sending, resume,
 * and reconciliation against the inbox's notifications.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as JournaledClient from "@witkey/core/JournaledClient"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import { Clock, Effect, Layer, Option, Schedule, TestClock } from "effect"
import * as Fault from "../src/Fault.js"
import * as MemoryPayoutJournal from "../src/MemoryPayoutJournal.js"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxTransport from "../src/SandboxTransport.js"
import * as TestKeys from "../src/TestKeys.js"
import { layer, NOTIFY_URL, PAYEE_A, PAYEE_B, receiver, registerTask } from "./Harness.js"

const LEASE = "5 minutes"

/** A journaled client on the sandbox in context; `owner` names the process. */
const journaled = (owner: string) =>
  JournaledClient.make({
    partner: TestKeys.partnerId,
    gateway: SandboxTransport.GATEWAY_URL,
    notifyUrl: NOTIFY_URL,
    retry: Schedule.recurs(3),
    owner,
    lease: LEASE
  }).pipe(
    Effect.provide(Layer.mergeAll(TestKeys.partnerSigner, Sandbox.gatewayVerifier, SandboxTransport.layer))
  )

const TestLayer = Layer.merge(layer(), MemoryPayoutJournal.layer)

/** A sandbox task with two winners, and the receiver (core's NotificationReceiver into the inbox) wired. */
const setup = (task: string) =>
  Effect.gen(function* () {
    const sandbox = yield* Sandbox.Sandbox
    const r = yield* receiver()
    yield* sandbox.setDeliver(r.deliver)
    yield* registerTask(task, [
      ["s-1", PAYEE_A, "120.00"],
      ["s-2", PAYEE_B, "80.00"]
    ])
    return { sandbox, r, journal: yield* PayoutJournal.PayoutJournal, inbox: yield* Inbox.Inbox }
  })

/** What a process that died right after sending leaves behind: the record and one attempt, no outcome. */
const crashAfterSend = (task: string, options: { readonly reached: boolean }) =>
  Effect.gen(function* () {
    const { journal, sandbox } = yield* setup(task)
    const dead = yield* journaled("dead")
    const request = yield* dead.client.prepare({ outerTaskId: task, transfers: ["s-1", "s-2"] })
    const now = yield* Clock.currentTimeMillis
    const { entry } = yield* journal.record(request, { owner: "dead", until: now + 300_000 })
    yield* journal.startAttempt(entry.id, "dead")
    if (options.reached) yield* sandbox.handle(request.url)
    return { entry, request }
  })

/** The payout calls the sandbox got (not the receiver's notify_verify calls). */
const payoutCalls = (sandbox: Sandbox.Sandbox) =>
  Effect.map(sandbox.calls, (calls) => calls.filter((c) => c.service === Protocol.SERVICE).map((c) => c.url))

const paidSerials = (sandbox: Sandbox.Sandbox) =>
  Effect.map(sandbox.ledger, (ledger) => ledger.flatMap((l) => (l._tag === "Transfer" ? [l.serial] : [])))

describe("JournaledClient on the sandbox", () => {
  it.effect("a payout is recorded before it is sent; each attempt and the outcome follow", () =>
    Effect.gen(function* () {
      const { journal, sandbox } = yield* setup("task-journaled")
      const client = yield* journaled("a")
      // The first answer is lost after the gateway paid; the re-send hears ALREADY_PAID.
      yield* sandbox.queueAnswerFaults(Fault.drop({ mode: "reset" }))
      const outcome = yield* client.confirmByPlatform({
        outerTaskId: "task-journaled",
        transfers: ["s-1", "s-2"]
      })
      assert.strictEqual(outcome._tag, "AlreadyConfirmed")
      assert.isTrue(outcome._tag === "AlreadyConfirmed" && outcome.afterResend)
      const [entry] = yield* journal.byTask("task-journaled")
      assert.strictEqual(entry!.request.url, outcome.request.url)
      assert.deepStrictEqual(
        entry!.attempts.map((a) => [a.n, a.result?.split(":")[0]]),
        [
          [1, "transport network"],
          [2, "HTTP 200"]
        ]
      )
      assert.deepStrictEqual(entry!.outcome, {
        _tag: "AlreadyConfirmed",
        code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID",
        afterResend: true
      })
      // Every attempt sent the one recorded URL.
      assert.deepStrictEqual(yield* payoutCalls(sandbox), [entry!.request.url, entry!.request.url])
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a confirmed payout records the key that verified the answer; asking again sends nothing", () =>
    Effect.gen(function* () {
      const { journal, sandbox } = yield* setup("task-twice")
      const client = yield* journaled("a")
      const first = yield* client.confirmByPlatform({ outerTaskId: "task-twice", transfers: ["s-1", "s-2"] })
      assert.strictEqual(first._tag, "Confirmed")
      const [entry] = yield* journal.byTask("task-twice")
      assert.strictEqual(entry!.outcome._tag, "Confirmed")
      assert.isTrue(
        entry!.outcome._tag === "Confirmed" && entry!.outcome.verifiedBy.keyId.startsWith("SHA256:")
      )
      const again = yield* client.confirmByPlatform({ outerTaskId: "task-twice", transfers: ["s-2", "s-1"] })
      assert.strictEqual(again._tag, "Confirmed")
      assert.strictEqual(again.request.url, first.request.url)
      assert.strictEqual((yield* payoutCalls(sandbox)).length, 1)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect(
    "a crash after sending: resume waits for the lease, then settles it, and nothing is paid twice",
    () =>
      Effect.gen(function* () {
        const { entry, request } = yield* crashAfterSend("task-crash", { reached: true })
        const sandbox = yield* Sandbox.Sandbox
        const journal = yield* PayoutJournal.PayoutJournal
        const operator = yield* journaled("operator")
        const early = yield* operator.resume
        assert.deepStrictEqual(
          early.map((r) => r._tag),
          ["Busy"]
        )
        yield* TestClock.adjust(LEASE)
        const resumed = yield* operator.resume
        assert.strictEqual(resumed.length, 1)
        const r = resumed[0]!
        assert.strictEqual(r._tag, "Settled")
        assert.isTrue(r._tag === "Settled" && r.outcome._tag === "AlreadyConfirmed" && r.outcome.afterResend)
        const after = Option.getOrThrow(yield* journal.get(entry.id))
        assert.strictEqual(after.outcome._tag, "AlreadyConfirmed")
        assert.strictEqual(after.attempts.length, 2)
        assert.deepStrictEqual(yield* payoutCalls(sandbox), [request.url, request.url])
        assert.deepStrictEqual((yield* paidSerials(sandbox)).sort(), ["s-1", "s-2"])
        assert.deepStrictEqual(yield* operator.resume, [])

        // The notifications arrive; reconciliation finds every serial settled.
        yield* TestClock.adjust("1 second")
        yield* sandbox.awaitDeliveries
        const report = yield* PayoutJournal.reconcileTasks()
        assert.deepStrictEqual(
          report.serials.map((s) => [s.serial, s.state]),
          [
            ["s-1", "settled"],
            ["s-2", "settled"]
          ]
        )
        assert.strictEqual(report.alarms, 0)
      }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a crash before the request left: resume sends it and it is confirmed", () =>
    Effect.gen(function* () {
      yield* crashAfterSend("task-unsent", { reached: false })
      const operator = yield* journaled("operator")
      yield* TestClock.adjust(LEASE)
      const [r] = yield* operator.resume
      assert.isTrue(r!._tag === "Settled" && r!.outcome._tag === "Confirmed")
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect(
    "a rejection after a restart is unknown when the earlier attempt may have paid (Client.send's rule)",
    () =>
      Effect.gen(function* () {
        const { entry } = yield* crashAfterSend("task-rejected", { reached: false })
        const sandbox = yield* Sandbox.Sandbox
        const journal = yield* PayoutJournal.PayoutJournal
        yield* sandbox.queueAnswerFaults(Fault.reject("WITKEY_TASK_LEF_AMOUNT_NOT_ENOUGH"))
        yield* TestClock.adjust(LEASE)
        const [r] = yield* (yield* journaled("operator")).resume
        assert.strictEqual(r!._tag, "Failed")
        assert.isTrue(
          r!._tag === "Failed" &&
            r!.error._tag === "UnknownOutcome" &&
            r!.error.reason === "rejected_after_resend" &&
            r!.error.code === "WITKEY_TASK_LEF_AMOUNT_NOT_ENOUGH" &&
            r!.error.attempts === 1
        )
        const after = Option.getOrThrow(yield* journal.get(entry.id))
        assert.isTrue(after.outcome._tag === "Unknown" && after.outcome.reason === "rejected_after_resend")
      }).pipe(Effect.provide(TestLayer))
  )

  it.effect("resume holds an unknown outcome that a re-send cannot resolve (a T that does not verify)", () =>
    Effect.gen(function* () {
      const { journal, sandbox } = yield* setup("task-wrong-signature")
      const client = yield* journaled("a")
      yield* sandbox.queueAnswerFaults(Fault.wrongSignature)
      const error = yield* Effect.flip(
        client.confirmByPlatform({ outerTaskId: "task-wrong-signature", transfers: ["s-1"] })
      )
      assert.isTrue(error._tag === "UnknownOutcome" && error.reason === "signature")
      const [entry] = yield* journal.unsettled
      assert.strictEqual(entry!.outerTaskId, "task-wrong-signature")
      const [r] = yield* (yield* journaled("operator")).resume
      assert.deepStrictEqual(r, {
        id: entry!.id,
        outerTaskId: "task-wrong-signature",
        _tag: "Held",
        reason: "signature"
      })
      assert.strictEqual((yield* payoutCalls(sandbox)).length, 1)
    }).pipe(Effect.provide(TestLayer))
  )

  // PROTOCOL.md §7: a T that does not verify is not a success, and the identical re-send, though it pays nothing
  // twice (ALREADY_PAID), would be recorded as one and hide the wrong key. Not in one call, not across calls.
  it.effect(
    "send does not re-send a payout recorded with an unverifiable answer: the recorded outcome is the failure",
    () =>
      Effect.gen(function* () {
        const { journal, sandbox } = yield* setup("task-unverified-again")
        const input = { outerTaskId: "task-unverified-again", transfers: ["s-1"] }
        const a = yield* journaled("a")
        yield* sandbox.queueAnswerFaults(Fault.wrongSignature)
        yield* Effect.flip(a.confirmByPlatform(input))
        const [before] = yield* journal.byTask(input.outerTaskId)
        yield* TestClock.adjust("1 hour")
        for (const client of [a, yield* journaled("b")]) {
          const again = yield* Effect.flip(client.confirmByPlatform(input))
          assert.isTrue(
            again._tag === "UnknownOutcome" && again.reason === "signature" && again.mayHaveReached
          )
          assert.include(again.message, "not sent again")
        }
        assert.strictEqual((yield* payoutCalls(sandbox)).length, 1, "never sent again")
        const [after] = yield* journal.byTask(input.outerTaskId)
        assert.deepStrictEqual(after, before, "the record as it was: outcome, its time, attempts")
        const now = yield* Clock.currentTimeMillis
        assert.isTrue(yield* journal.claim(after!.id, { owner: "c", until: now + 1 }), "no claim left behind")
      }).pipe(Effect.provide(TestLayer))
  )

  it.effect(
    "the same payout with another notify_url is refused (conflict), not taken for the recorded one",
    () =>
      Effect.gen(function* () {
        const { sandbox } = yield* setup("task-other-notify-url")
        const client = yield* journaled("a")
        const input = { outerTaskId: "task-other-notify-url", transfers: ["s-1"] }
        assert.strictEqual((yield* client.confirmByPlatform(input))._tag, "Confirmed")
        const error = yield* Effect.flip(
          client.confirmByPlatform({ ...input, notifyUrl: "https://elsewhere.example/alipay/notify" })
        )
        assert.isTrue(error._tag === "JournalError" && error.reason === "conflict")
        assert.include(error.message, "elsewhere.example")
        assert.strictEqual((yield* payoutCalls(sandbox)).length, 1)
        assert.strictEqual(
          (yield* client.confirmByPlatform(input))._tag,
          "Confirmed",
          "as recorded: its outcome"
        )
      }).pipe(Effect.provide(TestLayer))
  )

  it.effect("a second sender of a payout being sent is told it is busy, and sends nothing", () =>
    Effect.gen(function* () {
      const { journal, sandbox } = yield* setup("task-busy")
      const a = yield* journaled("a")
      const b = yield* journaled("b")
      const request = yield* a.client.prepare({ outerTaskId: "task-busy", transfers: ["s-1"] })
      const now = yield* Clock.currentTimeMillis
      yield* journal.record(request, { owner: "a", until: now + 300_000 })
      const error = yield* Effect.flip(b.send(request))
      assert.isTrue(error._tag === "JournalError" && error.reason === "busy")
      assert.strictEqual((yield* payoutCalls(sandbox)).length, 0)
    }).pipe(Effect.provide(TestLayer))
  )
})
