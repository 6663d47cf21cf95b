/**
 * `witkey serve`: a notification receiver at `/` with the SQLite inbox. Every notification processed (the
 * first time only, after the inbox committed) is one JSON line on stdout:
 * `{"processed": "<notify_id>", "sub_type": "...", "outer_task_id": "...", "outer_transfer_no": "...",
 * "transfer_amount": "..."}` (wire text; a field the sub type lacks is left out). Everything else goes to stderr.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import { Cause, Duration, Effect, Layer, Option } from "effect"
import * as CliError from "./CliError.js"
import * as CommonOptions from "./CommonOptions.js"
import * as Keys from "./Keys.js"
import * as Output from "./Output.js"

/** The stdout line of a processed notification, and the stderr line of anything else. */
export const report = (result: NotificationReceiver.Result): Effect.Effect<void> => {
  if (result._tag === "Refused")
    return Output.diagnostic(
      `refused ${result.notifyId ?? "(unverified)"}: ${result.reason}: ${result.message} (answered fail; Alipay retries)`
    )
  const n = result.notification
  // The decoded wire text of what was handled, so it can be checked against the payout (absent: omitted).
  const wire = (name: string) => (Object.hasOwn(n.fields, name) ? n.fields[name] : undefined)
  if (result.outcome._tag === "Processed")
    return Output.json({
      processed: n.notifyId,
      sub_type: n.payload.subType,
      outer_task_id: wire("outer_task_id"),
      outer_transfer_no: wire("outer_transfer_no"),
      transfer_amount: wire("transfer_amount")
    })
  if (result.outcome._tag === "Parked")
    return Output.diagnostic(
      `parked ${n.notifyId}: the handler failed permanently (${result.outcome.error}); answered success`
    )
  return Output.diagnostic(
    `duplicate ${n.notifyId} ignored (by ${result.outcome.by}, processed as ${result.outcome.processedNotifyId})`
  )
}

/** The message of what went wrong (an Error's, or the value's text). */
const reasonOf = (error: unknown): string =>
  error instanceof Error
    ? error.message
    : typeof error === "object" && error !== null && "message" in error
      ? String(error.message)
      : String(error)

/** Stands in for a gateway when none is given: nothing is sent, since notify_verify is off then. */
const noGateway = Transport.make(() =>
  Effect.fail(
    new Transport.TransportError({
      reason: "invalid_url",
      mayHaveReached: false,
      message: "no --gateway was given"
    })
  )
)

export const command = Command.make(
  "serve",
  {
    port: Options.integer("port").pipe(Options.withDescription("The port to listen on (0: any free port).")),
    host: Options.text("host").pipe(
      Options.withDescription("The address to listen on (default 127.0.0.1)."),
      Options.withDefault("127.0.0.1")
    ),
    db: Options.text("db").pipe(Options.withDescription("The SQLite inbox file (created if missing).")),
    alipayPublicKey: CommonOptions.alipayPublicKey,
    partner: CommonOptions.partner,
    gateway: CommonOptions.gateway.pipe(
      Options.withDescription(
        "The gateway URL; with it, every notify_id is checked with notify_verify there."
      ),
      Options.optional
    ),
    noNotifyVerify: Options.boolean("no-notify-verify").pipe(
      Options.withDescription("Do not call notify_verify even when --gateway is given.")
    ),
    headerTimeout: Options.integer("header-timeout").pipe(
      Options.withDescription(
        "Seconds a client has to send its request headers before it is answered 408 and cut off (default 20); the body has 10 more."
      ),
      Options.withDefault(20)
    ),
    charset: CommonOptions.charsetWithDefault(
      "utf-8",
      "The charset notifications are decoded in (default utf-8); a Content-Type naming another is refused."
    )
  },
  (values) =>
    Effect.gen(function* () {
      if (values.port < 0 || values.port > 65535) return yield* CliError.usage("--port must be 0 to 65535")
      if (values.headerTimeout <= 0 || values.headerTimeout > 3600)
        return yield* CliError.usage("--header-timeout must be 1 to 3600 seconds")
      const partnerIssues = ConfirmRequest.checkPartner(values.partner)
      if (partnerIssues.length > 0) return yield* CliError.usage(`--partner: ${partnerIssues[0]!.message}`)
      if (Option.isSome(values.gateway)) yield* CommonOptions.checkGateway(values.gateway.value)
      const verifier = yield* Keys.verifier(values.alipayPublicKey)
      // The server, SQL and HTTP client modules are loaded only by the commands that run servers.
      const [Http, NodeHttpServer, HttpTransport, SqliteInbox, NotificationEndpoint] = yield* Effect.promise(
        () =>
          Promise.all([
            import("node:http"),
            import("@effect/platform-node/NodeHttpServer"),
            import("@witkey/node-http/HttpTransport"),
            import("@witkey/inbox-sql/SqliteInbox"),
            import("@witkey/node-http/NotificationEndpoint")
          ])
      )
      const Receiver = yield* Effect.promise(() => import("./Receiver.js"))
      const gateway = Option.getOrUndefined(values.gateway)
      const notifyVerify = gateway !== undefined && !values.noNotifyVerify
      const transport =
        gateway === undefined ? Layer.succeed(Transport.Transport, noGateway) : HttpTransport.layerNode()
      const receiver = NotificationReceiver.layer({
        partner: values.partner,
        gateway: gateway ?? "http://127.0.0.1/",
        charset: values.charset
      }).pipe(Layer.provide(Layer.merge(transport, Layer.succeed(Verifier.Verifier, verifier))))
      // SQLite throws (a defect) for a file it cannot open, such as one in a missing directory: reported as
      // bad usage naming --db, like a failure to migrate.
      const inbox = SqliteInbox.layer({ filename: values.db }).pipe(
        Layer.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Layer.failCause(Cause.map(cause, () => CliError.failure("interrupted")))
            : Layer.fail(CliError.usage(`--db ${values.db}: ${reasonOf(Cause.squash(cause))}`))
        )
      )
      yield* Effect.gen(function* () {
        // Node's defaults let a client that trickles its headers hold a connection for a minute or more (and
        // check only every 30 s): headers and the whole request are bounded like the body is.
        const headersTimeout = values.headerTimeout * 1000
        const node = Http.createServer({
          headersTimeout,
          requestTimeout: headersTimeout + Duration.toMillis(NotificationEndpoint.DEFAULT_READ_TIMEOUT),
          connectionsCheckingInterval: Math.min(1000, Math.max(100, headersTimeout / 4))
        })
        const server = yield* NodeHttpServer.make(() => node, { port: values.port, host: values.host }).pipe(
          Effect.mapError((e) =>
            CliError.failure(
              `cannot listen on ${values.host}:${values.port}: ${e.message !== "" ? e.message : reasonOf(e.cause)}`
            )
          )
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => node.closeAllConnections()))
        yield* server.serve(Receiver.httpApp({ notifyVerify, handler: () => Effect.void, onResult: report }))
        const address = server.address
        const port = address._tag === "TcpAddress" ? address.port : values.port
        yield* Output.diagnostic(
          `witkey serve: receiving notifications at http://${values.host}:${port}/ (inbox ${values.db}, notify_verify ${notifyVerify ? `at ${gateway}` : "off"}); Ctrl-C to stop`
        )
        return yield* Effect.never
      }).pipe(Effect.scoped, Effect.provide(Layer.merge(receiver, inbox)))
    })
).pipe(
  Command.withDescription("Receive Alipay notifications at / into a SQLite inbox; print each processed one.")
)
