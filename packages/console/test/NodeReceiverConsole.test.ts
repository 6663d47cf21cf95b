// The receiver console as a plain Node handler: the console under its prefix, anything else to `next` (as
// Express mounts it) or 404.
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import { Effect } from "effect"
import type * as Http from "node:http"
import { get, listen } from "../../testkit/test/support/Http.js"
import * as NodeReceiverConsole from "../src/NodeReceiverConsole.js"

describe("NodeReceiverConsole", () => {
  it.live("serves the console under its prefix and hands anything else to next", () =>
    Effect.gen(function* () {
      const inbox = yield* MemoryInbox.make()
      // The console needs the port it is served on, so the server listens before the handler exists.
      let listener: Http.RequestListener = (_req, res) => res.writeHead(503).end()
      const base = yield* listen((req, res) => listener(req, res))
      const handler = yield* NodeReceiverConsole.make({
        host: "127.0.0.1",
        port: Number(new URL(base).port),
        handler: () => Effect.void
      }).pipe(Effect.provideService(Inbox.Operations, inbox))
      listener = (req, res) => handler(req, res, () => res.writeHead(200).end("the application"))
      const page = yield* get(`${base}/_witkey/`)
      assert.strictEqual(page.status, 200)
      assert.include(page.text, "witkey receiver console")
      const other = yield* get(`${base}/orders`)
      assert.strictEqual(other.text, "the application")
    }).pipe(Effect.scoped)
  )
})
