import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Client from "../src/Client.js"
import * as GatewayResponse from "../src/GatewayResponse.js"
import * as Resend from "../src/internal/resend.js"
import type * as SignedRequest from "../src/SignedRequest.js"

const outerTaskId = "wf301111010000977"
// nextStep reads only the task id of the request; the rest is carried through.
const request = { request: { outerTaskId } } as unknown as SignedRequest.SignedRequest

type Spec =
  | { readonly kind: "confirmed" }
  | { readonly kind: "rejected"; readonly code: string }
  | {
      readonly kind: "unknown"
      readonly reason: Client.UnknownOutcome["reason"]
      readonly mayHaveReached: boolean
    }

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  fc.constant<Spec>({ kind: "confirmed" }),
  fc
    .constantFrom("WITKEY_OUTER_TRANSFER_ALREADY_PAID", "WITKEY_TASK_LEF_AMOUNT_NOT_ENOUGH", "SYSTEM_ERROR")
    .map((code): Spec => ({ kind: "rejected", code })),
  fc.record({
    kind: fc.constant("unknown" as const),
    // What an attempt itself can report (rejected_after_resend is only ever the decision's).
    reason: fc.constantFrom<Client.UnknownOutcome["reason"]>(
      "transport",
      "http_status",
      "malformed",
      "signature",
      "mismatched_task"
    ),
    mayHaveReached: fc.boolean()
  })
)

const answerOf = (spec: Spec, attempts: number): Resend.Answer => {
  switch (spec.kind) {
    case "confirmed":
      return { _tag: "Confirmed", outerTaskId, attempts, request, verifiedBy: { keyId: "k" } as never }
    case "rejected":
      return new GatewayResponse.GatewayRejected({ code: spec.code })
    case "unknown":
      return new Client.UnknownOutcome({
        reason: spec.reason,
        mayHaveReached: spec.mayHaveReached,
        attempts,
        outerTaskId,
        message: `attempt ${attempts}`
      })
  }
}

/** Runs the decision over a script of answers (the last repeats) with a schedule that allows `resends` re-sends. */
const runScript = (script: ReadonlyArray<Spec>, resends: number) => {
  let history = Resend.start(request)
  for (let i = 0; ; i++) {
    const step = Resend.nextStep(history, answerOf(script[Math.min(i, script.length - 1)]!, i + 1))
    if (step._tag !== "Resend") return { step, sent: i + 1 }
    if (i >= resends) return { step: { _tag: "Fail", error: step.otherwise } as Resend.Step, sent: i + 1 }
    history = step.history
  }
}

const resendable = (s: Spec) =>
  s.kind === "unknown" && (s.reason === "transport" || s.reason === "http_status" || s.reason === "malformed")

describe("Resend.nextStep (PROTOCOL.md §7)", () => {
  it.prop(
    "over any sequence of answers, the outcome is the one §7 gives for the last answer and those before it",
    [fc.array(specArb, { minLength: 1, maxLength: 6 }), fc.nat(5)],
    ([given, resends]) => {
      const { sent, step } = runScript(given, resends)
      const script = Array.from({ length: resends + 1 }, (_, i) => given[Math.min(i, given.length - 1)]!)
      // Sending stops at the first answer a re-send cannot change, or when the schedule is used up.
      const last = script.findIndex((s, i) => !resendable(s) || i === resends)
      assert.strictEqual(sent, last + 1)
      const before = script.slice(0, last)
      const mayHavePaid = before.some((s) => s.kind === "unknown" && s.mayHaveReached)
      const final = script[last]!
      if (final.kind === "confirmed") {
        assert.isTrue(step._tag === "Done" && step.outcome._tag === "Confirmed")
      } else if (final.kind === "rejected" && final.code === "WITKEY_OUTER_TRANSFER_ALREADY_PAID") {
        assert.isTrue(step._tag === "Done" && step.outcome._tag === "AlreadyConfirmed")
        if (step._tag === "Done" && step.outcome._tag === "AlreadyConfirmed") {
          // afterResend only when a lost attempt may have been the payment.
          assert.strictEqual(step.outcome.afterResend, mayHavePaid)
          assert.strictEqual(step.outcome.attempts, sent)
          assert.deepStrictEqual(
            step.outcome.resentAfter,
            before.flatMap((s) => (s.kind === "unknown" ? [s.reason] : []))
          )
        }
      } else if (final.kind === "rejected") {
        assert.strictEqual(step._tag, "Fail")
        if (step._tag !== "Fail") return
        if (mayHavePaid) {
          assert.isTrue(step.error._tag === "Unknown" && step.error.reason === "rejected_after_resend")
          if (step.error._tag === "Unknown") {
            assert.strictEqual(step.error.code, final.code)
            assert.isTrue(step.error.mayHaveReached)
            assert.strictEqual(step.error.attempts, sent)
          }
        } else assert.isTrue(step.error._tag === "GatewayRejected" && step.error.code === final.code)
      } else {
        assert.strictEqual(step._tag, "Fail")
        if (step._tag === "Fail" && step.error._tag === "Unknown") {
          assert.strictEqual(step.error.reason, final.reason)
          // Once any attempt may have reached the gateway, the outcome never says "never sent".
          assert.strictEqual(step.error.mayHaveReached, final.mayHaveReached || mayHavePaid)
          assert.strictEqual(step.error.attempts, sent)
        } else assert.fail(`expected an unknown outcome, got ${JSON.stringify(step)}`)
      }
    }
  )

  it("a T that does not verify, or names another task, is never re-sent", () => {
    for (const reason of ["signature", "mismatched_task"] as const) {
      const { sent, step } = runScript(
        [
          { kind: "unknown", reason, mayHaveReached: true },
          { kind: "rejected", code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID" }
        ],
        3
      )
      assert.strictEqual(sent, 1)
      assert.isTrue(step._tag === "Fail" && step.error._tag === "Unknown" && step.error.reason === reason)
    }
  })

  it("ALREADY_PAID after a re-send of a lost attempt is AlreadyConfirmed { afterResend }", () => {
    const { step } = runScript(
      [
        { kind: "unknown", reason: "transport", mayHaveReached: true },
        { kind: "rejected", code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID" }
      ],
      3
    )
    assert.isTrue(
      step._tag === "Done" && step.outcome._tag === "AlreadyConfirmed" && step.outcome.afterResend
    )
  })
})
