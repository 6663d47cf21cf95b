// examples/express-promise.ts, on a loopback port against the testkit sandbox over HTTP, with a SQLite inbox.
import { assert, describe, it } from "@effect/vitest"
import * as Fault from "@witkey/testkit/Fault"
import { Effect } from "effect"
import { join } from "node:path"
import * as Example from "../../../examples/express-promise.js"
import { Witkey } from "../src/index.js"
import { eventually, listen, options, sandbox, tempDir } from "./Support.js"

describe("examples/express-promise.ts", () => {
  it.scopedLive("pays through the sandbox, tells every outcome apart, and records the notifications", () =>
    Effect.gen(function* () {
      const { sandbox: gw, server } = yield* sandbox(["task-1", "task-2"])
      const dir = yield* tempDir
      let app: Parameters<typeof listen>[0] = (_req, res) => res.end()
      const base = yield* listen((req, res) => app(req, res))
      const wk = new Witkey(options(server.gatewayUrl, { notifyUrl: `${base}/alipay/notify` }))
      yield* Effect.addFinalizer(() => Effect.promise(() => wk.close()))
      const paid = new Example.PaidTransfers()
      app = Example.makeApp(wk, join(dir, "inbox.db"), paid)

      const payout = (taskId: string, transfers: ReadonlyArray<string>) =>
        Effect.promise(async () => {
          const res = await fetch(`${base}/tasks/${taskId}/payout`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ transfers })
          })
          return { status: res.status, body: (await res.json()) as Record<string, unknown> }
        })

      const first = yield* payout("task-1", ["task-1-a", "task-1-b"])
      assert.deepStrictEqual(first, {
        status: 200,
        body: { status: "confirmed", outerTaskId: "task-1", attempts: 1 }
      })
      yield* eventually(
        Effect.map(
          gw.notifications,
          (all) => all.length === 3 && all.every((n) => n.state === "acknowledged")
        ),
        "three acknowledged notifications"
      )
      assert.deepStrictEqual(paid.all.map((n) => n.outerTransferNo ?? "fee").sort(), [
        "fee",
        "task-1-a",
        "task-1-b"
      ])

      const again = yield* payout("task-1", ["task-1-a", "task-1-b"])
      assert.strictEqual(again.body["status"], "already_confirmed")
      const rejected = yield* payout("task-404", ["x"])
      assert.deepStrictEqual(rejected, {
        status: 422,
        body: { status: "rejected", code: "WITKEY_TASK_NOT_EXIST", category: "business" }
      })
      const invalid = yield* payout("task-1", [])
      assert.strictEqual(invalid.status, 400)
      assert.strictEqual(invalid.body["status"], "invalid")
      // The gateway pays, then the connection breaks before the answer: unknown, and it may have paid.
      yield* gw.queueAnswerFaults(Fault.drop({ mode: "reset" }))
      const lost = yield* payout("task-2", ["task-2-a"])
      assert.deepStrictEqual(lost, {
        status: 202,
        body: { status: "unknown", reason: "transport", mayHaveReached: true }
      })
    })
  )
})
