// kill -9 during a replay on SQLite: killed inside the handler, nothing of it stays (the entry is still
// failing, no payout); killed after the commit, before it could report, the payout is there once and the entry
// processed; the next replay does nothing and says so.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import { Effect, Option, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqliteInbox from "../src/SqliteInbox.js"
import * as Bundle from "./Bundle.js"

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "replayer.ts")

class Outage extends Schema.TaggedError<Outage>()("Outage", { message: Schema.String }) {}

/** Runs the replayer to its end: its exit signal and what it printed. */
const replayer = (filename: string, notifyId: string, crash?: string) =>
  Effect.flatMap(Bundle.bundled(SCRIPT), (script) =>
    Effect.async<{ readonly signal: string | null; readonly code: number | null; readonly output: string }>(
      (resume) => {
        const child = ChildProcess.spawn(
          process.execPath,
          [script, filename, notifyId, ...(crash ? [crash] : [])],
          { stdio: ["ignore", "pipe", "pipe"] }
        )
        let output = ""
        child.stdout.on("data", (chunk: Buffer) => void (output += chunk.toString()))
        child.stderr.on("data", (chunk: Buffer) => void (output += chunk.toString()))
        child.on("exit", (code, signal) => resume(Effect.succeed({ code, signal, output })))
        return Effect.sync(() => void child.kill("SIGKILL"))
      }
    )
  )

const inInbox = <A, E>(
  filename: string,
  body: Effect.Effect<A, E, Inbox.Inbox | Inbox.Operations | SqlClient.SqlClient>
) => Effect.scoped(Effect.provide(body, SqliteInbox.layer({ filename })))

describe("replay under kill -9 on SQLite", () => {
  it.scoped(
    "killed inside the handler leaves nothing; killed after the commit leaves one payout; then AlreadyProcessed",
    () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-replay-crash-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        )
        const filename = path.join(dir, "platform.db")
        const r = yield* InboxSuite.received({ notifyId: "rc-1", payload: InboxSuite.assign("rc", "s-1") })
        const payouts = Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ notify_id: string }>`SELECT notify_id FROM payouts`
        )
        const state = Effect.flatMap(Inbox.Inbox, (inbox) => inbox.get("rc-1")).pipe(
          Effect.map((e) => Option.getOrThrow(e))
        )
        yield* inInbox(
          filename,
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            yield* sql`CREATE TABLE payouts (notify_id TEXT NOT NULL)`
            const inbox = yield* Inbox.Inbox
            yield* Effect.flip(inbox.receive(r, () => Effect.fail(new Outage({ message: "ledger down" }))))
          })
        )

        const inHandler = yield* replayer(filename, "rc-1", "in-handler")
        assert.strictEqual(inHandler.signal, "SIGKILL", inHandler.output)
        yield* inInbox(
          filename,
          Effect.gen(function* () {
            assert.deepStrictEqual(yield* payouts, [], "the killed replay's write is gone")
            const e = yield* state
            assert.strictEqual(e.status, "failing")
            assert.strictEqual(e.deliveries, 1)
          })
        )

        const afterCommit = yield* replayer(filename, "rc-1", "after-commit")
        assert.strictEqual(afterCommit.signal, "SIGKILL", afterCommit.output)
        yield* inInbox(
          filename,
          Effect.gen(function* () {
            assert.deepStrictEqual(
              (yield* payouts).map((p) => p.notify_id),
              ["rc-1"]
            )
            assert.strictEqual((yield* state).status, "processed")
          })
        )

        const again = yield* replayer(filename, "rc-1")
        assert.strictEqual(again.code, 0, again.output)
        assert.include(again.output, "AlreadyProcessed")
        yield* inInbox(
          filename,
          Effect.gen(function* () {
            assert.strictEqual((yield* payouts).length, 1)
          })
        )
      }),
    180_000
  )
})
