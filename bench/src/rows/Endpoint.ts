/**
 * Rows 7 and 7b: notifications accepted per second through the HTTP endpoint (node-http
 * `NodeNotificationListener`, i.e. `NotificationEndpoint`), each against a bare node:http handler doing the
 * same verification and one insert per request, in a process of its own:
 *
 * - row 7: the SQLite inbox (`SqliteInbox`, one file) against one better-sqlite3 insert (WAL, synchronous FULL),
 *   32 in flight;
 * - row 7b: the PostgreSQL inbox (`PgInbox`) with a pool of 16 and of 64 connections, as many requests in
 *   flight, against one `pg` INSERT (the driver `@effect/sql-pg` loads, a `pg.Pool` of the same size); each
 *   side in a schema of its own (`bench_pg_sdk_<pid>`, `bench_pg_bare_<pid>`), dropped afterwards.
 *
 * Then one table of the rows' own levels and the scaling levels (both inboxes at 1, 8, 32 and 128 in flight,
 * PostgreSQL with 16 connections), with p99 latency, the server process's CPU time per delivery on each side
 * (robust on a busy machine), PostgreSQL's WAL written per delivery (whole server, `pg_current_wal_insert_lsn`),
 * and where `/proc` can be read the PostgreSQL processes' CPU time per delivery and the share of the machine left
 * idle (`MachineCpu.ts`): what a delivery costs in all on a machine whose two cores the client, the server and
 * PostgreSQL share, and whether a side was short of CPU or waiting.
 * Every request carries a new signed notification; keep-alive; sides alternate, three rounds, median.
 */
import { mkdtempSync, rmSync } from "node:fs"
import * as Http from "node:http"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { notification, type SignedNotification } from "../Inputs.js"
import { drive, request, startChild, type Child } from "../Load.js"
import { idleShare, machineTimes, postgresMicros } from "../MachineCpu.js"
import { median } from "../Measure.js"
import type { Row } from "../Report.js"

/** Per side and round: stop after this long, or when the round's notifications run out. */
const SLICE_MS = 1500
const SCALING_SLICE_MS = 900
const ROUNDS = 3
/**
 * Untimed deliveries through each new server first, 32 in flight. It was 200; even after 600, the first timed
 * rounds at 16 in flight still ran code V8 had not yet optimised: the SDK server's CPU per delivery read about
 * twice its steady value in the first and a third more in the second (1,104 and 823 µs against about 500; the
 * bare server's 479 against about 270), so one of a row's three rounds measured start-up. After 4,000 the first
 * round reads like the rest on both sides (BENCHMARKS.md, eighth pass).
 */
const WARMUP = 4000
const SCALING = [1, 8, 32, 128] as const
/** PostgreSQL pool of the scaling table. */
const SCALING_POOL = 16

export const PG_URL = process.env["WITKEY_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

const SERVER = new URL("../servers/EndpointProcess.ts", import.meta.url)

type Server = Child<{ url: string }>

let nextNotification = 0
/** Fresh notifications: no side ever sees a notify_id twice. */
const fresh = (count: number): ReadonlyArray<SignedNotification> =>
  Array.from({ length: count }, () => notification(nextNotification++))

const cpuOf = async (server: Server): Promise<number> => {
  const answer = await request(server.info.url.replace("/alipay/notify", "/__cpu"), {
    agent: new Http.Agent({ keepAlive: false })
  })
  return Number(answer.body)
}

export interface Slice {
  readonly hz: number
  readonly p99: number
  /** The server process's CPU time per delivery, µs. */
  readonly cpu: number
  /** The PostgreSQL processes' CPU time per delivery, µs; NaN without `/proc`. */
  readonly pgCpu: number
  /** The share of the machine's CPU time left idle during the slice; NaN without `/proc`. */
  readonly idle: number
  /** The PostgreSQL server's WAL written per delivery, bytes; NaN without a WAL probe (the SQLite rows). */
  readonly wal: number
}

/** The WAL the PostgreSQL server has written so far, bytes (whole server: background writes count too). */
export type WalProbe = () => Promise<number>

/** One timed slice against `server`: `inFlight` requests in flight, new notifications, latencies kept. */
export const slice = async (
  server: Server,
  inFlight: number,
  maxMs: number,
  count: number,
  wal?: WalProbe
): Promise<Slice> => {
  const agent = new Http.Agent({ keepAlive: true, maxSockets: inFlight })
  try {
    const post = (batch: ReadonlyArray<SignedNotification>, latencies?: Array<number>) => (k: number) => {
      const started = performance.now()
      return request(server.info.url, {
        agent,
        method: "POST",
        body: batch[k]!.body,
        contentType: batch[k]!.contentType
      }).then((answer) => {
        if (answer.status !== 200 || answer.body !== "success")
          throw new Error(`row 7: ${server.info.url} answered ${answer.status} ${answer.body}`)
        latencies?.push(performance.now() - started)
      })
    }
    // Opens the connections (a pool that went idle while the other side ran) and the sockets, untimed.
    const warm = fresh(Math.max(inFlight, 8))
    await drive({ count: warm.length }, inFlight, post(warm))
    const batch = fresh(count)
    const latencies: Array<number> = []
    const cpuBefore = await cpuOf(server)
    const walBefore = wal === undefined ? Number.NaN : await wal()
    const [pgBefore, machineBefore] = [postgresMicros(), machineTimes()]
    const hz = await drive({ count, maxMs }, inFlight, post(batch, latencies))
    // The machine's reading first: the other is a scan of /proc, kept out of the window it brackets.
    const machineAfter = machineTimes()
    const pgAfter = postgresMicros()
    const walAfter = wal === undefined ? Number.NaN : await wal()
    const cpu = (await cpuOf(server)) - cpuBefore
    latencies.sort((a, b) => a - b)
    const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? Number.NaN
    const delivered = Math.max(1, latencies.length)
    return {
      hz,
      p99,
      cpu: cpu / delivered,
      pgCpu: pgBefore === undefined || pgAfter === undefined ? Number.NaN : (pgAfter - pgBefore) / delivered,
      idle: idleShare(machineBefore, machineAfter),
      wal: (walAfter - walBefore) / delivered
    }
  } finally {
    agent.destroy()
  }
}

export interface Level {
  readonly inFlight: number
  readonly sdk: number
  readonly bare: number
  readonly ratio: number
  readonly sdkP99: number
  readonly bareP99: number
  readonly sdkCpu: number
  readonly bareCpu: number
  readonly sdkPgCpu: number
  readonly barePgCpu: number
  readonly sdkIdle: number
  readonly bareIdle: number
  readonly sdkWal: number
  readonly bareWal: number
}

/** A side's server for one slice: the same process every time, or one started for the slice and stopped. */
export interface Side {
  readonly acquire: () => Promise<Server>
  readonly release: (server: Server) => Promise<void>
}

const kept = (server: Server): Side => ({ acquire: async () => server, release: async () => {} })

/** A server per slice, warmed up untimed: two pools of 64 do not fit in PostgreSQL's 100 connections. */
const perSlice = (args: ReadonlyArray<string>): Side => ({
  acquire: async () => {
    const server = await startChild<{ url: string }>(SERVER, args)
    await slice(server, 32, 60_000, WARMUP)
    return server
  },
  release: (server) => server.stop()
})

/** SDK and bare side in alternating slices, `ROUNDS` rounds; medians. */
export const compareAt = async (
  sdkSide: Server | Side,
  bareSide: Server | Side,
  inFlight: number,
  maxMs: number,
  wal?: WalProbe
): Promise<Level> => {
  const asSide = (s: Server | Side): Side => ("acquire" in s ? s : kept(s))
  const [sdk, bare] = [asSide(sdkSide), asSide(bareSide)]
  // Enough notifications for any rate this machine reaches within the slice.
  const count = Math.ceil((maxMs / 1000) * 6000)
  const got: Record<"sdk" | "bare", Array<Slice>> = { sdk: [], bare: [] }
  const ratios: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (["bare", "sdk"] as const) : (["sdk", "bare"] as const)
    for (const side of order) {
      const source = side === "sdk" ? sdk : bare
      const server = await source.acquire()
      try {
        got[side].push(await slice(server, inFlight, maxMs, count, wal))
      } finally {
        await source.release(server)
      }
    }
    ratios.push(got.sdk[round]!.hz / got.bare[round]!.hz)
  }
  const med = (side: "sdk" | "bare", f: (s: Slice) => number) => median(got[side].map(f))
  return {
    inFlight,
    sdk: med("sdk", (s) => s.hz),
    bare: med("bare", (s) => s.hz),
    ratio: median(ratios),
    sdkP99: med("sdk", (s) => s.p99),
    bareP99: med("bare", (s) => s.p99),
    sdkCpu: med("sdk", (s) => s.cpu),
    bareCpu: med("bare", (s) => s.cpu),
    sdkPgCpu: med("sdk", (s) => s.pgCpu),
    barePgCpu: med("bare", (s) => s.pgCpu),
    sdkIdle: med("sdk", (s) => s.idle),
    bareIdle: med("bare", (s) => s.idle),
    sdkWal: med("sdk", (s) => s.wal),
    bareWal: med("bare", (s) => s.wal)
  }
}

/** The bench's own `pg` (the one `@effect/sql-pg` loads), for the schemas. */
interface PgClientLike {
  connect: () => Promise<void>
  query: (text: string) => Promise<{ readonly rows: ReadonlyArray<Record<string, unknown>> }>
  end: () => Promise<void>
}
const pgClient = (): PgClientLike => {
  const fromInbox = createRequire(createRequire(import.meta.url).resolve("@witkey/inbox-sql/package.json"))
  const Pg = createRequire(fromInbox.resolve("@effect/sql-pg/PgClient"))("pg") as {
    Client: new (options: { connectionString: string }) => PgClientLike
  }
  return new Pg.Client({ connectionString: PG_URL })
}

/** The base URL with `search_path` set to `schema` for every connection. */
export const urlFor = (schema: string): string => {
  const u = new URL(PG_URL)
  u.searchParams.set("options", `-c search_path=${schema}`)
  return u.toString()
}

/**
 * Creates `schemas` (names unique to this process), runs `f` with a probe of the server's WAL position (on its
 * own connection, read between slices only), drops them whatever happens.
 */
export const withSchemas = async <A>(
  schemas: ReadonlyArray<string>,
  f: (wal: WalProbe) => Promise<A>
): Promise<A> => {
  const admin = pgClient()
  await admin.connect()
  const wal: WalProbe = async () => {
    // The insert position, not the flushed one: what the slice's statements wrote, whether or not on disk yet.
    const { rows } = await admin.query(
      "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::float8 AS b"
    )
    return Number(rows[0]?.["b"])
  }
  try {
    for (const schema of schemas) await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    return await f(wal)
  } finally {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await admin.end()
  }
}

const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1))

/** A reading for the table, or `—` where there is none (no `/proc`; PostgreSQL's CPU on the SQLite rows). */
const reading = (value: number, show: (n: number) => string): string =>
  Number.isFinite(value) ? show(value) : "—"
const percent = (share: number) => reading(share, (n) => `${Math.round(n * 100)} %`)

const scalingTable = (levels: ReadonlyArray<{ inbox: string } & Level>): string =>
  [
    `Rows 7/7b and their scaling (median of rounds; PostgreSQL with ${SCALING_POOL} connections; CPU = the server process's, ` +
      "PG CPU = the PostgreSQL processes', µs per delivery; WAL = the PostgreSQL server's WAL written, bytes per " +
      "delivery; idle = the machine's CPU left idle):",
    "| inbox | in flight | SDK/s | bare/s | ratio | p99 ms SDK | p99 ms bare | CPU µs/op SDK | CPU µs/op bare | PG CPU µs/op SDK | PG CPU µs/op bare | WAL B/op SDK | WAL B/op bare | idle SDK | idle bare |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...levels.map((l) => {
      const pg = (n: number) =>
        l.inbox.startsWith("PostgreSQL") ? reading(n, (v) => `${Math.round(v)}`) : "—"
      return (
        `| ${l.inbox} | ${l.inFlight} | ${Math.round(l.sdk)} | ${Math.round(l.bare)} | ${l.ratio.toFixed(2)} | ` +
        `${ms(l.sdkP99)} | ${ms(l.bareP99)} | ${Math.round(l.sdkCpu)} | ${Math.round(l.bareCpu)} | ` +
        `${pg(l.sdkPgCpu)} | ${pg(l.barePgCpu)} | ${pg(l.sdkWal)} | ${pg(l.bareWal)} | ` +
        `${percent(l.sdkIdle)} | ${percent(l.bareIdle)} |`
      )
    })
  ].join("\n")

const pair = async <A>(
  sdkArgs: ReadonlyArray<string>,
  bareArgs: ReadonlyArray<string>,
  f: (sdk: Server, bare: Server) => Promise<A>
): Promise<A> => {
  const sdk = await startChild<{ url: string }>(SERVER, sdkArgs)
  try {
    const bare = await startChild<{ url: string }>(SERVER, bareArgs)
    try {
      // JIT, statements, pools: untimed.
      for (const server of [sdk, bare]) await slice(server, 32, 60_000, WARMUP)
      return await f(sdk, bare)
    } finally {
      await bare.stop()
    }
  } finally {
    await sdk.stop()
  }
}

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const dir = mkdtempSync(join(tmpdir(), "witkey-bench-"))
  const rows: Array<Row> = []
  const scaling: Array<{ inbox: string } & Level> = []
  /** The rows' own levels, shown above the scaling levels in the same table. */
  const measured: Array<{ inbox: string } & Level> = []
  try {
    await pair(["sdk", join(dir, "sdk.sqlite")], ["bare", join(dir, "bare.sqlite")], async (sdk, bare) => {
      const level = await compareAt(sdk, bare, 32, SLICE_MS)
      measured.push({ inbox: "SQLite (row 7)", ...level })
      rows.push({
        id: "7",
        sdk: `notify endpoint: NotificationEndpoint + SqlInbox (SQLite), 32 in flight, p99 ${ms(level.sdkP99)} ms`,
        baseline: `node:http handler: crypto.verify + 1 better-sqlite3 insert, p99 ${ms(level.bareP99)} ms`,
        result: { sdk: level.sdk, baseline: level.bare, ratio: level.ratio, rounds: ROUNDS },
        target: 0.6
      })
      for (const inFlight of SCALING)
        scaling.push({ inbox: "SQLite", ...(await compareAt(sdk, bare, inFlight, SCALING_SLICE_MS)) })
    })
    const tag = `${process.pid}`
    const [sdkSchema, bareSchema] = [`bench_pg_sdk_${tag}`, `bench_pg_bare_${tag}`]
    try {
      await withSchemas([sdkSchema, bareSchema], async (wal) => {
        const args = (mode: string, schema: string, pool: number) => [mode, urlFor(schema), String(pool)]
        const row = (pool: number, level: Level): Row => ({
          id: `7b-${pool}`,
          sdk: `notify endpoint + PgInbox, ${pool} connections and in flight, p99 ${ms(level.sdkP99)} ms`,
          baseline: `node:http + crypto.verify + 1 pg INSERT, pool ${pool}, p99 ${ms(level.bareP99)} ms`,
          result: { sdk: level.sdk, baseline: level.bare, ratio: level.ratio, rounds: ROUNDS },
          target: 0.6
        })
        await pair(args("sdk-pg", sdkSchema, 16), args("bare-pg", bareSchema, 16), async (sdk, bare) => {
          const level = await compareAt(sdk, bare, 16, SLICE_MS, wal)
          measured.push({ inbox: "PostgreSQL (row 7b-16)", ...level })
          rows.push(row(16, level))
          for (const inFlight of SCALING)
            scaling.push({
              inbox: "PostgreSQL",
              ...(await compareAt(sdk, bare, inFlight, SCALING_SLICE_MS, wal))
            })
        })
        const sdk64 = perSlice(args("sdk-pg", sdkSchema, 64))
        const bare64 = perSlice(args("bare-pg", bareSchema, 64))
        const level64 = await compareAt(sdk64, bare64, 64, SLICE_MS, wal)
        measured.push({ inbox: "PostgreSQL, pool 64 (row 7b-64)", ...level64 })
        rows.push(row(64, level64))
      })
    } catch (error) {
      // No PostgreSQL: row 7 stands, row 7b says why it is missing (never a made-up number).
      process.stdout.write(
        `Row 7b (PostgreSQL endpoint) not measured: ${error instanceof Error ? error.message : String(error)}\n`
      )
    }
    process.stdout.write(`${scalingTable([...measured, ...scaling])}\n\n`)
    return rows
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// Run as a script, rows 7 and 7b alone on the TypeScript sources (`node --import tsx src/rows/Endpoint.ts` in
// bench/), for working on them; numbers come from the built dist: `WITKEY_BENCH_ROWS=7 pnpm bench`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { loadavg } = await import("node:os")
  process.stdout.write(`load average ${loadavg()[0]!.toFixed(2)} at start\n`)
  for (const row of await run())
    process.stdout.write(
      `${row.id}: ${row.sdk} ${Math.round(row.result.sdk)}/s | ${row.baseline} ${Math.round(row.result.baseline)}/s | ratio ${row.result.ratio.toFixed(2)}\n`
    )
  process.stdout.write(`load average ${loadavg()[0]!.toFixed(2)} at end\n`)
}
