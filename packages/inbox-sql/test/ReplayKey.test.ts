// A replay decodes the stored bytes again, in the charset the operator names. If that decode reads other ids
// than the delivery did (the wrong charset), the replay must not claim another event: the handler would run
// for an event a re-issue already processed, and the real event's later deliveries would run it again.
import { assert, describe, it } from "@effect/vitest"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import type { Scope } from "effect"
import { Context, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as SqliteInbox from "../src/SqliteInbox.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "witkey-replay-key-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

class Refused {
  readonly _tag = "Refused"
}

/** The scenario on the inbox `open` builds (in the test's scope). */
const scenario = (open: Effect.Effect<Layer.Layer<Inbox.Inbox | Inbox.Operations>, never, Scope.Scope>) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(yield* open)
    const inbox = Context.get(context, Inbox.Inbox)
    const ops = Context.get(context, Inbox.Operations)
    // UTF-8 bytes of this task id are also valid GBK (they read "浠诲姟-7"): a strict GBK decode succeeds.
    const task = "任务-7"
    const first = yield* InboxSuite.received({
      notifyId: "replay-key-1",
      payload: InboxSuite.assign(task, "s-1"),
      contentType: "none"
    })
    const reissue = yield* InboxSuite.received({
      notifyId: "replay-key-2",
      payload: InboxSuite.assign(task, "s-1"),
      contentType: "none"
    })
    const ran: Array<string> = []
    const handler = (n: Notification.Notification) =>
      Effect.sync(() => void ran.push(`${n.notifyId} ${n.payload.outerTaskId}`))
    yield* Effect.either(inbox.receive(first, () => Effect.fail(new Refused())))
    assert.deepStrictEqual(yield* inbox.receive(reissue, handler), { _tag: "Processed" })
    const replayed = yield* Effect.either(ops.replay("replay-key-1", handler, { charset: "gbk" }))
    assert.deepStrictEqual(ran, [`replay-key-2 ${task}`], "the event's handler ran once, for the re-issue")
    assert.isTrue(
      replayed._tag === "Left" || replayed.right._tag !== "Processed",
      `the replay was not processed as a new event: ${JSON.stringify(replayed)}`
    )
    assert.isTrue(replayed._tag === "Left" && replayed.left instanceof Inbox.InboxError)
    if (replayed._tag === "Left") assert.include(String(replayed.left.message), "charset")
    // In the charset it arrived in, the replay finds the re-issue's processing: a duplicate, nothing run.
    assert.deepStrictEqual(yield* ops.replay("replay-key-1", handler), {
      _tag: "Duplicate",
      by: "business_key",
      processedNotifyId: "replay-key-2"
    })
    assert.strictEqual(ran.length, 1)
    const entry = Option.getOrThrow(yield* inbox.get("replay-key-1"))
    assert.strictEqual(entry.duplicateOf, "replay-key-2")
  })

describe("Inbox replay in another charset than the delivery's", () => {
  it.scoped(
    "SqlInbox: a decode naming another event than the recorded one is refused, its handler not run",
    () =>
      scenario(
        Effect.map(tempDir, (dir) =>
          SqliteInbox.layer({ filename: path.join(dir, "inbox.db") }).pipe(Layer.orDie)
        )
      )
  )

  it.scoped("MemoryInbox: the same", () => scenario(Effect.succeed(MemoryInbox.layer)))
})
