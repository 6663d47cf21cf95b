// Child process of row 7: a notification endpoint on node:http, loopback, any free port. Prints
// `{ "url": ... }` once listening; runs until killed.
//
//   sdk    <file>: node-http NodeNotificationListener (verify, decode, SqlInbox on SQLite, no-op handler;
//                  notify_verify off, since the baseline does not call the gateway either)
//   bare   <file>: a hand-written handler: form split, crypto.verify of the canonical bytes, one
//                  better-sqlite3 insert, with the SQLite settings the inbox uses (WAL, synchronous = FULL)
//   memory        : the sdk endpoint with testkit's in-memory inbox (no storage): for `endpoint.ts` only
//   noop          : node:http reading the body and answering `success`, nothing else: for `endpoint.ts` only
//   sdk-pg  <url> <pool> [idle ms]: the sdk endpoint with the PostgreSQL inbox (`PgInbox`, `pool` connections) on the
//                  database (and schema, through the URL's search_path) of `url`: row 7b
//   bare-pg <url> <pool> [idle ms]: the bare handler with one `pg` INSERT (the driver `@effect/sql-pg` uses, a
//                  `pg.Pool` of `pool` connections, autocommit) instead of better-sqlite3: row 7b's baseline
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import { DsaVerifier } from "@witkey/crypto-dsa"
import * as PgInbox from "@witkey/inbox-sql/PgInbox"
import * as SqliteInbox from "@witkey/inbox-sql/SqliteInbox"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import { HttpTransport, NodeNotificationListener } from "@witkey/node-http"
import Database from "better-sqlite3"
import { Effect, Layer, Redacted } from "effect"
import * as crypto from "node:crypto"
import * as Http from "node:http"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { verifyBody } from "../BareNotify.js"

const [mode, filename] = [process.argv[2], process.argv[3]!]
/** Pool size of the PostgreSQL modes, and how long an idle pooled connection stays open (ms). */
const pool = Number(process.argv[4] ?? 16)
const idleMillis = Number(process.argv[5] ?? 10_000)
// Killed by the bench when its row is done: exit normally, so SQLite closes and --cpu-prof can write.
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0))
const keys = new URL("../../../fixtures/vectors/keys/", import.meta.url)
const pem = (name: string) => readFileSync(new URL(`${name}_key.pem`, keys), "utf8")

/** The part of `pg` the bare handler uses (the bench has no `@types/pg`). */
interface PgModule {
  readonly Pool: new (options: { connectionString: string; max: number; idleTimeoutMillis: number }) => {
    query: (text: string, values?: ReadonlyArray<unknown>) => Promise<unknown>
  }
}

// For `memory.ts`: `gc()` without `--expose-gc` on the command line (the bench starts children without flags).
setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

// `GET /__cpu`: this process's CPU time so far, µs (the bench reads it around each slice). `GET /__memory`:
// RSS and heap used after three `gc()` calls, bytes, as JSON (`memory.ts`).
const listen = (listener: Http.RequestListener) => {
  const server = Http.createServer((req, res) => {
    if (req.url === "/__cpu") {
      const used = process.cpuUsage()
      res.writeHead(200, { "content-type": "text/plain" })
      res.end(String(used.user + used.system))
    } else if (req.url === "/__memory") {
      for (let i = 0; i < 3; i++) gc()
      const { rss, heapUsed } = process.memoryUsage()
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ rss, heapUsed }))
    } else listener(req, res)
  })
  server.keepAliveTimeout = 30_000
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as { port: number }
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}/alipay/notify` })}\n`)
  })
}

if (mode === "noop") {
  listen((req, res) => {
    req.resume()
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/plain" })
      res.end("success")
    })
  })
} else if (mode === "bare" || mode === "bare-pg") {
  const key = crypto.createPublicKey(pem("gateway_public"))
  /** The one write per verified notification; calls `done` once it is durable. */
  let insert: (notifyId: string, body: Buffer, done: (error?: Error) => void) => void
  if (mode === "bare") {
    const db = new Database(filename)
    db.pragma("journal_mode = WAL")
    db.pragma("synchronous = FULL")
    db.exec(
      "CREATE TABLE IF NOT EXISTS inbox (notify_id TEXT PRIMARY KEY, body BLOB NOT NULL, received_at INTEGER NOT NULL)"
    )
    const statement = db.prepare(
      "INSERT OR IGNORE INTO inbox (notify_id, body, received_at) VALUES (?, ?, ?)"
    )
    insert = (notifyId, body, done) => {
      statement.run(notifyId, body, Date.now())
      done()
    }
  } else {
    // The very `pg` that `@effect/sql-pg` loads (the bench does not depend on `pg` itself).
    const fromInbox = createRequire(createRequire(import.meta.url).resolve("@witkey/inbox-sql/package.json"))
    const Pg = createRequire(fromInbox.resolve("@effect/sql-pg/PgClient"))("pg") as PgModule
    const db = new Pg.Pool({ connectionString: filename, max: pool, idleTimeoutMillis: idleMillis })
    await db.query(
      "CREATE TABLE IF NOT EXISTS inbox (notify_id TEXT PRIMARY KEY, body BYTEA NOT NULL, received_at BIGINT NOT NULL)"
    )
    insert = (notifyId, body, done) => {
      db.query(
        "INSERT INTO inbox (notify_id, body, received_at) VALUES ($1, $2, $3) ON CONFLICT (notify_id) DO NOTHING",
        [notifyId, body, Date.now()]
      ).then(
        () => done(),
        (error: Error) => done(error)
      )
    }
  }
  listen((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks)
      const { ok, fields } = verifyBody(key, body)
      const answer = (text: string) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end(text)
      }
      if (ok)
        insert(fields.get("notify_id")!, body, (error) => answer(error === undefined ? "success" : "fail"))
      else answer("fail")
    })
  })
} else {
  const services = Layer.mergeAll(
    NotificationReceiver.layer({ partner: "2088101012352995", gateway: "http://127.0.0.1:9/gateway.do" }),
    mode === "memory"
      ? MemoryInbox.layer
      : mode === "sdk-pg"
        ? PgInbox.layer({ url: filename, maxConnections: pool, idleTimeout: idleMillis })
        : SqliteInbox.layer({ filename })
  ).pipe(
    Layer.provide(
      Layer.mergeAll(
        DsaVerifier.layer({ publicKey: Redacted.make(pem("gateway_public")) }),
        HttpTransport.layerNode()
      )
    )
  )
  Effect.runFork(
    Effect.gen(function* () {
      const listener = yield* NodeNotificationListener.make(() => Effect.void, { notifyVerify: false })
      listen(listener)
      return yield* Effect.never
    }).pipe(Effect.provide(services), Effect.scoped)
  )
}
