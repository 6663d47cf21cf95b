// An inbox written by the release before issue 13 §1 (schema version 1, business keys joined without escaping)
// opens with today's code, keeps its rows, re-keys them, reopens the payout that was taken for another's
// duplicate, and de-duplicates correctly afterwards. SQLite: a copy of the fixture file the old release wrote
// (fixtures/README.md). PostgreSQL: a schema built by migration 1's own SQL (migrations are append-only, so it
// is the old release's text), with the fixture's rows restored into it under a table prefix of this test's.
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as Protocol from "@witkey/core/Protocol"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import * as TestKeys from "@witkey/testkit/TestKeys"
import Sqlite from "better-sqlite3"
import { Context, Effect, FastCheck, HashMap, Layer, Logger, Option, Redacted, Ref } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Migrations from "../src/Migrations.js"
import * as PgInbox from "../src/PgInbox.js"
import * as SqliteInbox from "../src/SqliteInbox.js"
import * as PgTest from "./PgTest.js"

const fixture = path.join(import.meta.dirname, "fixtures", "v1-inbox.db")

const ALL = [
  "fx-o1",
  "fx-o2",
  "fx-p1",
  "fx-a",
  "fx-b",
  "fx-a2",
  "fx-b2",
  "fx-k1",
  "fx-k2",
  "fx-f1",
  "fx-f2",
  "fx-u1"
]

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-upgrade-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** The fixture's rows, read with the driver alone (no inbox code). */
const fixtureRows = () => {
  const db = new Sqlite(fixture, { readonly: true })
  try {
    return {
      notifications: db.prepare("SELECT * FROM witkey_inbox ORDER BY id").all() as Array<
        Record<string, unknown>
      >,
      events: db.prepare("SELECT * FROM witkey_inbox_events").all() as Array<Record<string, unknown>>
    }
  } finally {
    db.close()
  }
}

/** Warnings logged while `effect` runs, with their `notify_ids` annotation. */
const capturingWarnings = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const warnings: Array<{ message: unknown; notifyIds: unknown }> = []
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      if (logLevel._tag === "Warning")
        warnings.push({ message, notifyIds: Option.getOrUndefined(HashMap.get(annotations, "notify_ids")) })
    })
    const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, warnings] as const
  })

/** The next delivery of a stored notification: its own bytes again, verified and decoded as a receiver would. */
const redelivery = (entry: Inbox.Entry) =>
  Notification.decode({ body: entry.body, contentType: entry.contentType }).pipe(
    Effect.provide(TestKeys.gatewayVerifier),
    Effect.map((notification): Inbox.Received => ({
      notification,
      body: entry.body,
      contentType: entry.contentType
    })),
    Effect.orDie
  )

/** What must hold after the upgrade, on any dialect; `context` is the upgraded inbox. */
const checkUpgraded = (
  context: Context.Context<Inbox.Inbox | SqlClient.SqlClient>,
  prefix: string,
  warnings: ReadonlyArray<{ message: unknown; notifyIds: unknown }>
) =>
  Effect.gen(function* () {
    const inbox = yield* Inbox.Inbox
    const sql = yield* SqlClient.SqlClient
    const before = fixtureRows()
    const get = (notifyId: string) =>
      Effect.map(
        inbox.get(notifyId),
        Option.getOrThrowWith(() => new Error(`${notifyId} was lost`))
      )

    // Every row kept, bytes and counts intact; every migration recorded.
    const entries = new Map<string, Inbox.Entry>()
    for (const notifyId of ALL) entries.set(notifyId, yield* get(notifyId))
    assert.deepStrictEqual(
      before.notifications.map((r) => r["notify_id"]),
      ALL
    )
    for (const row of before.notifications) {
      const e = entries.get(row["notify_id"] as string)!
      assert.deepStrictEqual(Array.from(e.body), Array.from(row["body"] as Uint8Array))
      assert.strictEqual(e.deliveries, Number(row["deliveries"]))
      assert.strictEqual(e.firstReceivedAt, Number(row["first_received_at"]))
    }
    const versions = yield* sql<{
      version: number | string
    }>`SELECT version FROM ${sql(`${prefix}inbox_migrations`)} ORDER BY version`
    assert.deepStrictEqual(
      versions.map((r) => Number(r.version)),
      [1, 2, 3]
    )

    // Every stored key is the one core computes from the stored, signed body.
    for (const e of entries.values()) {
      const n = (yield* redelivery(e)).notification
      assert.strictEqual(e.businessKey, Notification.businessKey(n), e.notifyId)
    }
    const events = yield* sql<{
      event_key: string
      processed_notify_id: string
    }>`SELECT event_key, processed_notify_id FROM ${sql(`${prefix}inbox_events`)}`
    for (const { event_key, processed_notify_id } of events)
      assert.strictEqual(
        event_key,
        Notification.eventKey((yield* redelivery(entries.get(processed_notify_id)!)).notification)
      )
    assert.strictEqual(events.length, before.events.length)

    // B and its re-issue B2 were other payouts taken for A's duplicates: reopened, and said so once.
    for (const notifyId of ["fx-b", "fx-b2"]) {
      const e = entries.get(notifyId)!
      assert.strictEqual(e.state, "failed")
      assert.isUndefined(e.duplicateOf)
      assert.isUndefined(e.processedAt)
      assert.include(e.lastError ?? "", "fx-a")
    }
    assert.deepStrictEqual(
      warnings.map((w) => w.notifyIds),
      ["fx-b, fx-b2"]
    )
    // A true re-issue of A and an ordinary duplicate stay what they were.
    assert.strictEqual(entries.get("fx-a2")!.duplicateOf, "fx-a")
    assert.strictEqual(entries.get("fx-o2")!.duplicateOf, "fx-o1")
    assert.strictEqual(entries.get("fx-a")!.state, "processed")

    // The next deliveries: B's runs its handler; everything else de-duplicates as before.
    const runs = yield* Ref.make<ReadonlyArray<ReadonlyArray<string>>>([])
    const handler = (n: Notification.Notification) =>
      Ref.update(runs, (r) => [
        ...r,
        [
          n.notifyId,
          n.payload.outerTaskId ?? "",
          n.payload._tag === "Assign" ? n.payload.outerTransferNo : ""
        ]
      ])
    const deliver = (r: Inbox.Received) => inbox.receive(r, handler)
    const again = (notifyId: string) => Effect.flatMap(redelivery(entries.get(notifyId)!), deliver)
    const processed = { _tag: "Processed" } as const
    const duplicate = (by: "notify_id" | "business_key", processedNotifyId: string) =>
      ({ _tag: "Duplicate", by, processedNotifyId }) as const
    const reissue = (notifyId: string, task: string, serial: string) =>
      Effect.flatMap(InboxSuite.received({ notifyId, payload: InboxSuite.assign(task, serial) }), deliver)

    assert.deepStrictEqual(yield* again("fx-b"), processed)
    assert.deepStrictEqual(yield* again("fx-b2"), duplicate("business_key", "fx-b"))
    assert.deepStrictEqual(yield* again("fx-a"), duplicate("notify_id", "fx-a"))
    assert.deepStrictEqual(yield* again("fx-a2"), duplicate("notify_id", "fx-a"))
    assert.deepStrictEqual(yield* again("fx-o2"), duplicate("notify_id", "fx-o1"))
    assert.deepStrictEqual(yield* again("fx-p1"), duplicate("notify_id", "fx-p1"))
    assert.deepStrictEqual(yield* again("fx-u1"), duplicate("notify_id", "fx-u1"))
    assert.deepStrictEqual(yield* again("fx-f1"), processed)
    assert.deepStrictEqual(yield* again("fx-f2"), processed)
    // Re-issues under new notify_ids find the events re-keyed, including the two whose keys traded places.
    assert.deepStrictEqual(yield* reissue("up-1", "X|Y", "Z"), duplicate("business_key", "fx-a"))
    assert.deepStrictEqual(yield* reissue("up-2", "X", "Y|Z"), duplicate("business_key", "fx-b"))
    assert.deepStrictEqual(yield* reissue("up-3", "t-1", "s-1"), duplicate("business_key", "fx-o1"))
    assert.deepStrictEqual(yield* reissue("up-4", "a|b", "c"), duplicate("business_key", "fx-k1"))
    assert.deepStrictEqual(yield* reissue("up-5", "a\\", "b|c"), duplicate("business_key", "fx-k2"))
    assert.deepStrictEqual(yield* reissue("up-6", "M|N", "O"), duplicate("business_key", "fx-f2"))
    assert.deepStrictEqual(yield* Ref.get(runs), [
      ["fx-b", "X", "Y|Z"],
      ["fx-f1", "t-2", "s-1"],
      ["fx-f2", "M|N", "O"]
    ])
    // (The fixture's times are real ones, the test's come from the TestClock: compared by notify_id.)
    assert.deepStrictEqual(
      (yield* inbox.byTask("X")).map((e) => [e.notifyId, e.state, e.duplicateOf]).sort(),
      [
        ["fx-b", "processed", undefined],
        ["fx-b2", "processed", "fx-b"],
        ["up-2", "processed", "fx-b"]
      ]
    )
  }).pipe(Effect.provide(context))

describe("an inbox of the previous release (schema 1, unescaped business keys)", () => {
  it.scoped("on SQLite: the fixture file opens, keeps its rows and de-duplicates correctly afterwards", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = path.join(dir, "inbox.db")
      fs.copyFileSync(fixture, filename)
      const [context, warnings] = yield* capturingWarnings(Layer.build(SqliteInbox.layer({ filename })))
      yield* checkUpgraded(context, Migrations.DEFAULT_TABLE_PREFIX, warnings)
    })
  )
})

// Any history the previous release could have written, then the upgrade and Alipay's retries: every event's
// handler has run exactly once in all (before or after the upgrade). The old release is modelled by its own
// rules: a plain `|` join as the key, first claim wins, later ones marked its duplicates, failures unclaimed.
const idPart = FastCheck.string({ unit: FastCheck.constantFrom("a", "|", "\\"), minLength: 1, maxLength: 3 })
/** Events with `|` and backslashes, often in pairs whose plain join is one string (moved task/serial boundary). */
const Events = FastCheck.array(
  FastCheck.oneof(
    FastCheck.tuple(idPart, idPart).map((event) => [event]),
    FastCheck.tuple(idPart, idPart, idPart).map(([a, b, c]) => [
      [`${a}|${b}`, c] as const,
      [a, `${b}|${c}`] as const
    ])
  ),
  { minLength: 1, maxLength: 4 }
).map((groups) => groups.flat())
const History = FastCheck.record({
  events: Events,
  deliveries: FastCheck.array(
    FastCheck.record({ event: FastCheck.nat(7), alias: FastCheck.nat(1), fails: FastCheck.boolean() }),
    { maxLength: 12 }
  )
})

describe("the upgrade on any history of the previous release", () => {
  it.effect.prop(
    "every event's handler runs exactly once across the upgrade",
    [History],
    ([history]) =>
      Effect.gen(function* () {
        const assign = Protocol.Notify.assign
        const t = Migrations.tables(Migrations.DEFAULT_TABLE_PREFIX)
        const event = (i: number) => history.events[i % history.events.length]!
        const notifyId = (i: number, alias: number) => `h-${i % history.events.length}-${alias}`
        const eventName = ([task, serial]: readonly [string, string]) => JSON.stringify([task, serial])
        const ran = new Map<string, number>()
        const count = (task: string, serial: string) =>
          void ran.set(eventName([task, serial]), (ran.get(eventName([task, serial])) ?? 0) + 1)

        // The previous release's tables and rows, written by its rules.
        const old = new Sqlite(":memory:")
        old.exec(
          `CREATE TABLE "${t.migrations}" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`
        )
        for (const statement of Migrations.migrations.find((m) => m.version === 1)!.statements(t, "sqlite"))
          old.exec(statement)
        old.exec(`INSERT INTO "${t.migrations}" VALUES (1, 'inbox', 0)`)
        for (const d of history.deliveries) {
          const [task, serial] = event(d.event)
          const id = notifyId(d.event, d.alias)
          const key = `${assign}|${task}|${serial}`
          const row = old.prepare(`SELECT state FROM "${t.notifications}" WHERE notify_id = ?`).get(id) as
            { state: string } | undefined
          if (row === undefined)
            old
              .prepare(
                `INSERT INTO "${t.notifications}" (notify_id, event_key, business_key, sub_type, outer_task_id, outer_transfer_no, body, first_received_at, last_received_at, deliveries, state) VALUES (?, ?, ?, ?, ?, ?, x'00', 0, 0, 1, 'pending')`
              )
              .run(id, key, key, assign, task, serial)
          if (row?.state === "processed") continue
          const claim = old
            .prepare(`SELECT processed_notify_id FROM "${t.events}" WHERE event_key = ?`)
            .get(key) as { processed_notify_id: string } | undefined
          if (claim !== undefined)
            old
              .prepare(
                `UPDATE "${t.notifications}" SET state = 'processed', processed_at = 0, duplicate_of = ? WHERE notify_id = ?`
              )
              .run(claim.processed_notify_id, id)
          else if (d.fails)
            old
              .prepare(
                `UPDATE "${t.notifications}" SET state = 'failed', last_error = 'x' WHERE notify_id = ?`
              )
              .run(id)
          else {
            old.prepare(`INSERT INTO "${t.events}" VALUES (?, ?, 0)`).run(key, id)
            old
              .prepare(
                `UPDATE "${t.notifications}" SET state = 'processed', processed_at = 0 WHERE notify_id = ?`
              )
              .run(id)
            count(task, serial)
          }
        }

        // Upgraded, then every notify_id once more (Alipay's retries, or the operator's replay of a reopened one).
        const bytes = old.serialize()
        old.close()
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "witkey-upgrade-prop-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const filename = path.join(dir, "inbox.db")
        fs.writeFileSync(filename, bytes)
        const context = yield* Layer.build(SqliteInbox.layer({ filename }))
        const inbox = Context.get(context, Inbox.Inbox)
        const seen = new Set(history.deliveries.map((d) => notifyId(d.event, d.alias)))
        for (const d of history.deliveries) {
          const id = notifyId(d.event, d.alias)
          if (!seen.delete(id)) continue
          const [task, serial] = event(d.event)
          const r = yield* InboxSuite.received({ notifyId: id, payload: InboxSuite.assign(task, serial) })
          yield* inbox.receive(r, (n) =>
            Effect.sync(
              () => n.payload._tag === "Assign" && count(n.payload.outerTaskId, n.payload.outerTransferNo)
            )
          )
        }
        const delivered = new Set(history.deliveries.map((d) => eventName(event(d.event))))
        assert.deepStrictEqual(
          [...ran.entries()].sort(),
          [...delivered].sort().map((name) => [name, 1])
        )
      }).pipe(Effect.scoped),
    { timeout: 120_000, fastCheck: { numRuns: 25 } }
  )
})

const unavailable = await PgTest.unavailable

/**
 * A PostgreSQL schema as the previous release left it: migration 1's statements (the old release's text:
 * applied migrations are never edited) and its record, then the fixture's rows restored under `prefix`.
 */
const restoreV1 = (url: string, prefix: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const t = Migrations.tables(prefix)
    yield* sql.unsafe(
      `CREATE TABLE "${t.migrations}" (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`
    )
    for (const statement of Migrations.migrations.find((m) => m.version === 1)!.statements(t, "pg"))
      yield* sql.unsafe(statement)
    yield* sql`INSERT INTO ${sql(t.migrations)} (version, name, applied_at) VALUES (1, 'inbox', 0)`
    const rows = fixtureRows()
    for (const row of rows.notifications)
      yield* sql`INSERT INTO ${sql(t.notifications)} ${sql.insert({ ...row, body: Uint8Array.from(row["body"] as Uint8Array) })}`
    for (const row of rows.events) yield* sql`INSERT INTO ${sql(t.events)} ${sql.insert(row)}`
    // As a restore does: the identity continues after the restored ids.
    yield* sql`SELECT setval(pg_get_serial_sequence(${t.notifications}, 'id'), (SELECT MAX(id) FROM ${sql(t.notifications)}))`
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })))

if (unavailable === undefined)
  describe("an inbox of the previous release (schema 1, unescaped business keys)", () => {
    it.scoped("on PostgreSQL: a schema of migration 1 with the fixture's rows upgrades the same way", () =>
      Effect.gen(function* () {
        const url = yield* PgTest.scopedSchema("upgrade")
        const prefix = "upg_"
        yield* restoreV1(url, prefix)
        const [context, warnings] = yield* capturingWarnings(
          Layer.build(PgInbox.layer({ url, tablePrefix: prefix }))
        )
        yield* checkUpgraded(context, prefix, warnings)
      })
    )
  })
// Without a server, SqlInbox.pg.test.ts reports the skip (or the failure, under WITKEY_PG_REQUIRED=1).
