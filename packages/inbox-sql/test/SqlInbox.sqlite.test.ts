import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as InboxOperationsSuite from "@witkey/testkit/InboxOperationsSuite"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import Sqlite from "better-sqlite3"
import { Cause, ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqliteInbox from "../src/SqliteInbox.js"
import * as SqlInbox from "../src/SqlInbox.js"
import { behaviour, Database } from "./SqlBehaviour.js"

/** A temporary directory for the scope's lifetime. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-inbox-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const inTempFile = <A, E>(make: (filename: string) => Layer.Layer<A, E>) =>
  Layer.unwrapScoped(Effect.map(tempDir, (dir) => make(path.join(dir, "inbox.db"))))

InboxSuite.suite(
  "SqlInbox on SQLite",
  inTempFile((filename) => SqliteInbox.layer({ filename }))
)

InboxOperationsSuite.suite("SqlInbox on SQLite", (policy) =>
  inTempFile((filename) => SqliteInbox.layer({ ...policy, filename }))
)

behaviour(
  "SQLite",
  inTempFile((filename) =>
    Layer.succeed(Database, { open: (options = {}) => SqliteInbox.layer({ ...options, filename }) })
  )
)

describe("SqlInbox on SQLite", () => {
  it.scoped("the file is in WAL mode with synchronous commits", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = path.join(dir, "wal.db")
      yield* Layer.build(SqliteInbox.layer({ filename }))
      const db = new Sqlite(filename, { readonly: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
      assert.strictEqual(db.pragma("journal_mode", { simple: true }), "wal")
      const tables = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((r) => (r as { name: string }).name)
      assert.deepStrictEqual(tables, [
        "witkey_inbox",
        "witkey_inbox_attempts",
        "witkey_inbox_events",
        "witkey_inbox_migrations"
      ])
    })
  )

  it.scoped("another process holding the write lock makes receive answer busy, then it goes through", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = path.join(dir, "busy.db")
      const context = yield* Layer.build(SqliteInbox.layer({ filename, busyTimeout: "20 millis" }))
      const inbox = Layer.succeedContext(context)
      const r = yield* InboxSuite.received({ notifyId: "busy-1", payload: InboxSuite.assign("busy", "s-1") })
      // A second connection stands in for another process: it holds the write lock.
      const other = new Sqlite(filename)
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      other.exec("BEGIN IMMEDIATE")
      const error = yield* Effect.flip(
        Effect.flatMap(Inbox.Inbox, (i) => i.receive(r, () => Effect.void)).pipe(Effect.provide(inbox))
      )
      assert.instanceOf(error, Inbox.InboxError)
      assert.strictEqual((error as Inbox.InboxError).reason, "busy")
      other.exec("ROLLBACK")
      const outcome = yield* Effect.flatMap(Inbox.Inbox, (i) => i.receive(r, () => Effect.void)).pipe(
        Effect.provide(inbox)
      )
      assert.deepStrictEqual(outcome, { _tag: "Processed" })
    })
  )

  it.scoped("layerSqliteConfig and layerConfig read their settings", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = path.join(dir, "config.db")
      const config = Layer.setConfigProvider(
        ConfigProvider.fromMap(
          new Map([
            ["WITKEY_INBOX_SQLITE_FILENAME", filename],
            ["WITKEY_INBOX_TABLE_PREFIX", "cfg_"]
          ])
        )
      )
      const r = yield* InboxSuite.received({ notifyId: "cfg-1", payload: InboxSuite.assign("cfg", "s-1") })
      yield* Effect.flatMap(Inbox.Inbox, (i) => i.receive(r, () => Effect.void)).pipe(
        Effect.provide(SqliteInbox.layerConfig().pipe(Layer.provide(config)))
      )
      // The generic layer over a client of the user's own, same prefix from configuration: sees the entry.
      const entry = yield* Effect.flatMap(Inbox.Inbox, (i) => i.get("cfg-1")).pipe(
        Effect.provide(
          SqlInbox.layerConfig().pipe(Layer.provide(SqliteClient.layer({ filename })), Layer.provide(config))
        )
      )
      assert.strictEqual(Option.getOrThrow(entry).state, "processed")
      const db = new Sqlite(filename, { readonly: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
      assert.isDefined(db.prepare("SELECT notify_id FROM cfg_inbox WHERE notify_id = 'cfg-1'").get())
      const missing = yield* Effect.exit(
        Layer.build(
          SqliteInbox.layerConfig().pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
          )
        )
      )
      assert.isTrue(
        Exit.isFailure(missing) && Cause.pretty(missing.cause).includes("WITKEY_INBOX_SQLITE_FILENAME")
      )
    })
  )
})
