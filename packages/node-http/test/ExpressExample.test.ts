// examples/express.ts, started on a loopback port against the testkit sandbox (with testkit's MemoryInbox:
// @witkey/inbox-sql is not a dependency of this package).
import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxServer from "@witkey/testkit/SandboxServer"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Effect, Layer, Logger, LogLevel, ManagedRuntime, Schedule, TestClock } from "effect"
import * as http from "node:http"
import * as Example from "../../../examples/express.js"
import * as HttpTransport from "../src/HttpTransport.js"
import * as Harness from "./support/Harness.js"
import * as RawHttp from "./support/RawHttp.js"

/** Listens on 127.0.0.1 for the life of the scope, delegating to whatever `target()` is at request time. */
const listen = (target: () => http.RequestListener) => Harness.listenNode((req, res) => target()(req, res))

const json = (answer: RawHttp.Answer): Record<string, unknown> => JSON.parse(answer.body.toString("utf8"))

describe("examples/express.ts", () => {
  it.scoped("pays through the sandbox, and receives, verifies and records its notifications", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.make()
      const gateway = yield* SandboxServer.make().pipe(Effect.provideService(Sandbox.Sandbox, sandbox))
      yield* sandbox.registerTask({
        partner: TestKeys.partnerId,
        outerTaskId: "task-1",
        transfers: [
          { serial: "s-1", payeeUserId: "2088102122524333", amount: "120.00" },
          { serial: "s-2", payeeUserId: "2088102122524334", amount: "80.00" }
        ],
        serviceFee: "30.00",
        platformAccount: TestKeys.platformUserId
      })

      let app: http.RequestListener = (_req, res) => res.end()
      const base = yield* listen(() => app)
      const runtime = ManagedRuntime.make(
        Layer.mergeAll(
          NotificationReceiver.layerFromClient.pipe(
            Layer.provideMerge(
              Client.layer({
                partner: TestKeys.partnerId,
                gateway: gateway.gatewayUrl,
                notifyUrl: `${base}/alipay/notify`,
                retry: Schedule.recurs(2)
              })
            ),
            Layer.provide(Layer.merge(TestKeys.clientKeys, HttpTransport.layerNode()))
          ),
          MemoryInbox.layer,
          Example.PaidTransfersMemory,
          Logger.minimumLogLevel(LogLevel.Warning)
        )
      )
      yield* Effect.addFinalizer(() => runtime.disposeEffect)
      app = Example.makeApp(runtime)

      const payout = (taskId: string, transfers: ReadonlyArray<string>) =>
        RawHttp.post(
          `${base}/tasks/${taskId}/payout`,
          new TextEncoder().encode(JSON.stringify({ transfers })),
          "application/json"
        )

      const first = yield* payout("task-1", ["s-1", "s-2"])
      assert.strictEqual(first.status, 200)
      assert.strictEqual(json(first)["status"], "confirmed")

      // The sandbox delivers (on the TestClock) to the example's /alipay/notify, which asks notify_verify.
      yield* TestClock.adjust(0)
      yield* sandbox.awaitDeliveries
      const notifications = yield* sandbox.notifications
      assert.strictEqual(notifications.length, 3)
      assert.isTrue(notifications.every((n) => n.state === "acknowledged" && n.attempts.length === 1))
      const paid = yield* Effect.promise(() =>
        runtime.runPromise(Effect.flatMap(Example.PaidTransfers, (p) => p.all))
      )
      assert.deepStrictEqual(paid.map((p) => p._tag).sort(), ["Assign", "Assign", "PlatformProfit"])

      const again = yield* payout("task-1", ["s-1", "s-2"])
      assert.deepStrictEqual(json(again), {
        status: "already_confirmed",
        code: "WITKEY_OUTER_TRANSFER_ALREADY_PAID",
        afterResend: false
      })
      const unknownTask = yield* payout("task-404", ["s-9"])
      assert.strictEqual(unknownTask.status, 422)
      assert.deepStrictEqual(json(unknownTask), {
        status: "rejected",
        code: "WITKEY_TASK_NOT_EXIST",
        category: "business"
      })
      const invalid = yield* payout("task-1", [])
      assert.strictEqual(invalid.status, 400)
      assert.strictEqual(json(invalid)["status"], "invalid")
    })
  )
})
