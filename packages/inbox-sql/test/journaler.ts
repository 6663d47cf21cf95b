// A platform process for JournalCrash.test.ts (bundled by Bundle.bundled, run with node), on one SQLite
// file, that kills itself where told (SIGKILL, as `kill -9` would):
//   pay <file.db> <gateway> <task> <serial,serial…> [before-send | after-answer]
//       JournaledClient.confirmByPlatform; `before-send`: dies with the payout recorded and its attempt started,
//       before the request leaves; `after-answer`: dies when the gateway's answer is in, before it is recorded.
//   resume <file.db> <gateway> [before-send | after-answer]
//       JournaledClient.resume, dying the same way on its first send.
//   operate <file.db> <notify_id,notify_id…> [forever]
//       resolves each entry (note "by hand <id>"), pruning after each, then (`forever`) prunes until killed;
//       the test kills it at random moments.
// The payer's owner is fixed ("platform"), as a restarted service's is: its own claims are its own at once.
// Prints one JSON line per result, "done" at the end.
import * as Inbox from "@witkey/core/Inbox"
import * as JournaledClient from "@witkey/core/JournaledClient"
import * as Transport from "@witkey/core/Transport"
import * as HttpTransport from "@witkey/node-http/HttpTransport"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Effect, Layer, Schedule } from "effect"
import * as SqliteInbox from "../src/SqliteInbox.js"
import * as SqlPayoutJournal from "../src/SqlPayoutJournal.js"

const [mode, filename, ...rest] = process.argv.slice(2)
if (filename === undefined) throw new Error("usage: journaler.ts <mode> <file.db> …")

// Pipes are synchronous on Linux: the line is out before the signal.
const die = (where: string) => {
  process.stdout.write(`crash ${where}\n`)
  process.kill(process.pid, "SIGKILL")
}
const print = (value: unknown) => Effect.sync(() => void process.stdout.write(`${JSON.stringify(value)}\n`))

const database = SqliteInbox.layer({ filename })

/** The node transport with a tripwire around the first request. */
const tripwire = (crash: string | undefined) =>
  Layer.effect(
    Transport.Transport,
    Effect.map(Transport.Transport, (inner) =>
      Transport.make((url) =>
        Effect.zipRight(
          Effect.sync(() => crash === "before-send" && die("before-send")),
          Effect.tap(inner.get(url), () => Effect.sync(() => crash === "after-answer" && die("after-answer")))
        )
      )
    )
  ).pipe(Layer.provide(HttpTransport.layerNode()))

const payer = (gateway: string, crash: string | undefined) =>
  JournaledClient.layer({
    partner: TestKeys.partnerId,
    gateway,
    owner: "platform",
    retry: Schedule.recurs(2)
  }).pipe(
    Layer.provide(Layer.mergeAll(TestKeys.clientKeys, tripwire(crash))),
    Layer.provide(SqlPayoutJournal.layer()),
    Layer.provide(database)
  )

const program = Effect.gen(function* () {
  if (mode === "pay") {
    const [gateway, task, serials, crash] = rest
    const outcome = yield* Effect.flatMap(JournaledClient.JournaledClient, (journaled) =>
      journaled.confirmByPlatform({ outerTaskId: task!, transfers: serials!.split(",") })
    ).pipe(Effect.either, Effect.provide(payer(gateway!, crash)))
    yield* print(
      outcome._tag === "Right" ? outcome.right._tag : `${outcome.left._tag}: ${outcome.left.message}`
    )
  } else if (mode === "resume") {
    const [gateway, crash] = rest
    const resumed = yield* Effect.flatMap(
      JournaledClient.JournaledClient,
      (journaled) => journaled.resume
    ).pipe(Effect.provide(payer(gateway!, crash)))
    yield* print(resumed.map((r) => (r._tag === "Settled" ? `Settled ${r.outcome._tag}` : r._tag)))
  } else if (mode === "operate") {
    const ids = rest[0]!.split(",")
    yield* Effect.gen(function* () {
      const ops = yield* Inbox.Operations
      for (const id of ids) {
        const resolved = yield* ops.resolve(id, `by hand ${id}`)
        const pruned = yield* ops.prune({ olderThan: "1 millis" })
        yield* print({ id, resolved: resolved._tag, pruned })
      }
      // Until killed: the kill then lands in a prune when it misses the resolves.
      while (rest[1] === "forever") yield* ops.prune({ olderThan: "1 millis" })
    }).pipe(Effect.provide(database))
  } else throw new Error(`unknown mode ${mode}`)
  process.stdout.write("done\n")
})

Effect.runPromise(Effect.scoped(program)).catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`)
  process.exit(1)
})
