/**
 * The demo's wiring, with the layers a platform is told to use: the inbox and the payout journal on one
 * database (`SqliteInbox.layer` or `PgInbox.layer`, with `SqlPayoutJournal.layer` on the same client, through
 * `Database`), the platform's `JournaledClient`, node-http's notification endpoint on a Node listener, the
 * sandbox gateway over HTTP on an accelerated clock.
 *
 * @since 0.2.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Inbox from "@witkey/core/Inbox"
import * as JournaledClient from "@witkey/core/JournaledClient"
import type * as Notification from "@witkey/core/Notification"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Signer from "@witkey/core/Signer"
import * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import * as Migrations from "@witkey/inbox-sql/Migrations"
import * as SqlPayoutJournal from "@witkey/inbox-sql/SqlPayoutJournal"
import * as HttpTransport from "@witkey/node-http/HttpTransport"
import * as NotificationEndpoint from "@witkey/node-http/NotificationEndpoint"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxServer from "@witkey/testkit/SandboxServer"
import * as TestKeys from "@witkey/testkit/TestKeys"
import type * as Clock from "effect/Clock"
import type * as Scope from "effect/Scope"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Http from "node:http"
import * as Database from "./Database.js"
import * as DemoConsole from "./DemoConsole.js"

export class DemoError extends Schema.TaggedError<DemoError>()("DemoError", {
  message: Schema.String
}) {}

export const fail =
  (what: string) =>
  (e: { readonly message: string }): DemoError =>
    new DemoError({ message: `${what}: ${e.message}` })

/** The demo's tables start with this, so that it can share a database and clean up after an earlier run. */
export const DEFAULT_TABLE_PREFIX = "witkey_demo_"

/** The table the receiver's handler writes a row to for every payout it processes. */
export const businessTable = (prefix: string): string => `${prefix}business_payouts`

export type Stores = Database.Services | PayoutJournal.PayoutJournal

/**
 * The inbox, its operations and the payout journal on one database: a SQLite file in a temporary directory
 * unless `db` says otherwise. The demo's tables (inbox, journal, the handler's) are emptied first: an earlier
 * run's rows would not agree with this run's sandbox.
 */
export const stores = (options: {
  readonly db: Database.Database | undefined
  readonly tablePrefix: string
  readonly policy: Inbox.Policy
}): Effect.Effect<Context.Context<Stores>, DemoError, Scope.Scope | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const db =
      options.db ??
      Database.parse(
        (yield* Path.Path).join(
          yield* (yield* FileSystem.FileSystem)
            .makeTempDirectoryScoped({ prefix: "witkey-demo-" })
            .pipe(Effect.mapError(fail("temp dir"))),
          "demo.db"
        )
      )
    const context = yield* Layer.build(
      Database.inboxAndJournal(db, { ...options.policy, tablePrefix: options.tablePrefix })
    ).pipe(Effect.mapError(fail("database")))
    const sql = Context.get(context, SqlClient.SqlClient)
    const inbox = Migrations.tables(options.tablePrefix)
    const journal = SqlPayoutJournal.tables(options.tablePrefix)
    const business = businessTable(options.tablePrefix)
    yield* Effect.gen(function* () {
      yield* sql.unsafe(
        `CREATE TABLE IF NOT EXISTS "${business}" (business_key TEXT NOT NULL, notify_id TEXT NOT NULL, amount TEXT NOT NULL)`
      )
      for (const table of [
        inbox.attempts,
        inbox.events,
        inbox.notifications,
        journal.attempts,
        journal.payouts,
        business
      ])
        yield* sql.unsafe(`DELETE FROM "${table}"`)
    }).pipe(Effect.mapError(fail("cleaning the demo's tables")))
    return context
  })

/** The receiver's Node listener on a free loopback port, closed with the scope. */
export const listen = Effect.gen(function* () {
  const node = Http.createServer()
  const server = yield* NodeHttpServer.make(() => node, { port: 0, host: "127.0.0.1" }).pipe(
    Effect.mapError(fail("receiver"))
  )
  yield* Effect.addFinalizer(() => Effect.sync(() => node.closeAllConnections()))
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  return { server, port, notifyUrl: `http://127.0.0.1:${port}/` }
})

/**
 * The receiver: node-http's notification endpoint on `server`, core's NotificationReceiver with notify_verify
 * against the gateway, the inbox running `handler`. The one place the receiver is wired.
 */
export const serveReceiver = <E, R>(
  server: HttpServer.HttpServer,
  options: {
    readonly gatewayUrl: string
    readonly verifier: Verifier.Verifier
    readonly transport: Transport.Transport
    readonly inbox: Inbox.Inbox
    readonly operations: Inbox.Operations
    readonly handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
    readonly onResult: (result: NotificationReceiver.Result) => Effect.Effect<void>
    /** With `--console`: the receiver console in front of the endpoint, on the same port. */
    readonly console?: { readonly port: number } | undefined
  }
): Effect.Effect<void, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    // Receive-only: the receiver needs the gateway's key and a transport for notify_verify, no signer.
    const receiver = NotificationReceiver.fromServices(
      { partner: TestKeys.partnerId, gateway: options.gatewayUrl },
      { verifier: options.verifier, transport: options.transport }
    )
    const endpoint = NotificationEndpoint.httpApp(options.handler, {
      notifyVerify: true,
      onResult: options.onResult
    })
    const app =
      options.console === undefined
        ? endpoint
        : yield* DemoConsole.receiverApp(options.console.port, options.handler, endpoint)
    yield* server.serve(
      app.pipe(
        Effect.provideService(NotificationReceiver.NotificationReceiver, receiver),
        Effect.provideService(Inbox.Inbox, options.inbox),
        Effect.provideService(Inbox.Operations, options.operations)
      )
    )
  })

/** The sandbox gateway over HTTP, served under `clock`: every request, and every delivery it starts, runs on it. */
export const gateway = (sandbox: Sandbox.Sandbox, clock: Clock.Clock) =>
  SandboxServer.make({ port: 0 }).pipe(
    Effect.provideService(Sandbox.Sandbox, sandbox),
    Effect.withClock(clock),
    Effect.mapError(fail("sandbox server"))
  )

/**
 * How the sandbox delivers notifications: its default (Node's HTTP client, no keep-alive), with the sandbox's
 * clock held for each attempt until the answer is in (`ScaledClock.hold`): at the demo's speed a receiver busy
 * for a second would otherwise look eight hours late to the gateway's schedule.
 */
export const deliver = (hold: () => () => void): Effect.Effect<Sandbox.Deliver, never, Scope.Scope> =>
  Effect.map(
    Layer.build(
      NodeHttpClient.layerWithoutAgent.pipe(
        Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false }))
      )
    ),
    (context) => {
      const post = Sandbox.httpDeliver(Context.get(context, HttpClient.HttpClient))
      return (delivery) =>
        Effect.acquireUseRelease(
          Effect.sync(hold),
          () => post(delivery),
          (release) => Effect.sync(release)
        )
    }
  )

/** Node's HTTP client with a time limit for each answer. */
export const transport = (timeout: Duration.DurationInput) =>
  Effect.map(Layer.build(HttpTransport.layerNode({ timeout })), Context.get(Transport.Transport))

/**
 * The platform's payout client: `JournaledClient`, recording each request before it is sent. `owner` names the
 * platform in the journal's claims: a restarted platform under the same name takes its payouts back at once.
 */
export const platform = (options: {
  readonly gatewayUrl: string
  readonly notifyUrl: string
  readonly signer: Signer.Signer
  readonly verifier: Verifier.Verifier
  readonly transport: Transport.Transport
  readonly journal: PayoutJournal.PayoutJournal
}): Effect.Effect<JournaledClient.JournaledClient> =>
  JournaledClient.make({
    partner: TestKeys.partnerId,
    gateway: options.gatewayUrl,
    notifyUrl: options.notifyUrl,
    owner: "demo-platform",
    retry: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(4)), Schedule.asVoid)
  }).pipe(
    Effect.provideService(Signer.Signer, options.signer),
    Effect.provideService(Verifier.Verifier, options.verifier),
    Effect.provideService(Transport.Transport, options.transport),
    Effect.provideService(PayoutJournal.PayoutJournal, options.journal)
  )

/** The handler's row for a processed payout. */
export const recordPayout = (
  sql: SqlClient.SqlClient,
  tablePrefix: string,
  row: { readonly business_key: string; readonly notify_id: string; readonly amount: string }
) => sql`INSERT INTO ${sql(businessTable(tablePrefix))} ${sql.insert(row)}`

/** Every row the handler wrote. */
export const payoutRows = (sql: SqlClient.SqlClient, tablePrefix: string) =>
  sql<{ readonly business_key: string; readonly amount: string }>`
    SELECT business_key, amount FROM ${sql(businessTable(tablePrefix))}`.pipe(
    Effect.mapError(fail("database"))
  )
