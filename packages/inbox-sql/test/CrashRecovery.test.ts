// A receiver process is SIGKILLed in the middle of a stream of notifications, three times at three different
// moments, and restarted each time; the sandbox gateway keeps re-delivering what was not answered `success`,
// like Alipay. In the end every payout in the sandbox's ledger must have been processed exactly once: one row
// in the platform's payouts table (written by the handler in the inbox's transaction), no more, no less.
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlInbox from "../src/SqlInbox.js"
import * as Receivers from "./Receivers.js"

describe("crash recovery on SQLite", () => {
  it.scoped(
    "SIGKILL inside the handler, after the commit, and at random: every payout processed exactly once",
    () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-crash-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        )
        const filename = path.join(dir, "platform.db")
        const port = yield* Receivers.freePort
        const w = yield* Receivers.world(`http://127.0.0.1:${port}/alipay/notify`, (d) =>
          Receivers.post(port, d)
        )
        const env = { RECEIVER_PORT: String(port), RECEIVER_GATEWAY: w.gatewayUrl, RECEIVER_SQLITE: filename }
        yield* Receivers.queueHabits(w, 16)

        // 1. It dies inside its 12th handler run: the payout row is written, the transaction is open.
        const first = yield* Receivers.start({ ...env, RECEIVER_CRASH_IN_HANDLER_AT: "12" })
        yield* Receivers.payTasks(w, "crash", 0, 6)
        yield* Receivers.awaitExit(first)
        assert.include(first.output(), "crash in-handler")

        // 2. It dies right after its 10th commit, before it can answer `success`.
        const second = yield* Receivers.start({ ...env, RECEIVER_CRASH_AFTER_COMMIT_AT: "10" })
        yield* Receivers.quiesce(w)
        yield* TestClock.adjust("2 minutes")
        yield* Receivers.payTasks(w, "crash", 6, 12)
        yield* Receivers.awaitExit(second)
        assert.include(second.output(), "crash after-commit")

        // 3. Killed from outside once it has answered a few more.
        const third = yield* Receivers.start(env)
        const before = yield* Receivers.acknowledged(w)
        yield* Receivers.payTasks(w, "crash", 12, 16)
        yield* Receivers.waitUntil(
          "the restarted receiver answered 6 more",
          Effect.map(Receivers.acknowledged(w), (n) => n >= before + 6)
        )
        yield* third.kill

        // 4. Back for good: Alipay's retries bring everything that is left.
        const last = yield* Receivers.start(env)
        yield* Receivers.deliverEverything(w)
        yield* last.kill

        const { notifications, rows } = yield* Receivers.verifyExactlyOnce(w).pipe(
          Effect.provide(SqliteClient.layer({ filename }))
        )
        assert.strictEqual(rows.length, 16 * 4)
        assert.isTrue(
          notifications.some((n) => n.attempts.length > 1 && !n.attempts[0]!.acknowledged),
          "some notifications needed re-delivery"
        )
        assert.isTrue(
          notifications.some((n) => n.reissueOf !== undefined),
          "some events came under two notify_ids"
        )
        // The support view: a task's audit trail, raw bodies as the sandbox sent them.
        const trail = yield* Effect.flatMap(SqlInbox.make(), (inbox) => inbox.byTask("crash-1")).pipe(
          Effect.provide(SqliteClient.layer({ filename }))
        )
        const sent = notifications.filter((n) => n.outerTaskId === "crash-1")
        assert.deepStrictEqual(trail.map((e) => e.notifyId).sort(), sent.map((n) => n.notifyId).sort())
        for (const e of trail)
          assert.deepStrictEqual(
            Array.from(e.body),
            Array.from(sent.find((n) => n.notifyId === e.notifyId)!.body)
          )
      }),
    300_000
  )
})
