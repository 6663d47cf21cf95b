// `sandbox`, `serve` and `confirm` together over loopback HTTP (each run in process, see RunCli.ts): a confirm
// is answered `confirmed`, its three notifications reach the receiver and are printed once each as processed,
// with the decoded task, serial and amount, and the identical confirm sent again is `already_confirmed`.
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import { lastJson, removeTempDirs, run, sandboxAndServe, tempDir, TIMEOUT } from "./RunCli.js"

afterAll(removeTempDirs)

const processedLines = (stdout: string) =>
  stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map(
      (line) =>
        JSON.parse(line) as {
          processed: string
          sub_type: string
          outer_task_id?: string
          outer_transfer_no?: string
          transfer_amount?: string
        }
    )

describe("sandbox, serve and confirm", () => {
  it.scoped(
    "a payout over HTTP, its notifications processed once, the re-send already confirmed",
    () =>
      Effect.gen(function* () {
        const { gateway, info, receiver, serve, task } = yield* sandboxAndServe(
          join(tempDir("serve"), "inbox.db")
        )

        const confirm = [
          "confirm",
          "--gateway",
          gateway,
          "--partner",
          String(info["partner"]),
          "--private-key",
          String(info["private_key"]),
          "--alipay-public-key",
          String(info["alipay_public_key"]),
          "--task",
          task.outer_task_id,
          ...task.transfers.flatMap((serial) => ["--transfer", serial]),
          "--notify-url",
          receiver,
          "--json"
        ]
        const first = yield* run(confirm)
        assert.strictEqual(first.code, 0, first.stderr)
        assert.deepStrictEqual(
          { ...lastJson(first), attempts: undefined },
          { outcome: "confirmed", outer_task_id: task.outer_task_id, attempts: undefined }
        )

        // One ASSIGN per winner and the service fee's PLATFORM_PROFIT, each printed once.
        const lines = yield* serve.waitFor(({ stdout }) => {
          const parsed = processedLines(stdout)
          return parsed.length >= 3 ? parsed : undefined
        })
        assert.deepStrictEqual(lines.map((l) => l.sub_type).sort(), [
          "ASSIGN_FOR_ANNOUNCE_PAYMENT",
          "ASSIGN_FOR_ANNOUNCE_PAYMENT",
          "PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT"
        ])
        assert.strictEqual(new Set(lines.map((l) => l.processed)).size, 3)
        // What was handled, as decoded: the task, each winner's serial once, amounts as wire text.
        for (const l of lines) {
          assert.strictEqual(l.outer_task_id, task.outer_task_id)
          assert.match(String(l.transfer_amount), /^\d+\.\d{2}$/)
        }
        assert.deepStrictEqual(
          lines
            .filter((l) => l.sub_type === "ASSIGN_FOR_ANNOUNCE_PAYMENT")
            .map((l) => l.outer_transfer_no)
            .sort(),
          [...task.transfers].sort()
        )
        const profit = lines.find((l) => l.sub_type === "PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT")
        assert.isFalse(profit !== undefined && "outer_transfer_no" in profit)

        const again = yield* run(confirm)
        assert.strictEqual(again.code, 0, again.stderr)
        const out = lastJson(again)
        assert.strictEqual(out["outcome"], "already_confirmed")
        assert.strictEqual(out["code"], "WITKEY_OUTER_TRANSFER_ALREADY_PAID")
        // Nothing new was paid, so nothing new was processed.
        assert.strictEqual(processedLines(serve.stdout()).length, 3)
      }),
    // Real sockets and a loaded machine: a bound against hangs, not a claim about speed.
    TIMEOUT
  )
})
