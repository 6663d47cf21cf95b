// A replaying operator process for ReplayCrash.test.ts: replays one notification from a SQLite inbox with a
// handler that writes a payout row in the inbox's transaction, and kills itself where told (SIGKILL, as
// `kill -9` would):
//   node replayer.mjs (bundled by Bundle.ts) <file.db> <notify_id> [in-handler | after-commit]
import * as SqlClient from "@effect/sql/SqlClient"
import * as Inbox from "@witkey/core/Inbox"
import { Effect } from "effect"
import * as SqliteInbox from "../src/SqliteInbox.js"

const [filename, notifyId, crash] = process.argv.slice(2)
if (filename === undefined || notifyId === undefined)
  throw new Error("usage: replayer.ts <file.db> <notify_id> [crash]")

const die = () => process.kill(process.pid, "SIGKILL")

const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const ops = yield* Inbox.Operations
  const outcome = yield* ops.replay(notifyId, (n) =>
    Effect.zipRight(
      sql`INSERT INTO payouts (notify_id) VALUES (${n.notifyId})`,
      Effect.sync(() => {
        if (crash === "in-handler") die()
      })
    )
  )
  if (crash === "after-commit") die()
  process.stdout.write(`${JSON.stringify(outcome)}\n`)
}).pipe(Effect.provide(SqliteInbox.layer({ filename })))

Effect.runPromise(program).catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`)
  process.exit(1)
})
