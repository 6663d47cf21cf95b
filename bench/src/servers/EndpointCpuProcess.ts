// Child process of `endpoint-cpu.ts`: the notification endpoint's own cost, no storage. Prints `{ "url": ... }`
// once listening; `GET /__cpu` answers this process's CPU time so far (µs).
//
//   bare  : node:http, form split, crypto.verify of the canonical bytes, one Map insert
//   sdk   : node-http NodeNotificationListener with a no-op handler, notify_verify off, and an inbox that
//           only runs the handler (so that nothing but the endpoint's work shows)
//   sdk:<snap>: `sdk` on a snapshot of the built core and node-http (`bench/dist/snap/<snap>`)
//   memory: the same with testkit's MemoryInbox
import * as Inbox from "@witkey/core/Inbox"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import { DsaVerifier } from "@witkey/crypto-dsa"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import { HttpTransport, NodeNotificationListener } from "@witkey/node-http"
import { Effect, Layer, Option, Redacted } from "effect"
import * as crypto from "node:crypto"
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import { verifyBody } from "../BareNotify.js"

const mode = process.argv[2]
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0))
const keys = new URL("../../../fixtures/vectors/keys/", import.meta.url)
const pem = (name: string) => readFileSync(new URL(`${name}_key.pem`, keys), "utf8")

const listen = (listener: Http.RequestListener) => {
  const server = Http.createServer((req, res) => {
    if (req.url === "/__cpu") {
      const used = process.cpuUsage()
      res.writeHead(200, { "content-type": "text/plain" })
      res.end(String(used.user + used.system))
    } else listener(req, res)
  })
  server.keepAliveTimeout = 30_000
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as { port: number }
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${address.port}/alipay/notify` })}\n`)
  })
}

if (mode === "bare") {
  const key = crypto.createPublicKey(pem("gateway_public"))
  const store = new Map<string, Buffer>()
  listen((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks)
      const { ok, fields } = verifyBody(key, body)
      if (ok) store.set(fields.get("notify_id")!, body)
      res.writeHead(200, { "content-type": "text/plain" })
      res.end(ok ? "success" : "fail")
    })
  })
} else {
  // `sdk:<snap>`: the listener of a snapshot of the built core and node-http (`bench/dist/snap/<snap>`, see
  // `endpoint-inproc.ts`); `sdk` alone: the current build.
  const snap = mode?.startsWith("sdk:") ? mode.slice(4) : undefined
  const at = (module: string) => new URL(`../../../snap/${snap}/${module}.js`, import.meta.url).href
  const Listener: typeof NodeNotificationListener =
    snap === undefined ? NodeNotificationListener : await import(at("node-http/NodeNotificationListener"))
  const Receiver: typeof NotificationReceiver =
    snap === undefined ? NotificationReceiver : await import(at("core/NotificationReceiver"))
  const InboxTag: typeof Inbox.Inbox =
    snap === undefined ? Inbox.Inbox : (await import(at("core/Inbox"))).Inbox
  const processed: Inbox.Outcome = { _tag: "Processed" }
  const none = Effect.succeed(Option.none())
  const nullInbox: Inbox.Inbox = {
    receive: (received, handler) => Effect.as(handler(received.notification), processed),
    get: () => none,
    byTask: () => Effect.succeed([])
  }
  const services = Layer.mergeAll(
    Receiver.layer({ partner: "2088101012352995", gateway: "http://127.0.0.1:9/gateway.do" }),
    mode === "memory" ? MemoryInbox.layer : Layer.succeed(InboxTag, nullInbox)
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
      const listener = yield* Listener.make(() => Effect.void, { notifyVerify: false })
      listen(listener)
      return yield* Effect.never
    }).pipe(Effect.provide(services), Effect.scoped)
  )
}
