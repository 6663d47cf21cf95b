// A platform's notification receiver as its own process, for the crash and concurrency tests (Receivers.ts
// bundles it and runs it with node; by hand, `npx tsx`): node:http + node-http's NodeNotificationListener (verify,
// notify_verify, inbox, handler) + SqlInbox.
// The handler writes one payout row per event inside the inbox's transaction; the payouts table has no unique
// constraint on purpose, so a second run of the handler for an event would show as a second row.
//
// Environment:
//   RECEIVER_PORT                   port on 127.0.0.1
//   RECEIVER_GATEWAY                the sandbox gateway URL (notify_verify)
//   RECEIVER_SQLITE / RECEIVER_PG   the database: a SQLite file, or a PostgreSQL URL
//   RECEIVER_CRASH_IN_HANDLER_AT    SIGKILL itself inside the n-th handler run (payout row written, not committed)
//   RECEIVER_CRASH_AFTER_COMMIT_AT  SIGKILL itself after the n-th processed notification committed, before the
//                                   endpoint answers `success`
// Prints "ready <pid>" once it listens, and "crash <where>" before it kills itself.
import * as SqlClient from "@effect/sql/SqlClient"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as HttpTransport from "@witkey/node-http/HttpTransport"
import * as NodeNotificationListener from "@witkey/node-http/NodeNotificationListener"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Context, Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import * as http from "node:http"
import * as PgInbox from "../src/PgInbox.js"
import * as SqliteInbox from "../src/SqliteInbox.js"

const env = (name: string): string | undefined => process.env[name]
const port = Number(env("RECEIVER_PORT"))
const gateway = env("RECEIVER_GATEWAY")!
const crashInHandlerAt = Number(env("RECEIVER_CRASH_IN_HANDLER_AT") ?? 0)
const crashAfterCommitAt = Number(env("RECEIVER_CRASH_AFTER_COMMIT_AT") ?? 0)

// Pipes are synchronous on Linux: the line is out before the signal.
const die = (where: string) => {
  process.stdout.write(`crash ${where}\n`)
  process.kill(process.pid, "SIGKILL")
}

let handled = 0
let committed = 0

const handler = (n: Notification.Notification) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO payouts (event_key, notify_id, amount, pid) VALUES (${Notification.businessKey(n) ?? n.notifyId}, ${n.notifyId}, ${n.fields["transfer_amount"] ?? ""}, ${process.pid})`
    if (++handled === crashInHandlerAt) die("in-handler")
  })

/** The inbox with a tripwire after the commit: the window in which Alipay has no answer yet. */
const tripwire = (inbox: Inbox.Inbox): Inbox.Inbox => ({
  ...inbox,
  receive: (received, h) =>
    inbox.receive(received, h).pipe(
      Effect.tap((outcome) =>
        Effect.sync(() => {
          if (outcome._tag === "Processed" && ++committed === crashAfterCommitAt) die("after-commit")
        })
      )
    )
})

const database =
  env("RECEIVER_PG") !== undefined
    ? PgInbox.layer({ url: env("RECEIVER_PG")!, maxConnections: 4 })
    : SqliteInbox.layer({ filename: env("RECEIVER_SQLITE")! })

const inbox = database.pipe(
  Layer.map((context) => Context.add(context, Inbox.Inbox, tripwire(Context.get(context, Inbox.Inbox))))
)

// Receive-only: the receiver needs the gateway's key and a transport for notify_verify, no signer.
const client = NotificationReceiver.layer({ partner: TestKeys.partnerId, gateway }).pipe(
  Layer.provide(Layer.mergeAll(TestKeys.gatewayVerifier, HttpTransport.layerNode()))
)

// Refusals are logged as warnings: the harness shows the output when a receiver misbehaves.
const runtime = ManagedRuntime.make(Layer.mergeAll(inbox, client, Logger.minimumLogLevel(LogLevel.Warning)))

await runtime.runPromise(
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`CREATE TABLE IF NOT EXISTS payouts (event_key TEXT NOT NULL, notify_id TEXT NOT NULL, amount TEXT NOT NULL, pid INTEGER NOT NULL)`
  )
)

const server = http.createServer(NodeNotificationListener.fromManagedRuntime(runtime, handler))
server.listen(port, "127.0.0.1", () => process.stdout.write(`ready ${process.pid}\n`))
