// kill -9 on SQLite for the payout journal's `resume` and the inbox's `resolve` and `prune` (issue 15). The
// processes are test/journaler.ts, bundled like the receivers; the gateway is a Sandbox in this process, over
// HTTP, so its ledger says what was paid.
//
// Payouts: a payer killed with the payout recorded and its attempt started (nothing sent), or with the
// gateway's answer in (paid) but not recorded; a resumer killed the same way; the next resume settles it, the
// serials are paid once, every call carries the recorded URL byte for byte, and the journal says what happened.
// Operators: one resolving and pruning in a loop is killed at random moments; each time the file holds every
// entry before or after, never half: resolved exactly when its event is claimed by it, a body empty exactly
// when it was pruned; in the end every entry still de-duplicates its notify_id and its event.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxServer from "@witkey/testkit/SandboxServer"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Deferred, Effect, Layer, Option, Random, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqliteInbox from "../src/SqliteInbox.js"
import * as SqlPayoutJournal from "../src/SqlPayoutJournal.js"
import * as Bundle from "./Bundle.js"

const SCRIPT = fileURLToPath(new URL("./journaler.ts", import.meta.url))

interface Ran {
  readonly code: number | null
  readonly signal: string | null
  readonly output: string
}

/**
 * Runs the journaler to its end (bounded, generously: the machine is loaded). With `killAfter`, SIGKILLs it
 * that many milliseconds after its first line of output (its first operation done), if it is still running.
 */
const run = (args: ReadonlyArray<string>, killAfter?: number) =>
  Effect.gen(function* () {
    const script = yield* Bundle.bundled(SCRIPT)
    const started = yield* Deferred.make<void>()
    const ran = Effect.async<Ran>((resume) => {
      const child = ChildProcess.spawn(process.execPath, [script, ...args], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes("\n")) Deferred.unsafeDone(started, Effect.void)
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      child.on("exit", (code, signal) => {
        Deferred.unsafeDone(started, Effect.void)
        resume(Effect.succeed({ code, signal, output }))
      })
      if (killAfter !== undefined)
        Effect.runFork(
          Effect.zipRight(Deferred.await(started), Effect.sleep(killAfter)).pipe(
            Effect.andThen(() => void child.kill("SIGKILL"))
          )
        )
      return Effect.sync(() => void child.kill("SIGKILL"))
    })
    return yield* ran.pipe(
      Effect.timeoutFail({
        duration: "180 seconds",
        onTimeout: () => new Error(`journaler ${args[0]} hung`)
      }),
      Effect.orDie
    )
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-journal-crash-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const killed = (ran: Ran, where: string) => {
  assert.strictEqual(ran.signal, "SIGKILL", ran.output)
  assert.include(ran.output, `crash ${where}`)
}

const lastLine = (ran: Ran): unknown => {
  assert.strictEqual(ran.code, 0, ran.output)
  const lines = ran.output.trim().split("\n")
  assert.strictEqual(lines.at(-1), "done", ran.output)
  return JSON.parse(lines.at(-2)!)
}

/** The journal's entry for a task, read by this process from the file. */
const journalOf = (filename: string, task: string) =>
  Effect.scoped(
    Effect.flatMap(PayoutJournal.PayoutJournal, (j) =>
      Effect.zip(j.byTask(task), j.unsettled, { concurrent: false })
    ).pipe(Effect.provide(SqlPayoutJournal.layer().pipe(Layer.provide(SqliteInbox.layer({ filename })))))
  )

describe("resume under kill -9 on SQLite", () => {
  it.scopedLive(
    "killed before sending or after the answer, as payer or resumer: paid once, the recorded URL, settled",
    () =>
      Effect.gen(function* () {
        const filename = path.join(yield* tempDir, "platform.db")
        const sandbox = yield* Sandbox.make()
        const { gatewayUrl } = yield* SandboxServer.make().pipe(
          Effect.provideService(Sandbox.Sandbox, sandbox)
        )
        const serials = (task: string) => [`${task}-s1`, `${task}-s2`]
        const register = (task: string) =>
          sandbox.registerTask({
            partner: TestKeys.partnerId,
            outerTaskId: task,
            transfers: serials(task).map((serial, i) => ({
              serial,
              payeeUserId: `208810212252433${i}`,
              amount: "10.00"
            })),
            serviceFee: "1.00",
            platformAccount: TestKeys.platformUserId
          })
        const paid = (task: string) =>
          Effect.map(sandbox.ledger, (ledger) =>
            ledger
              .filter((l) => l._tag === "Transfer" && l.outerTaskId === task)
              .map((l) => (l._tag === "Transfer" ? l.serial : ""))
              .sort()
          )
        const calls = (task: string) =>
          Effect.map(sandbox.calls, (cs) =>
            cs.filter(
              (c) =>
                c.service === Protocol.SERVICE &&
                c.params.some(([k, v]) => k === Protocol.Param.outerTaskId && v === task)
            )
          )
        const pay = (task: string, crash?: string) =>
          run(["pay", filename, gatewayUrl, task, serials(task).join(","), ...(crash ? [crash] : [])])
        const resume = (crash?: string) => run(["resume", filename, gatewayUrl, ...(crash ? [crash] : [])])

        /** Every call of the task sent the journal's URL, byte for byte; how many there were. */
        const sentRecordedUrl = (task: string, entry: PayoutJournal.Entry) =>
          Effect.map(calls(task), (cs) => {
            const recorded = new URL(entry.request.url)
            for (const c of cs) assert.strictEqual(c.url, `${recorded.pathname}${recorded.search}`)
            return cs.length
          })

        // Killed before the request left: recorded and pending, nothing paid; the resume pays it, once.
        yield* register("before")
        killed(yield* pay("before", "before-send"), "before-send")
        const [[pending], unsettled] = yield* journalOf(filename, "before")
        assert.strictEqual(pending!.outcome._tag, "Pending")
        assert.deepStrictEqual(
          unsettled.map((e) => e.outerTaskId),
          ["before"]
        )
        assert.deepStrictEqual(yield* paid("before"), [])
        assert.strictEqual((yield* calls("before")).length, 0)
        assert.deepStrictEqual(lastLine(yield* resume()), ["Settled Confirmed"])
        assert.deepStrictEqual(yield* paid("before"), serials("before"))
        const [[settled]] = yield* journalOf(filename, "before")
        assert.strictEqual(settled!.outcome._tag, "Confirmed")
        assert.strictEqual(yield* sentRecordedUrl("before", settled!), 1)

        // Killed with the answer in, twice (the payer, then a resumer): paid by the first send only; the next
        // resume learns it from the gateway and records it as paid after a re-send.
        yield* register("after")
        killed(yield* pay("after", "after-answer"), "after-answer")
        assert.deepStrictEqual(yield* paid("after"), serials("after"))
        const [[unrecorded]] = yield* journalOf(filename, "after")
        assert.strictEqual(unrecorded!.outcome._tag, "Pending")
        killed(yield* resume("after-answer"), "after-answer")
        assert.deepStrictEqual(lastLine(yield* resume()), ["Settled AlreadyConfirmed"])
        const [[after], left] = yield* journalOf(filename, "after")
        assert.deepStrictEqual(after!.outcome, {
          _tag: "AlreadyConfirmed",
          code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID",
          afterResend: true
        })
        assert.deepStrictEqual(
          after!.attempts.map((a) => a.n),
          [1, 2, 3]
        )
        assert.strictEqual(yield* sentRecordedUrl("after", after!), 3)
        assert.deepStrictEqual(yield* paid("after"), serials("after"), "paid once")
        assert.deepStrictEqual(left, [], "the journal is settled")

        // Nothing left: a further resume sends nothing, and paying again answers from the journal.
        assert.deepStrictEqual(lastLine(yield* resume()), [])
        assert.strictEqual(lastLine(yield* pay("after")), "AlreadyConfirmed")
        assert.strictEqual((yield* calls("after")).length, 3)
        assert.strictEqual((yield* calls("before")).length, 1)
      }),
    300_000
  )
})

class Outage extends Schema.TaggedError<Outage>()("Outage", { message: Schema.String }) {}

const ENTRIES = 12

describe("resolve and prune under kill -9 on SQLite", () => {
  it.scopedLive(
    "killed at random moments: every entry before or after, never half; all still de-duplicate",
    () =>
      Effect.gen(function* () {
        const filename = path.join(yield* tempDir, "platform.db")
        const inInbox = <A, E>(
          body: Effect.Effect<A, E, Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient>
        ) => Effect.scoped(Effect.provide(body, SqliteInbox.layer({ filename })))
        const ids = Array.from({ length: ENTRIES }, (_, i) => `op-${i}`)
        const failing = ids.filter((_, i) => i % 2 === 0)
        const delivery = (notifyId: string, serial: string) =>
          InboxSuite.received({ notifyId, payload: InboxSuite.assign("op", serial) })
        yield* inInbox(
          Effect.gen(function* () {
            const inbox = yield* Inbox.Inbox
            for (const [i, id] of ids.entries()) {
              const r = yield* delivery(id, `s-${i}`)
              if (failing.includes(id))
                yield* Effect.flip(
                  inbox.receive(r, () => Effect.fail(new Outage({ message: "ledger down" })))
                )
              else yield* inbox.receive(r, () => Effect.void)
            }
          })
        )

        /** The file's state, checked: each entry wholly before or after the operation. */
        const check = inInbox(
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            const events = new Map(
              (yield* sql<{
                event_key: string
                processed_notify_id: string | null
              }>`SELECT event_key, processed_notify_id FROM witkey_inbox_events`).map((r) => [
                r.event_key,
                r.processed_notify_id
              ])
            )
            const inbox = yield* Inbox.Inbox
            let resolved = 0
            for (const id of ids) {
              const e = Option.getOrThrow(yield* inbox.get(id))
              const claimedBy = events.get(e.businessKey!)
              if (failing.includes(id)) {
                assert.include(["failing", "resolved"], e.status, id)
                if (e.status === "resolved") {
                  resolved++
                  assert.strictEqual(claimedBy, id, `${id} is resolved: its event is claimed by it`)
                  assert.strictEqual(e.resolution, `by hand ${id}`)
                  assert.strictEqual(e.state, "processed")
                } else {
                  assert.strictEqual(claimedBy, undefined, `${id} is not resolved: its event is free`)
                  assert.isUndefined(e.resolution)
                  assert.isUndefined(e.bodyRemovedAt, `${id} is not settled: its body stays`)
                }
              } else {
                assert.strictEqual(e.status, "processed")
                assert.strictEqual(claimedBy, id)
              }
              assert.strictEqual(
                e.body.length === 0,
                e.bodyRemovedAt !== undefined,
                `${id}: pruned wholly or not`
              )
            }
            return resolved
          })
        )

        // A few kills, each at a random moment after the operator's first resolve, then a run to the end.
        for (let round = 0; round < 4; round++) {
          const ran = yield* run(
            ["operate", filename, failing.join(","), "forever"],
            yield* Random.nextIntBetween(0, 300)
          )
          assert.strictEqual(ran.signal, "SIGKILL", ran.output)
          yield* check
        }
        lastLine(yield* run(["operate", filename, failing.join(",")]))
        assert.strictEqual(yield* check, failing.length)

        // Everything is settled and pruned; every notify_id and every event still de-duplicates.
        yield* inInbox(
          Effect.gen(function* () {
            const inbox = yield* Inbox.Inbox
            let ran = 0
            const handler = () => Effect.sync(() => void ran++)
            for (const [i, id] of ids.entries()) {
              const e = Option.getOrThrow(yield* inbox.get(id))
              assert.isDefined(e.bodyRemovedAt, `${id} was pruned`)
              const again = yield* inbox.receive(yield* delivery(id, `s-${i}`), handler)
              assert.notStrictEqual(again._tag, "Processed", id)
              const reissued = yield* inbox.receive(yield* delivery(`${id}-again`, `s-${i}`), handler)
              assert.deepStrictEqual(reissued, {
                _tag: "Duplicate",
                by: "business_key",
                processedNotifyId: id
              })
            }
            assert.strictEqual(ran, 0, "no handler ran again")
          })
        )
      }),
    300_000
  )
})
