// `pnpm bench`: every row once, in one run, as one table; then the memory check in a child process with
// --expose-gc. Exit code 1 if the memory check fails (a row below its target is reported, not fatal: the
// numbers are for people to read).
import { spawnSync } from "node:child_process"
import * as os from "node:os"
import { nodeArguments } from "./src/Load.js"
import { isSkipped, type Outcome, passed, type Row, table } from "./src/Report.js"

interface Plan {
  readonly id: string
  readonly what: string
  readonly load: () => Promise<{ run: () => Promise<Row | ReadonlyArray<Row>> }>
}

const plan: ReadonlyArray<Plan> = [
  { id: "1", what: "signed request build", load: () => import("./src/rows/RequestBuild.js") },
  { id: "2", what: "response decode and verify", load: () => import("./src/rows/ResponseDecode.js") },
  { id: "3", what: "notification decode and verify", load: () => import("./src/rows/NotificationDecode.js") },
  { id: "4", what: "alipay-sdk", load: () => import("./src/rows/AlipaySdk.js") },
  { id: "6", what: "GBK vs UTF-8", load: () => import("./src/rows/Charsets.js") },
  { id: "8", what: "crypto-dsa", load: () => import("./src/rows/CryptoDsa.js") },
  {
    id: "5",
    what: "end to end against a fixed-answer gateway",
    load: () => import("./src/rows/EndToEnd.js")
  },
  {
    id: "7",
    what: "notification endpoint with the SQLite inbox",
    load: () => import("./src/rows/Endpoint.js")
  },
  {
    id: "9",
    what: "receiver console page of 1,000 inbox entries",
    load: () => import("./src/rows/ConsolePage.js")
  }
]

// WITKEY_BENCH_ROWS=1,8 runs only those rows (and skips the memory check): for working on one row.
const only = process.env["WITKEY_BENCH_ROWS"]?.split(",").map((id) => id.trim())
const selected = only === undefined ? plan : plan.filter((step) => only.includes(step.id))

const started = performance.now()
const load = os.loadavg()[0]!
process.stderr.write(
  `witkey bench: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, node ${process.version}, load average ${load.toFixed(2)}\n`
)

const outcomes: Array<Outcome> = []
for (const step of selected) {
  process.stderr.write(`  row ${step.id}: ${step.what} …\n`)
  try {
    const row = await step.load()
    const result = await row.run()
    outcomes.push(...(Array.isArray(result) ? result : [result as Row]))
  } catch (error) {
    // Never a made-up number: a row that cannot run says why.
    outcomes.push({
      id: step.id,
      what: step.what,
      reason: error instanceof Error ? error.message : String(error)
    })
  }
}

const order = (o: Outcome) => o.id
outcomes.sort((a, b) => order(a).localeCompare(order(b), "en", { numeric: true }))
process.stdout.write(`${table(outcomes)}\n`)

const rows = outcomes.filter((o): o is Row => !isSkipped(o))

// Row 4 beside ours: the algorithms differ (RSA-2048 vs DSA-1024), so raw ops/s are compared with care.
const byId = new Map(rows.map((r) => [r.id, r]))
const [r1, r3, r4a, r4b, r8a, r8b] = ["1", "3", "4a", "4b", "8a", "8b"].map((id) => byId.get(id))
const fmt = (n: number) => Math.round(n).toString()
if (r1 && r3 && r4a && r4b && r8a && r8b)
  process.stdout.write(
    [
      "",
      `Row 4 beside ours: signing a request, alipay-sdk ${fmt(r4a.result.sdk)}/s (RSA-2048) vs witkey ${fmt(r1.result.sdk)}/s (DSA-1024);`,
      `checking a notification, alipay-sdk ${fmt(r4b.result.sdk)}/s vs witkey ${fmt(r3.result.sdk)}/s (witkey also parses the raw form and decodes the payload).`,
      `Bare crypto on this machine: RSA-2048 sign ${fmt(r4a.result.baseline)}/s vs DSA-1024 sign ${fmt(r8a.result.baseline)}/s; RSA-2048 verify ${fmt(r4b.result.baseline)}/s vs DSA-1024 verify ${fmt(r8b.result.baseline)}/s.`,
      "RSA verifies cheaply and signs dearly, DSA costs about the same both ways: compare each library with its own bare crypto (the ratio column)."
    ].join("\n") + "\n"
  )
const below = rows.filter((r) => !passed(r))
process.stdout.write(
  `\n${rows.length} rows, ${below.length === 0 ? "all at or above target" : `below target: ${below.map((r) => r.id).join(", ")}`}; ` +
    `${((performance.now() - started) / 1000).toFixed(0)} s; load average ${load.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at end\n\n`
)

if (only !== undefined) process.exit(below.length === 0 ? 0 : 1)

const memory = spawnSync(
  process.execPath,
  ["--expose-gc", ...nodeArguments(new URL("./memory.ts", import.meta.url))],
  {
    cwd: new URL(".", import.meta.url).pathname,
    stdio: "inherit"
  }
)
process.exitCode = memory.status === 0 ? 0 : 1
