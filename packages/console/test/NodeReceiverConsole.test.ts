// The receiver console as a plain Node handler: the console under its prefix, anything else to `next` (as
// Express mounts it) or 404.
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import { Effect } from "effect"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as NodeReceiverConsole from "../src/NodeReceiverConsole.js"

const get = (url: string) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    Http.get(url, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (c) => (text += c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }))
    }).on("error", reject)
  })

describe("NodeReceiverConsole", () => {
  it.live("serves the console under its prefix and hands anything else to next", () =>
    Effect.gen(function* () {
      const inbox = yield* MemoryInbox.make()
      const server = Http.createServer()
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
      )
      const port = (server.address() as Net.AddressInfo).port
      const handler = yield* NodeReceiverConsole.make({
        host: "127.0.0.1",
        port,
        handler: () => Effect.void
      }).pipe(Effect.provideService(Inbox.Operations, inbox))
      server.on("request", (req, res) => handler(req, res, () => res.writeHead(200).end("the application")))
      const page = yield* Effect.promise(() => get(`http://127.0.0.1:${port}/_witkey/`))
      assert.strictEqual(page.status, 200)
      assert.include(page.text, "witkey receiver console")
      const other = yield* Effect.promise(() => get(`http://127.0.0.1:${port}/orders`))
      assert.strictEqual(other.text, "the application")
    }).pipe(Effect.scoped)
  )
})
