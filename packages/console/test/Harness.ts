// The receiver console on a loopback node:http server, over a MemoryInbox whose failed entries turn exhausted
// at once (exhaustedAfter: 1 ms), with one exhausted, one processed entry and a handler that counts its runs,
// and a payout journal with one confirmed payout of their task (three serials, two notified).
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import { assign, received } from "@witkey/testkit/InboxSuite"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import type * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as MemoryPayoutJournal from "@witkey/testkit/MemoryPayoutJournal"
import { signed } from "@witkey/testkit/PayoutJournalSuite"
import { type Duration, Effect, Redacted, Ref, type Scope } from "effect"
import * as Http from "node:http"
import * as ReceiverConsole from "../src/ReceiverConsole.js"

/** The payee id `InboxSuite.assign` writes. */
export const PAYEE = "2088102122524333"

export interface Served {
  readonly origin: string
  readonly url: string
  readonly runs: Ref.Ref<ReadonlyArray<string>>
  readonly exhausted: string
  readonly processed: string
  readonly run: string
  /** The inbox behind the console, to receive more. */
  readonly inbox: Inbox.Inbox
  /** The tasks the console read by task (`Inbox.byTask`), in order. */
  readonly byTaskReads: Ref.Ref<ReadonlyArray<string>>
}

export const serve = (options: {
  readonly host?: string
  readonly token?: string
  /** Journal rows that do not decode, as the journal would report them. */
  readonly unreadable?: ReadonlyArray<PayoutJournal.Unreadable>
  /** This many more processed entries, received after the two (`rc-<run>-extra-<i>`). */
  readonly extra?: number
  /** Provide only `Inbox.Operations`, as an application may (the console's declared requirement). */
  readonly operationsOnly?: boolean
  /** The console's `settledRecheck`. */
  readonly settledRecheck?: Duration.DurationInput
}): Effect.Effect<Served, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const inbox = yield* MemoryInbox.make({ exhaustedAfter: "1 millis" })
    const run = Math.random().toString(36).slice(2, 8)
    const exhausted = `rc-${run}-1`
    const processed = `rc-${run}-2`
    const broken = yield* received({ notifyId: exhausted, payload: assign(`task-${run}`, "s-<1>") })
    yield* Effect.flip(inbox.receive(broken, () => Effect.fail({ message: "ledger <down>" })))
    const ok = yield* received({ notifyId: processed, payload: assign(`task-${run}`, "s-2") })
    yield* inbox.receive(ok, () => Effect.void)
    yield* Effect.sleep("5 millis")
    for (let i = 0; i < (options.extra ?? 0); i++)
      yield* inbox.receive(
        yield* received({ notifyId: `rc-${run}-extra-${i}`, payload: assign(`task-${run}-x`, `x-${i}`) }),
        () => Effect.void
      )
    // A payout journal: the task's serials paid, one of them (s-3) not notified yet.
    const journal = yield* MemoryPayoutJournal.make
    const { entry } = yield* journal.record(yield* signed(`task-${run}`, ["s-<1>", "s-2", "s-3"]), {
      owner: "harness",
      until: Number.MAX_SAFE_INTEGER
    })
    yield* journal.startAttempt(entry.id, "harness")
    yield* journal.finishAttempt(entry.id, 1, { text: "HTTP 200", mayHaveReached: true })
    yield* journal.finish(entry.id, "harness", {
      _tag: "Confirmed",
      verifiedBy: { keyId: "alipay-2026", status: "active" }
    })
    const runs = yield* Ref.make<ReadonlyArray<string>>([])
    const byTaskReads = yield* Ref.make<ReadonlyArray<string>>([])
    const handler = (n: Notification.Notification) => Ref.update(runs, (r) => [...r, n.notifyId])
    const host = options.host ?? "127.0.0.1"
    const node = Http.createServer()
    const server = yield* NodeHttpServer.make(() => node, { port: 0, host })
    yield* Effect.addFinalizer(() => Effect.sync(() => node.closeAllConnections()))
    const address = server.address
    const port = address._tag === "TcpAddress" ? address.port : 0
    const app = yield* ReceiverConsole.serveWith(
      {
        host,
        port,
        handler,
        journal:
          options.unreadable === undefined
            ? journal
            : { ...journal, unreadable: Effect.succeed(options.unreadable) },
        token: options.token === undefined ? undefined : Redacted.make(options.token),
        settledRecheck: options.settledRecheck
      },
      Effect.succeed(HttpServerResponse.text("endpoint"))
    )
    yield* server.serve(
      options.operationsOnly === true
        ? app.pipe(Effect.provideService(Inbox.Operations, inbox))
        : app.pipe(
            Effect.provideService(Inbox.Operations, inbox),
            Effect.provideService(Inbox.Inbox, {
              ...inbox,
              byTask: (task) =>
                Effect.zipRight(
                  Ref.update(byTaskReads, (r) => [...r, task]),
                  inbox.byTask(task)
                )
            })
          )
    )
    const origin = `http://127.0.0.1:${port}`
    return { origin, url: `${origin}/_witkey/`, runs, exhausted, processed, run, inbox, byTaskReads }
  })
