/**
 * The demo's scenario: the data drawn from the seed. N tasks with 1 to 3 winners, the faults on the gateway's
 * answers and on the notifications, and which deliveries find the receiver's database down. Nothing here runs
 * a server or touches a database (`DemoWiring` does), and nothing checks the outcome (`DemoReconciliation`).
 *
 * @since 0.2.0
 */
import * as Fault from "@witkey/testkit/Fault"
import type * as Sandbox from "@witkey/testkit/Sandbox"
import * as TestKeys from "@witkey/testkit/TestKeys"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Random from "effect/Random"

const cents = (value: number) => `${Math.floor(value / 100)}.${String(value % 100).padStart(2, "0")}`

const payeeId = (random: Random.Random) =>
  Effect.map(random.nextIntBetween(0, 1_000_000_000), (n) => `208810${String(n).padStart(10, "0")}`)

/** N tasks with 1 to 3 winners each, random payees and amounts. */
export const makeTasks = (count: number, random: Random.Random) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i + 1),
    (i) =>
      Effect.gen(function* () {
        const outerTaskId = `demo-task-${String(i).padStart(3, "0")}`
        const winners = yield* random.nextIntBetween(1, 4)
        const transfers = yield* Effect.forEach(
          Array.from({ length: winners }, (_, j) => j + 1),
          (j) =>
            Effect.gen(function* () {
              return {
                serial: `${outerTaskId}-w${j}`,
                payeeUserId: yield* payeeId(random),
                amount: cents(yield* random.nextIntBetween(1_000, 50_001))
              }
            })
        )
        return {
          partner: TestKeys.partnerId,
          outerTaskId,
          transfers,
          serviceFee: cents(yield* random.nextIntBetween(500, 5_001)),
          platformAccount: TestKeys.platformUserId
        } satisfies Sandbox.TaskRegistration
      })
  )

/** What goes wrong with the answers: about a third of the first calls lose or garble their answer. */
export const answerFaults = (count: number, random: Random.Random) =>
  Effect.gen(function* () {
    const kinds: ReadonlyArray<Fault.AnswerFault> = [
      Fault.drop({ mode: "reset", applied: true }),
      Fault.drop({ mode: "reset", applied: false }),
      Fault.serverError(502, { applied: true }),
      Fault.serverError(503, { applied: false }),
      Fault.truncated,
      Fault.unsigned,
      Fault.wrongSignature
    ]
    const none = Fault.delay(Duration.zero)
    const faults: Array<Fault.AnswerFault> = []
    for (let i = 0; i < count; i++) {
      // One answer that never comes: the client has to time out, then re-send.
      if (i === 1) faults.push(Fault.drop({ mode: "hang", applied: true }))
      else if ((yield* random.next) < 0.35) faults.push(kinds[yield* random.nextIntBetween(0, kinds.length)]!)
      else faults.push(none)
    }
    return faults
  })

/** What happens to the notifications of each paid call: about half duplicated, late, re-issued or reordered. */
export const notifyFaults = (count: number, random: Random.Random) =>
  Effect.gen(function* () {
    const kinds: ReadonlyArray<Fault.NotifyFault> = [
      Fault.duplicate,
      Fault.late("3 hours"),
      Fault.reissue("1 hour"),
      Fault.reorder,
      Fault.malformedContentType
    ]
    const faults: Array<Fault.NotifyFault> = []
    for (let i = 0; i < count; i++)
      faults.push(
        (yield* random.next) < 0.5
          ? kinds[yield* random.nextIntBetween(0, kinds.length)]!
          : Fault.late(Duration.zero)
      )
    return faults
  })

/** A stable, well-mixed number in [0, 1) from the seed and a text (FNV-1a, then murmur3's finalizer). */
export const unitHash = (seed: number, text: string): number => {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32
}

/**
 * How many deliveries of a notification find the receiver's database down, besides an outage: most none, some
 * 1 to 3. `dayLong` (the first notification without a fault of its own) fails 7 times: it is processed on the
 * 8th and last delivery, a full day later.
 */
export const plannedFailures = (seed: number, notifyId: string, dayLong: string | undefined): number => {
  if (notifyId === dayLong) return 7
  const r = unitHash(seed, notifyId)
  return r < 0.7 ? 0 : r < 0.8 ? 1 : r < 0.9 ? 2 : 3
}

/** A notification with no fault of its own (no copy, no re-issue that could be processed instead). */
export const isPlain = (record: Sandbox.NotificationRecord): boolean =>
  record.reissueOf === undefined &&
  (record.fault === undefined || (record.fault._tag === "Late" && Duration.toMillis(record.fault.by) === 0))
