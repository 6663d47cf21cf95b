// The Promise API's notification listener on node:http, fed by the testkit sandbox over HTTP, into SQLite.
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import * as SqliteInbox from "@witkey/inbox-sql/SqliteInbox"
import { Effect, Either, Layer, Option } from "effect"
import { existsSync } from "node:fs"
import type * as http from "node:http"
import { join } from "node:path"
import type { Notification } from "../src/index.js"
import { ConfigurationError, InboxError, Witkey } from "../src/index.js"
import { eventually, listen, options, post, sandbox, settle, tempDir } from "./Support.js"

/** The entry of `notifyId` in the SQLite inbox at `filename`, read with a connection of its own. */
const entryOf = (filename: string, notifyId: string) =>
  Effect.flatMap(Inbox.Inbox, (inbox) => inbox.get(notifyId)).pipe(
    Effect.provide(Layer.orDie(SqliteInbox.layer({ filename }))),
    Effect.orDie,
    Effect.map(Option.getOrThrow)
  )

/** A sandbox, a Witkey paying on it, and a node:http server whose only route is the listener. */
const setup = (handler: (n: Notification) => Promise<void>) =>
  Effect.gen(function* () {
    const { sandbox: gw, server } = yield* sandbox(["task-1"])
    const dir = yield* tempDir
    const filename = join(dir, "inbox.db")
    let listener: (req: http.IncomingMessage, res: http.ServerResponse) => void = () => {}
    const base = yield* listen((req, res) => listener(req, res))
    const wk = new Witkey(options(server.gatewayUrl, { notifyUrl: `${base}/alipay/notify` }))
    yield* Effect.addFinalizer(() => Effect.promise(() => wk.close()))
    const notificationListener = wk.notificationListener({ inbox: { sqlite: filename }, handler })
    listener = notificationListener
    return { gw, wk, listener: notificationListener, filename, base }
  })

describe("Witkey.notificationListener", () => {
  it.scopedLive("receives the payout's notifications into SQLite, once each, and answers success", () =>
    Effect.gen(function* () {
      const received: Array<Notification> = []
      const { gw, wk, listener, filename } = yield* setup(async (n) => {
        received.push(n)
      })
      yield* Effect.promise(() => listener.ready)
      const result = yield* Effect.promise(() =>
        wk.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a", "task-1-b"] })
      )
      assert.strictEqual(result.status, "confirmed")
      yield* eventually(
        Effect.map(
          gw.notifications,
          (all) => all.length === 3 && all.every((n) => n.state === "acknowledged")
        ),
        "three acknowledged notifications"
      )
      const assigns = received
        .filter((n) => n.subType === "ASSIGN_FOR_ANNOUNCE_PAYMENT")
        .sort((a, b) => a.outerTransferNo!.localeCompare(b.outerTransferNo!))
      assert.deepStrictEqual(
        assigns.map((n) => [n.outerTaskId, n.outerTransferNo, n.transferAmount]),
        [
          ["task-1", "task-1-a", "120.00"],
          ["task-1", "task-1-b", "80.50"]
        ]
      )
      const fee = received.find((n) => n.subType === "PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT")!
      assert.strictEqual(fee.transferAmount, "30.00")
      assert.strictEqual(fee.outerTransferNo, undefined)
      assert.strictEqual(received.length, 3)

      // close() releases the SQLite connection: the last connection of a WAL database removes the -wal file.
      assert.isTrue(existsSync(`${filename}-wal`))
      yield* Effect.promise(() => wk.close())
      assert.isFalse(existsSync(`${filename}-wal`))
      const entry = yield* entryOf(filename, received[0]!.notifyId)
      assert.strictEqual(entry.state, "processed")
    })
  )

  it.scopedLive("a handler that throws: the inbox records the failure and Alipay is answered fail", () =>
    Effect.gen(function* () {
      const { gw, wk, listener, filename } = yield* setup(async (n) => {
        throw new Error(`ledger offline for ${n.notifyId}`)
      })
      yield* Effect.promise(() => listener.ready)
      yield* Effect.promise(() => wk.confirmByPlatform({ outerTaskId: "task-1", transfers: ["task-1-a"] }))
      yield* eventually(
        Effect.map(gw.notifications, (all) => all.length > 0 && all.every((n) => n.attempts.length === 1)),
        "the first delivery attempts"
      )
      const [first] = yield* gw.notifications
      const attempt = first!.attempts[0]!
      assert.isFalse(attempt.acknowledged)
      assert.deepStrictEqual(
        attempt.result._tag === "Answered" ? new TextDecoder().decode(attempt.result.body) : attempt.result,
        "fail"
      )
      yield* Effect.promise(() => wk.close())
      const entry = yield* entryOf(filename, first!.notifyId)
      assert.strictEqual(entry.state, "failed")
      assert.include(entry.lastError ?? "", `ledger offline for ${first!.notifyId}`)
    })
  )

  it.scopedLive("an inbox that cannot open: ready rejects with InboxError, requests are answered fail", () =>
    Effect.gen(function* () {
      const { server } = yield* sandbox([])
      const dir = yield* tempDir
      const wk = new Witkey(options(server.gatewayUrl))
      yield* Effect.addFinalizer(() => Effect.promise(() => wk.close()))
      const listener = wk.notificationListener({
        inbox: { sqlite: join(dir, "no", "such", "dir", "inbox.db") },
        handler: async () => {}
      })
      const error = yield* settle(() => listener.ready)
      assert.isTrue(Either.isLeft(error))
      assert.instanceOf(Either.getLeft(error).pipe(Option.getOrThrow), InboxError)
      const base = yield* listen((req, res) => listener(req, res))
      const answer = yield* post(`${base}/`, "notify_id=1")
      assert.deepStrictEqual(answer, { status: 500, body: "fail" })
    })
  )

  it.scopedLive("options are checked when the listener is made; after close() requests get 503 fail", () =>
    Effect.gen(function* () {
      const { server } = yield* sandbox([])
      const dir = yield* tempDir
      const wk = new Witkey(options(server.gatewayUrl))
      assert.throws(
        () => wk.notificationListener({ inbox: {} as never, handler: async () => {} }),
        ConfigurationError,
        "inbox: give { sqlite: FILE } or { postgres: URL } (a non-empty string)"
      )
      assert.throws(
        () => wk.notificationListener({ inbox: { sqlite: "x.db" }, handler: "no" as never }),
        ConfigurationError,
        /^handler: /
      )
      const listener = wk.notificationListener({
        inbox: { sqlite: join(dir, "inbox.db") },
        handler: async () => {}
      })
      yield* Effect.promise(() => listener.ready)
      const base = yield* listen((req, res) => listener(req, res))
      yield* Effect.promise(() => wk.close())
      assert.deepStrictEqual(yield* post(`${base}/`, "notify_id=1"), { status: 503, body: "fail" })
    })
  )

  it.scopedLive("close() right after the listener is made waits for the inbox to open, then closes it", () =>
    Effect.gen(function* () {
      const { server } = yield* sandbox([])
      const dir = yield* tempDir
      const filename = join(dir, "inbox.db")
      const wk = new Witkey(options(server.gatewayUrl))
      const listener = wk.notificationListener({ inbox: { sqlite: filename }, handler: async () => {} })
      yield* Effect.promise(() => wk.close())
      yield* Effect.promise(() => listener.ready)
      assert.isTrue(existsSync(filename))
      assert.isFalse(existsSync(`${filename}-wal`))
    })
  )
})
