// The operator's commands on the databases `serve` and `confirm --journal` write (in process, see RunCli.ts):
// a payout confirmed through the journal and its notifications received by serve into the same SQLite file,
// then `inbox list/show/replay/resolve/prune` and `payouts list/reconcile/resume` on that file.
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as SqliteInbox from "@witkey/inbox-sql/SqliteInbox"
import * as NotificationSigner from "@witkey/testkit/NotificationSigner"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Duration, Effect, Redacted } from "effect"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import * as Database from "../src/Database.js"
import * as InboxCommand from "../src/InboxCommand.js"
import {
  assertOneErrorLine,
  lastJson,
  removeTempDirs,
  run,
  sandboxAndServe,
  start,
  tempDir,
  TIMEOUT
} from "./RunCli.js"

afterAll(removeTempDirs)

describe("inbox and payouts commands", () => {
  it.scoped(
    "confirm --journal and serve on one database; the operator's view of both",
    () =>
      Effect.gen(function* () {
        const db = join(tempDir("ops"), "witkey.db")
        const { gateway, info, receiver, serve, task } = yield* sandboxAndServe(db)
        const keys = [
          "--gateway",
          gateway,
          "--partner",
          String(info["partner"]),
          "--private-key",
          String(info["private_key"]),
          "--alipay-public-key",
          String(info["alipay_public_key"])
        ]
        const confirm = [
          "confirm",
          ...keys,
          "--task",
          task.outer_task_id,
          ...task.transfers.flatMap((serial) => ["--transfer", serial]),
          "--notify-url",
          receiver,
          "--journal",
          db,
          "--json"
        ]
        const first = yield* run(confirm)
        assert.strictEqual(first.code, 0, first.stderr)
        assert.strictEqual(lastJson(first)["outcome"], "confirmed")
        const notifications = task.transfers.length + 1
        yield* serve.waitFor(({ stdout }) =>
          stdout.split("\n").filter((l) => l.startsWith("{")).length >= notifications ? true : undefined
        )

        // The journal: one payout, confirmed; the same payout confirmed again is answered from the journal.
        const payouts = yield* run(["payouts", "list", "--db", db, "--json"])
        assert.strictEqual(payouts.code, 0, payouts.stderr)
        const listed = lastJson(payouts)["payouts"] as Array<Record<string, unknown>>
        assert.strictEqual(listed.length, 1)
        assert.strictEqual(listed[0]!["outcome"], "Confirmed")
        assert.strictEqual(listed[0]!["attempts"], 1)
        const again = yield* run(confirm)
        assert.strictEqual(again.code, 0, again.stderr)
        assert.strictEqual(lastJson(again)["outcome"], "confirmed")
        const after = lastJson(yield* run(["payouts", "list", "--db", db, "--json"]))["payouts"] as Array<
          Record<string, unknown>
        >
        assert.strictEqual(after[0]!["attempts"], 1, "a paid payout is not sent again")

        // Every serial matched with its ASSIGN notification; nothing to resume.
        const reconciled = yield* run(["payouts", "reconcile", "--db", db, "--json"])
        assert.strictEqual(reconciled.code, 0, reconciled.stdout + reconciled.stderr)
        const counts = lastJson(reconciled)["counts"] as Record<string, number>
        assert.strictEqual(counts["settled"], task.transfers.length)
        assert.strictEqual(lastJson(reconciled)["alarms"], 0)
        const resumed = yield* run(["payouts", "resume", "--db", db, ...keys, "--json"])
        assert.strictEqual(resumed.code, 0, resumed.stderr)
        assert.deepStrictEqual(lastJson(resumed), { resumed: [] })

        // The inbox: all processed, none failing; a timeline per notification.
        const processed = yield* run(["inbox", "list", "--db", db, "--state", "processed", "--json"])
        assert.strictEqual(processed.code, 0, processed.stderr)
        const entries = lastJson(processed)["entries"] as Array<Record<string, unknown>>
        assert.strictEqual(entries.length, notifications)
        // Newest first, and a limit that says when it cut the listing (on stderr: stdout stays the listing).
        const newest = yield* run(["inbox", "list", "--db", db, "--newest", "--limit", "2", "--json"])
        assert.strictEqual(newest.code, 0, newest.stderr)
        const latest = lastJson(newest)["entries"] as Array<Record<string, unknown>>
        const oldestFirst = lastJson(yield* run(["inbox", "list", "--db", db, "--json"]))["entries"] as Array<
          Record<string, unknown>
        >
        assert.deepStrictEqual(
          latest.map((e) => e["notify_id"]),
          oldestFirst
            .slice(-2)
            .reverse()
            .map((e) => e["notify_id"])
        )
        assert.strictEqual(
          InboxCommand.LIST_LIMIT,
          Inbox.DEFAULT_LIST_LIMIT,
          "--limit's default is the inbox's"
        )
        assert.isAbove(oldestFirst.length, 2, "enough entries for the limit to cut")
        assert.match(newest.stderr, /^witkey inbox list: 2 entries shown \(--limit\); there are more/)
        assert.strictEqual(lastJson(newest)["more"], true)
        const whole = yield* run([
          "inbox",
          "list",
          "--db",
          db,
          "--limit",
          String(oldestFirst.length),
          "--json"
        ])
        assert.strictEqual(whole.stderr, "", "a listing the limit does not cut says nothing")
        assert.strictEqual(lastJson(whole)["more"], false)
        const badLimit = yield* run(["inbox", "list", "--db", db, "--limit", "0"])
        assert.strictEqual(badLimit.code, 2)
        assertOneErrorLine(badLimit, /--limit 0: must be 1 or more/)
        const failing = lastJson(yield* run(["inbox", "list", "--db", db, "--state", "exhausted", "--json"]))
        assert.deepStrictEqual(failing, { entries: [], more: false })
        const id = String(entries[0]!["notify_id"])
        const shown = yield* run(["inbox", "show", id, "--db", db, "--json"])
        assert.strictEqual(shown.code, 0, shown.stderr)
        const attempts = lastJson(shown)["attempts"] as Array<Record<string, unknown>>
        assert.strictEqual(attempts[0]!["source"], "alipay")
        assert.strictEqual(attempts[0]!["outcome"], "processed")
        assert.strictEqual(attempts[0]!["notify_verify"], "true")

        // Replay and resolve leave a processed entry alone and say so; unknown ids exit 1.
        const replayed = yield* run(["inbox", "replay", id, "--db", db])
        assert.strictEqual(replayed.code, 0, replayed.stderr)
        assert.strictEqual(replayed.stdout, "")
        assert.match(replayed.stderr, /already processed/)
        const resolved = yield* run(["inbox", "resolve", id, "--db", db, "--note", "checked by hand"])
        assert.strictEqual(resolved.code, 0, resolved.stderr)
        assert.match(resolved.stdout, /already processed/)
        assertOneErrorLine(
          yield* run(["inbox", "replay", "no-such-id", "--db", db]),
          /no notification no-such-id/
        )
        assertOneErrorLine(
          yield* run(["inbox", "resolve", "no-such-id", "--db", db, "--note", "x"]),
          /no notification no-such-id/
        )
        assert.strictEqual((yield* run(["inbox", "show", "no-such-id", "--db", db])).code, 1)

        // Prune: nothing is that old yet; a bad age is bad usage.
        const pruned = yield* run(["inbox", "prune", "--db", db, "--older-than", "30d", "--json"])
        assert.strictEqual(pruned.code, 0, pruned.stderr)
        assert.deepStrictEqual(lastJson(pruned), { bodies: 0, attempts: 0 })
        const bad = yield* run(["inbox", "prune", "--db", db, "--older-than", "a month"])
        assert.strictEqual(bad.code, 2)
        assertOneErrorLine(bad, /--older-than/)
        assert.strictEqual((yield* run(["inbox", "list", "--db", db, "--state", "lost"])).code, 2)

        // A journal row damaged by hand: `payouts list` still lists it, apart, and exits 1 with one line.
        yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql`UPDATE witkey_payouts SET outcome = ${'{"_tag":"Paid"}'}`
        ).pipe(Effect.provide(SqliteClient.layer({ filename: db })))
        const broken = yield* run(["payouts", "list", "--db", db, "--json"])
        assert.strictEqual(broken.code, 1, broken.stderr)
        const errorLines = broken.stderr.split("\n").filter((l) => l !== "")
        assert.strictEqual(errorLines.length, 1, broken.stderr)
        assert.match(errorLines[0]!, /^witkey: 1 payout\(s\) in the journal do not decode/)
        assert.deepStrictEqual(lastJson(broken)["payouts"], [])
        const unreadable = lastJson(broken)["unreadable"] as Array<Record<string, unknown>>
        assert.deepStrictEqual(
          unreadable.map((u) => [u["outer_task_id"], u["stored_outcome"], u["problem"]]),
          [[task.outer_task_id, "Confirmed", "its outcome does not decode"]]
        )
        const text = yield* run(["payouts", "list", "--db", db])
        assert.strictEqual(text.code, 1)
        assert.match(
          text.stdout,
          new RegExp(`^UNREADABLE  ${task.outer_task_id}  .*its outcome does not decode$`, "m")
        )
      }),
    TIMEOUT
  )

  it.scoped(
    "payouts resume re-sends what a dead sender left unsettled, byte for byte, and it settles",
    () =>
      Effect.gen(function* () {
        const db = join(tempDir("resume"), "journal.db")
        const sandbox = yield* start(["sandbox", "--port", "0", "--tasks", "1", "--json"])
        const info = yield* sandbox.waitFor(({ stdout }) => {
          const line = stdout.split("\n").find((l) => l.startsWith("{"))
          return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>)
        })
        const gateway = String(info["gateway"])
        const partner = String(info["partner"])
        const task = (info["tasks"] as Array<{ outer_task_id: string; transfers: Array<string> }>)[0]!
        // A sender that recorded the payout, started its attempt and died: Pending, its claim long expired.
        const signer = yield* DsaSigner.make({
          privateKey: Redacted.make(readFileSync(String(info["private_key"]), "utf8"))
        })
        const client = Client.fromServices(
          { partner, gateway },
          {
            signer,
            verifier: Verifier.make(() => Effect.succeed(true)),
            transport: Transport.make(() => Effect.never)
          }
        )
        const request = yield* client.prepare({ outerTaskId: task.outer_task_id, transfers: task.transfers })
        yield* Effect.gen(function* () {
          const journal = yield* PayoutJournal.PayoutJournal
          const { entry } = yield* journal.record(request, { owner: "dead", until: Number.MAX_SAFE_INTEGER })
          yield* journal.startAttempt(entry.id, "dead")
          // Its lease ran out long ago (an attempt needs a live one: the journal's own claim, set back).
          yield* journal.claim(entry.id, { owner: "dead", until: 0 })
        }).pipe(Effect.scoped, Effect.provide(Database.inboxAndJournal(Database.parse(db))))

        const before = lastJson(yield* run(["payouts", "list", "--db", db, "--json"]))["payouts"] as Array<
          Record<string, unknown>
        >
        assert.deepStrictEqual([before[0]!["outcome"], before[0]!["settled"]], ["Pending", false])
        const args = [
          "--db",
          db,
          "--gateway",
          gateway,
          "--partner",
          partner,
          "--private-key",
          String(info["private_key"]),
          "--alipay-public-key",
          String(info["alipay_public_key"]),
          "--json"
        ]
        const resumed = yield* run(["payouts", "resume", ...args])
        assert.strictEqual(resumed.code, 0, resumed.stdout + resumed.stderr)
        const results = lastJson(resumed)["resumed"] as Array<Record<string, unknown>>
        assert.strictEqual(results.length, 1)
        assert.strictEqual(results[0]!["result"], "Settled")
        const after = lastJson(yield* run(["payouts", "list", "--db", db, "--json"]))["payouts"] as Array<
          Record<string, unknown>
        >
        assert.strictEqual(after[0]!["settled"], true)
        assert.strictEqual(after[0]!["attempts"], 2)
        // Settled: a second resume has nothing to do.
        assert.deepStrictEqual(lastJson(yield* run(["payouts", "resume", ...args])), { resumed: [] })
      }),
    TIMEOUT
  )

  it.effect(
    "replay runs serve's handler on a failed entry once, prints serve's processed line, then says it is done",
    () =>
      Effect.gen(function* () {
        const db = join(tempDir("replay"), "inbox.db")
        // A delivery whose handler failed (the receiver's database was down): recorded, not processed. Under
        // it.effect's TestClock it was received at the epoch, so for the command (real time) Alipay gave up on it.
        yield* Effect.gen(function* () {
          const signed = yield* NotificationSigner.sign({
            notifyId: "rp-1",
            notifyTime: "2026-11-25 10:30:00",
            payload: NotificationSigner.assign({
              outerTaskId: "t-rp",
              outerTransferNo: "s-1",
              transferAmount: "12.34",
              payeeUserId: "2088102122524333",
              gmtTransfer: "20261125103000"
            })
          }).pipe(Effect.provide(TestKeys.gatewaySigner))
          const notification = yield* Notification.decode({
            body: signed.body,
            contentType: signed.contentType
          }).pipe(Effect.provide(TestKeys.gatewayVerifier))
          const inbox = yield* Inbox.Inbox
          yield* Effect.flip(
            inbox.receive({ notification, body: signed.body, contentType: signed.contentType }, () =>
              Effect.fail("database down")
            )
          )
        }).pipe(Effect.scoped, Effect.provide(SqliteInbox.layer({ filename: db })))

        const failing = lastJson(yield* run(["inbox", "list", "--db", db, "--state", "exhausted", "--json"]))
        assert.deepStrictEqual(
          (failing["entries"] as Array<Record<string, unknown>>).map((e) => [
            e["notify_id"],
            e["last_error"]
          ]),
          [["rp-1", "database down"]]
        )
        const replayed = yield* run(["inbox", "replay", "rp-1", "--db", db])
        assert.strictEqual(replayed.code, 0, replayed.stderr)
        assert.deepStrictEqual(lastJson(replayed), {
          processed: "rp-1",
          sub_type: "ASSIGN_FOR_ANNOUNCE_PAYMENT",
          outer_task_id: "t-rp",
          outer_transfer_no: "s-1",
          transfer_amount: "12.34"
        })
        const again = yield* run(["inbox", "replay", "rp-1", "--db", db])
        assert.strictEqual(again.code, 0, again.stderr)
        assert.strictEqual(again.stdout, "")
        assert.match(again.stderr, /already processed/)
        const shown = lastJson(yield* run(["inbox", "show", "rp-1", "--db", db, "--json"]))
        assert.strictEqual(shown["status"], "processed")
        assert.deepStrictEqual(
          (shown["attempts"] as Array<Record<string, unknown>>).map((a) => [a["source"], a["outcome"]]),
          [
            ["alipay", "failed"],
            ["replay", "processed"]
          ]
        )
      }),
    TIMEOUT
  )

  it.effect(
    "a postgres:// URL that cannot be reached is named without its password",
    () =>
      Effect.gen(function* () {
        const result = yield* run(["inbox", "list", "--db", "postgres://u:hunter2@127.0.0.1:1/none"])
        assert.strictEqual(result.code, 2)
        assertOneErrorLine(result, /--db the PostgreSQL database/)
        assert.notInclude(result.stderr, "hunter2")
      }),
    TIMEOUT
  )

  it("--older-than: a number and a unit", () => {
    assert.deepStrictEqual(InboxCommand.parseAge("30d"), Duration.days(30))
    assert.deepStrictEqual(InboxCommand.parseAge("90m"), Duration.minutes(90))
    assert.isUndefined(InboxCommand.parseAge("30"))
    assert.isUndefined(InboxCommand.parseAge("-1d"))
  })
})
