// Where the time of row 7 goes. Not part of `pnpm bench`; run it with
// `pnpm --filter @witkey/bench endpoint`.
//
// Part 1, over HTTP with the row's own client loop (32 in flight, keep-alive, unique signed notifications),
// one server process after the other: node:http doing nothing but answer, the row's bare handler (verify plus
// one flushed insert), the SDK endpoint with an in-memory inbox (no storage at all), and the SDK endpoint with
// the SQLite inbox (the row itself).
//
// Part 2, in process, one call after the other: the inbox's own transaction written directly on
// better-sqlite3 (the same statements and settings as `SqlInbox.receive`; keep them in step), against
// `SqlInbox.receive` (one at a time, and 32 in flight, where SQLite deliveries share commits) and the bare
// insert, and the decode the endpoint runs first.
//
// Part 3, PostgreSQL (row 7b; skipped with a line saying why when no server answers): the same HTTP ladder
// at 16 in flight with pools of 16 (the bare handler's one `pg` INSERT, the SDK endpoint with `PgInbox`), then
// in process `PgInbox`'s `receive` (named statements, the default, and `preparedStatements: false`; at 16 in
// flight the deliveries that wait share transactions, `pgBatch.ts`) against one
// bare `pg` INSERT, 1 and 16 in flight, wall and CPU time per delivery, three alternating rounds (CPU time is
// the steadier reading on a busy machine), and the CPU time of the PostgreSQL server's processes per delivery
// when it runs on this machine (read from /proc; other clients of the server count too): on a machine of two
// cores, PostgreSQL's work per delivery competes with the endpoint's.
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as SqliteInbox from "@witkey/inbox-sql/SqliteInbox"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import Database from "better-sqlite3"
import { Context, Effect, Either, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import * as Http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { notification, verifier } from "./src/Inputs.js"
import { drive, request, startChild } from "./src/Load.js"
import { PG_URL, urlFor, withSchemas } from "./src/rows/Endpoint.js"
import * as PgInbox from "@witkey/inbox-sql/PgInbox"
import { createRequire } from "node:module"
import { postgresMicros } from "./src/MachineCpu.js"

const dir = mkdtempSync(join(tmpdir(), "witkey-endpoint-"))
const out = (line: string) => process.stdout.write(`${line}\n`)

// --- part 1 ------------------------------------------------------------------------------------------------

const PER_SERVER = 3000
const agent = new Http.Agent({ keepAlive: true, maxSockets: 32 })
let next = 0
out("over HTTP, 32 in flight (requests/s; higher is better)")
for (const mode of ["noop", "bare", "memory", "sdk"] as const) {
  const server = await startChild<{ url: string }>(
    new URL("./src/servers/EndpointProcess.ts", import.meta.url),
    [mode, join(dir, `${mode}.sqlite`)]
  )
  try {
    const batch = Array.from({ length: PER_SERVER }, () => notification(next++))
    const post = (k: number) =>
      request(server.info.url, {
        agent,
        method: "POST",
        body: batch[k]!.body,
        contentType: batch[k]!.contentType
      }).then((answer) => {
        if (answer.body !== "success") throw new Error(`${mode} answered ${answer.status} ${answer.body}`)
      })
    await drive({ count: 300 }, 32, post)
    const hz = await drive({ count: PER_SERVER }, 32, (k) => post(k % PER_SERVER))
    out(`  ${mode.padEnd(8)} ${hz.toFixed(0).padStart(6)} /s`)
  } finally {
    await server.stop()
  }
}
agent.destroy()

// --- part 2 ------------------------------------------------------------------------------------------------

const N = 2000
const received = (i: number): Inbox.Received => {
  const n = notification(1_000_000 + i)
  const decoded = Effect.runSync(
    Notification.decodeWith(verifier, { body: n.body, contentType: n.contentType })
  )
  return { notification: decoded, body: n.body, contentType: n.contentType }
}
const inputs = Array.from({ length: N + 200 }, (_, i) => received(i))
const concurrentInputs = Array.from({ length: N + 200 }, (_, i) => received(2_000_000 + i))
/** Each row runs on its own store, so every row sees every notification once: 200 to warm up, N measured. */
const micros = async (run: (r: Inbox.Received) => Promise<unknown> | unknown) => {
  for (let i = 0; i < 200; i++) await run(inputs[i]!)
  const start = performance.now()
  for (let i = 200; i < N + 200; i++) await run(inputs[i]!)
  return ((performance.now() - start) * 1000) / N
}

const raw = new Database(join(dir, "raw.sqlite"))
raw.pragma("journal_mode = WAL")
raw.pragma("synchronous = FULL")
raw.exec(`CREATE TABLE n (id INTEGER PRIMARY KEY, notify_id TEXT NOT NULL UNIQUE, event_key TEXT NOT NULL,
  business_key TEXT, sub_type TEXT NOT NULL, outer_task_id TEXT, outer_transfer_no TEXT, body BLOB NOT NULL,
  content_type TEXT, first_received_at INTEGER NOT NULL, last_received_at INTEGER NOT NULL,
  deliveries INTEGER NOT NULL, state TEXT NOT NULL, processed_at INTEGER, last_error TEXT, duplicate_of TEXT)`)
raw.exec("CREATE INDEX n_by_task ON n (outer_task_id, first_received_at, id)")
raw.exec("CREATE TABLE e (event_key TEXT PRIMARY KEY, processed_notify_id TEXT, processed_at INTEGER)")
raw.exec(`CREATE TABLE a (id INTEGER PRIMARY KEY, notify_id TEXT NOT NULL, at INTEGER NOT NULL, source TEXT NOT NULL,
  verification TEXT NOT NULL, verified_by TEXT, notify_verify TEXT, outcome TEXT NOT NULL, error TEXT,
  duration_ms INTEGER NOT NULL)`)
raw.exec("CREATE INDEX a_by_notify_id ON a (notify_id, at)")
raw.exec("CREATE INDEX a_by_at ON a (at)")
raw.exec("CREATE TABLE bare (notify_id TEXT PRIMARY KEY, body BLOB NOT NULL, received_at INTEGER NOT NULL)")
const upsert = raw.prepare(`INSERT INTO n (notify_id, event_key, business_key, sub_type, outer_task_id,
  outer_transfer_no, body, content_type, first_received_at, last_received_at, deliveries, state, last_error)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'pending', NULL)
  ON CONFLICT (notify_id) DO UPDATE SET deliveries = n.deliveries + 1, last_received_at = excluded.last_received_at
  RETURNING state, duplicate_of`)
const claim = raw.prepare(`INSERT INTO e (event_key, processed_notify_id, processed_at) VALUES (?, ?, ?)
  ON CONFLICT (event_key) DO UPDATE SET processed_notify_id = COALESCE(e.processed_notify_id, excluded.processed_notify_id),
  processed_at = COALESCE(e.processed_at, excluded.processed_at) RETURNING processed_notify_id`)
const mark = raw.prepare(
  "UPDATE n SET state = 'processed', processed_at = ?, last_error = NULL, duplicate_of = NULL WHERE notify_id = ?"
)
const attempt =
  raw.prepare(`INSERT INTO a (notify_id, at, source, verification, verified_by, notify_verify, outcome,
  error, duration_ms) VALUES (?, ?, 'alipay', 'signature', NULL, 'not_asked', 'processed', NULL, 0)`)
const bareInsert = raw.prepare("INSERT OR IGNORE INTO bare (notify_id, body, received_at) VALUES (?, ?, ?)")
const begin = raw.prepare("BEGIN")
const commit = raw.prepare("COMMIT")

const rawTransaction = (r: Inbox.Received) => {
  const n = r.notification
  const key = Notification.businessKey(n) ?? `notify_id:${n.notifyId}`
  const now = Date.now()
  const transferNo = n.payload._tag === "Assign" ? n.payload.outerTransferNo : null
  begin.run()
  upsert.get(
    n.notifyId,
    key,
    key,
    n.payload.subType,
    n.payload.outerTaskId ?? null,
    transferNo,
    r.body,
    r.contentType ?? null,
    now,
    now
  )
  claim.get(key, n.notifyId, now)
  mark.run(now, n.notifyId)
  attempt.run(n.notifyId, now)
  commit.run()
}

const viaInbox = (layer: Layer.Layer<Inbox.Inbox, unknown>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      return yield* Effect.promise(() =>
        micros((r) => Effect.runPromise(inbox.receive(r, () => Effect.void)))
      )
    }).pipe(Effect.provide(layer))
  )

/** 32 receives in flight at a time: on SQLite they share commits (group commit). µs per notification. */
const viaInboxConcurrent = (layer: Layer.Layer<Inbox.Inbox, unknown>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const inbox = yield* Inbox.Inbox
      const run = (slice: ReadonlyArray<Inbox.Received>) =>
        Effect.forEach(slice, (r) => inbox.receive(r, () => Effect.void), { concurrency: 32, discard: true })
      yield* run(concurrentInputs.slice(0, 200))
      const start = performance.now()
      yield* run(concurrentInputs.slice(200))
      return ((performance.now() - start) * 1000) / N
    }).pipe(Effect.provide(layer))
  )

out("")
out("in process, one after the other (µs per notification; lower is better)")
const rows: Array<readonly [string, number]> = [
  [
    "bare insert (better-sqlite3, one flushed commit)",
    await micros((r) => bareInsert.run(r.notification.notifyId, r.body, Date.now()))
  ],
  ["inbox transaction on better-sqlite3 directly", await micros(rawTransaction)],
  [
    "SqlInbox.receive (@effect/sql, same statements)",
    await viaInbox(SqliteInbox.layer({ filename: join(dir, "inbox.sqlite") }))
  ],
  [
    "SqlInbox.receive, 32 in flight (group commit)",
    await viaInboxConcurrent(SqliteInbox.layer({ filename: join(dir, "inbox-concurrent.sqlite") }))
  ],
  ["MemoryInbox.receive", await viaInbox(MemoryInbox.layer)],
  [
    "Notification.decodeWith (crypto-dsa verify)",
    await micros((r) =>
      Either.getOrThrow(
        Either.right(
          Effect.runSync(Notification.decodeWith(verifier, { body: r.body, contentType: r.contentType }))
        )
      )
    )
  ]
]
for (const [name, value] of rows) out(`  ${name.padEnd(50)} ${value.toFixed(0).padStart(6)} µs`)
raw.close()

// --- part 3 ------------------------------------------------------------------------------------------------

const PG_POOL = 16

const pgPart = async () => {
  const tag = process.pid
  const schemas = {
    sdk: `bench_pg_sdk_${tag}`,
    bare: `bench_pg_bare_${tag}`,
    inproc: `bench_pg_inproc_${tag}`,
    unnamed: `bench_pg_unnamed_${tag}`
  }
  await withSchemas(Object.values(schemas), async () => {
    out("")
    out(`PostgreSQL, over HTTP, ${PG_POOL} in flight, pools of ${PG_POOL} (requests/s; higher is better)`)
    const pgAgent = new Http.Agent({ keepAlive: true, maxSockets: PG_POOL })
    for (const mode of ["noop", "bare-pg", "memory", "sdk-pg"] as const) {
      const target = mode === "sdk-pg" ? urlFor(schemas.sdk) : mode === "bare-pg" ? urlFor(schemas.bare) : ""
      const server = await startChild<{ url: string }>(
        new URL("./src/servers/EndpointProcess.ts", import.meta.url),
        [mode, target, String(PG_POOL)]
      )
      try {
        const batch = Array.from({ length: PER_SERVER }, () => notification(next++))
        const post = (k: number) =>
          request(server.info.url, {
            agent: pgAgent,
            method: "POST",
            body: batch[k]!.body,
            contentType: batch[k]!.contentType
          }).then((answer) => {
            if (answer.body !== "success") throw new Error(`${mode} answered ${answer.status} ${answer.body}`)
          })
        await drive({ count: 300 }, PG_POOL, post)
        const hz = await drive({ count: PER_SERVER - 300 }, PG_POOL, (k) => post(300 + k))
        out(`  ${mode.padEnd(8)} ${hz.toFixed(0).padStart(6)} /s`)
      } finally {
        await server.stop()
      }
    }
    pgAgent.destroy()

    // The very `pg` that `@effect/sql-pg` loads, found from the inbox package (compiled or not).
    const fromInbox = createRequire(createRequire(import.meta.url).resolve("@witkey/inbox-sql/package.json"))
    const Pg = createRequire(fromInbox.resolve("@effect/sql-pg/PgClient"))("pg") as {
      Pool: new (options: { connectionString: string; max: number }) => {
        query: (text: string, values?: ReadonlyArray<unknown>) => Promise<unknown>
        end: () => Promise<void>
      }
    }
    const pool = new Pg.Pool({ connectionString: urlFor(schemas.inproc), max: PG_POOL })
    await pool.query(
      "CREATE TABLE bare (notify_id TEXT PRIMARY KEY, body BYTEA NOT NULL, received_at BIGINT NOT NULL)"
    )
    const bare = (r: Inbox.Received) =>
      pool.query(
        "INSERT INTO bare (notify_id, body, received_at) VALUES ($1, $2, $3) ON CONFLICT (notify_id) DO NOTHING",
        [r.notification.notifyId, r.body, Date.now()]
      )
    let fresh = 3_000_000
    const M = 800
    const timed = async (inFlight: number, run: (r: Inbox.Received) => Promise<unknown>) => {
      const batch = Array.from({ length: M }, () => received(fresh++))
      let k = 0
      const cpu = process.cpuUsage()
      const server = postgresMicros() ?? 0
      const start = performance.now()
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (k < batch.length) await run(batch[k++]!)
        })
      )
      const used = process.cpuUsage(cpu)
      return {
        wall: ((performance.now() - start) * 1000) / M,
        cpu: (used.user + used.system) / M,
        server: ((postgresMicros() ?? 0) - server) / M
      }
    }
    out("")
    out(
      `PostgreSQL, in process (µs per delivery, median of 3 alternating rounds; lower is better${(postgresMicros() ?? 0) > 0 ? "; server: the PostgreSQL processes' CPU" : ""})`
    )
    type Reading = { wall: number; cpu: number; server: number }
    const receiver = (prepared: boolean) =>
      Effect.map(
        Layer.build(
          PgInbox.layer({
            url: urlFor(prepared ? schemas.inproc : schemas.unnamed),
            maxConnections: PG_POOL,
            preparedStatements: prepared
          })
        ),
        (context) => {
          const inbox = Context.get(context, Inbox.Inbox)
          return (r: Inbox.Received) => Effect.runPromise(inbox.receive(r, () => Effect.void))
        }
      )
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const sides = [
            ["bare pg INSERT (pool.query, autocommit)", bare],
            ["PgInbox receive (named statements, no-op handler)", yield* receiver(true)],
            ["PgInbox receive (preparedStatements: false)", yield* receiver(false)]
          ] as const
          yield* Effect.promise(async () => {
            for (const [, run] of sides) await timed(PG_POOL, run)
            for (const inFlight of [1, PG_POOL]) {
              const got = sides.map(() => [] as Array<Reading>)
              for (let round = 0; round < 3; round++)
                for (const [i, [, run]] of sides.entries()) got[i]!.push(await timed(inFlight, run))
              const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[1]!
              for (const [i, [name]] of sides.entries()) {
                const side = got[i]!
                const server = med(side.map((x) => x.server))
                out(
                  `  ${`${name}, ${inFlight} in flight`.padEnd(62)} ${med(side.map((x) => x.wall))
                    .toFixed(0)
                    .padStart(6)} µs wall ${med(side.map((x) => x.cpu))
                    .toFixed(0)
                    .padStart(6)} µs CPU${server > 0 ? ` ${server.toFixed(0).padStart(6)} µs server` : ""}`
                )
              }
            }
          })
        })
      )
    )
    await pool.end()
  })
}
await pgPart().catch((error: unknown) =>
  out(`PostgreSQL part not measured (${PG_URL}): ${error instanceof Error ? error.message : String(error)}`)
)
rmSync(dir, { recursive: true, force: true })
