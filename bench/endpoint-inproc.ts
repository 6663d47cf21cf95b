// The notification endpoint's own CPU per delivery, in process (issue 17, rows 7/7b): no sockets, so neither
// the kernel nor the other processes on the machine blur it. Each side answers the same kind of unique signed
// notifications through a mock Node request (a Readable) and response, 32 in flight:
//
//   bare    : form split, crypto.verify of the canonical bytes, one Map insert (row 7's bare handler, no SQLite)
//   <snap>  : `NodeNotificationListener` of a snapshot of the built core and node-http
//             (`bench/dist/snap/<snap>`), no-op handler, notify_verify off, an inbox that only runs the handler
//
// Sides alternate, ROUNDS rounds of PER_ROUND deliveries; median, minimum and first quartile of the CPU µs per
// delivery (on a shared machine the minimum and quartile are the steadier readings), and with `--expose-gc
// --max-semi-space-size=256` the bytes allocated per delivery. Not part of `pnpm bench`; snapshot each build
// with `node snapshot.mjs <name>`, then `node run.mjs --expose-gc --max-semi-space-size=256 endpoint-inproc bare
// before after`.
import { DsaVerifier } from "@witkey/crypto-dsa"
import { Effect, Layer, Option, Redacted } from "effect"
import * as crypto from "node:crypto"
import { loadavg } from "node:os"
import { Readable } from "node:stream"
import { notification, pem } from "./src/Inputs.js"
import { verifyBody } from "./src/BareNotify.js"

type Listener = (req: unknown, res: unknown) => void
const sides = process.argv.slice(2)
const ROUNDS = Number(process.env["ROUNDS"] ?? 7)
const PER_ROUND = Number(process.env["PER_ROUND"] ?? 3000)
const IN_FLIGHT = 32
const out = (line: string) => process.stdout.write(`${line}\n`)

const bare = (): Listener => {
  const key = crypto.createPublicKey(pem("gateway_public"))
  const store = new Map<string, Buffer>()
  return (req: any, res: any) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks)
      const { ok, fields } = verifyBody(key, body)
      if (ok) store.set(fields.get("notify_id")!, body)
      res.writeHead(200, { "content-type": "text/plain" })
      res.end(ok ? "success" : "fail")
    })
  }
}

const sdk = async (snap: string): Promise<Listener> => {
  const at = (module: string) => new URL(`../snap/${snap}/${module}.js`, import.meta.url).href
  const Listener = await import(at("node-http/NodeNotificationListener"))
  const Receiver = await import(at("core/NotificationReceiver"))
  const Inbox = await import(at("core/Inbox"))
  const Transport = await import(at("core/Transport"))
  const processed = { _tag: "Processed" }
  const none = Effect.succeed(Option.none())
  const nullInbox = {
    receive: (received: any, handler: any) => Effect.as(handler(received.notification), processed),
    get: () => none,
    byTask: () => Effect.succeed([])
  }
  const layer = Layer.mergeAll(
    Receiver.layer({ partner: "2088101012352995", gateway: "http://127.0.0.1:9/gateway.do" }),
    Layer.succeed(Inbox.Inbox, nullInbox)
  ).pipe(
    Layer.provide(
      Layer.mergeAll(
        DsaVerifier.layer({ publicKey: Redacted.make(pem("gateway_public")) }),
        // notify_verify is off: the transport is never called.
        Layer.succeed(Transport.Transport, {} as never)
      )
    )
  )
  return Effect.runSync(
    Effect.scoped(
      Effect.provide(
        Listener.make(() => Effect.void, { notifyVerify: false }),
        layer as any
      )
    ) as Effect.Effect<Listener>
  )
}

let next = 0
const deliver = (listener: Listener, n: { body: Uint8Array; contentType: string }) =>
  new Promise<void>((resolve, reject) => {
    const req = new Readable({ read() {} }) as any
    req.method = "POST"
    req.url = "/alipay/notify"
    req.headers = { "content-type": n.contentType, "content-length": String(n.body.length) }
    const res = {
      headersSent: false,
      destroyed: false,
      writeHead(_status: number) {
        this.headersSent = true
      },
      end(body: Uint8Array | string) {
        const text = typeof body === "string" ? body : Buffer.from(body).toString()
        if (text === "success") resolve()
        else reject(new Error(`answered ${text}`))
      }
    }
    listener(req, res)
    req.push(Buffer.from(n.body))
    req.push(null)
  })

const round = async (listener: Listener, count: number) => {
  const batch = Array.from({ length: count }, () => notification(next++))
  let k = 0
  const cpu = process.cpuUsage()
  const start = performance.now()
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (k < batch.length) await deliver(listener, batch[k++]!)
    })
  )
  const wall = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { cpu: (used.user + used.system) / count, wall: (wall * 1000) / count }
}

const listeners = await Promise.all(sides.map((side) => (side === "bare" ? bare() : sdk(side))))
for (const l of listeners) await round(l, 1000)
// Bytes allocated per delivery: heap growth over a round between two collections, with a young generation
// large enough that none runs in between (`--expose-gc --max-semi-space-size=256`); steadier than CPU time on
// a shared machine.
// WITKEY_HEAP_PROFILE=<file>: a sampling allocation profile (collected objects included) of the first side.
const heapProfile = process.env["WITKEY_HEAP_PROFILE"]
if (heapProfile !== undefined) {
  const { Session } = await import("node:inspector/promises")
  const { writeFileSync } = await import("node:fs")
  const session = new Session()
  session.connect()
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true
  } as never)
  await round(listeners[0]!, 3000)
  const { profile } = (await session.post("HeapProfiler.stopSampling")) as { profile: unknown }
  writeFileSync(heapProfile, JSON.stringify(profile))
}
const gc = (globalThis as { gc?: () => void }).gc
if (gc !== undefined) {
  const ALLOC = 400
  for (const [i, l] of listeners.entries()) {
    const samples: Array<number> = []
    for (let r = 0; r < 5; r++) {
      const batch = Array.from({ length: ALLOC }, () => notification(next++))
      gc()
      gc()
      const before = process.memoryUsage().heapUsed
      let k = 0
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (k < batch.length) await deliver(l, batch[k++]!)
        })
      )
      samples.push((process.memoryUsage().heapUsed - before) / ALLOC)
      batch.length = 0
    }
    out(
      `  ${sides[i]!.padEnd(8)} allocated ${samples.map((x) => (x / 1024).toFixed(1)).join(" ")} KiB/delivery`
    )
  }
}
const got = sides.map(() => [] as Array<number>)
for (let r = 0; r < ROUNDS; r++)
  for (const [i, l] of listeners.entries()) got[i]!.push((await round(l, PER_ROUND)).cpu)
const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
out(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`
)
for (const [i, side] of sides.entries())
  out(
    `  ${side.padEnd(8)} median ${med(got[i]!).toFixed(1).padStart(6)}  min ${Math.min(...got[i]!)
      .toFixed(1)
      .padStart(6)}  p25 ${[...got[i]!]
      .sort((a, b) => a - b)
      [Math.floor(got[i]!.length / 4)]!.toFixed(1)
      .padStart(6)} µs CPU/delivery (${got[i]!.length} rounds of ${PER_ROUND})`
  )
