import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as PayoutJournalSuite from "@witkey/testkit/PayoutJournalSuite"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqlPayoutJournal from "../src/SqlPayoutJournal.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-journal-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

PayoutJournalSuite.suite(
  "SqlPayoutJournal on SQLite",
  Layer.unwrapScoped(
    Effect.map(tempDir, (dir) =>
      SqlPayoutJournal.layer({ tablePrefix: "ops_" }).pipe(
        Layer.provide(SqliteClient.layer({ filename: path.join(dir, "journal.db") }))
      )
    )
  )
)
