/** The handler of `ServeCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as CliError from "../CliError.js"
import * as CommonOptions from "../CommonOptions.js"
import * as Database from "../Database.js"
import * as Keys from "../Keys.js"
import * as Output from "../Output.js"
import * as ServeConsole from "../ServeConsole.js"
import * as ServeHandler from "../ServeHandler.js"
import type * as ServeCommand from "../ServeCommand.js"

/** The stdout line of a processed notification, and the stderr line of anything else. */
export const report = (result: NotificationReceiver.Result): Effect.Effect<void> => {
  if (result._tag === "Refused")
    return Output.diagnostic(
      `refused ${result.notifyId ?? "(unverified)"}: ${result.reason}: ${result.message} (answered fail; Alipay retries)`
    )
  const n = result.notification
  if (result.outcome._tag === "Processed") return ServeHandler.processed(n)
  if (result.outcome._tag === "Parked")
    return Output.diagnostic(
      `parked ${n.notifyId}: the handler failed permanently (${result.outcome.error}); answered success`
    )
  return Output.diagnostic(
    `duplicate ${n.notifyId} ignored (by ${result.outcome.by}, processed as ${result.outcome.processedNotifyId})`
  )
}

const reasonOf = Database.reasonOf

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

export const run = (values: Command.Command.ParseConfig<typeof ServeCommand.options>) =>
  Effect.gen(function* () {
    if (values.headerTimeout <= 0 || values.headerTimeout > 3600)
      return yield* CliError.usage("--header-timeout must be 1 to 3600 seconds")
    const partnerIssues = ConfirmRequest.checkPartner(values.partner)
    if (partnerIssues.length > 0) return yield* CliError.usage(`--partner: ${partnerIssues[0]!.message}`)
    if (Option.isSome(values.gateway)) yield* CommonOptions.checkGateway(values.gateway.value)
    yield* ServeConsole.check(values)
    const verifier = yield* Keys.verifier(values.alipayPublicKey)
    // The server, SQL and HTTP client modules are loaded only by the commands that run servers.
    const [Http, NodeHttpServer, HttpTransport, NotificationEndpoint] = yield* Effect.promise(() =>
      Promise.all([
        import("node:http"),
        import("@effect/platform-node/NodeHttpServer"),
        import("@witkey/node-http/HttpTransport"),
        import("@witkey/node-http/NotificationEndpoint")
      ])
    )
    const gateway = Option.getOrUndefined(values.gateway)
    const notifyVerify = gateway !== undefined && !values.noNotifyVerify
    const transport =
      gateway === undefined ? Layer.succeed(Transport.Transport, noGateway) : HttpTransport.layerNode()
    const receiver = NotificationReceiver.layer({
      partner: values.partner,
      gateway: gateway ?? "http://127.0.0.1/",
      charset: values.charset
    }).pipe(Layer.provide(Layer.merge(transport, Layer.succeed(Verifier.Verifier, verifier))))
    // With the console, the payout journal on the same database (`confirm --journal`) is shown beside the
    // inbox, with its reconciliation; its tables are created if missing.
    const inbox: Layer.Layer<Database.Services, CliError.CliError> = values.console
      ? Database.inboxAndJournal(values.db)
      : Database.inbox(values.db)
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
      const address = server.address
      const port = address._tag === "TcpAddress" ? address.port : values.port
      const endpoint = NotificationEndpoint.httpApp(ServeHandler.handler, {
        notifyVerify,
        onResult: report
      })
      const journal = Option.getOrUndefined(yield* Effect.serviceOption(PayoutJournal.PayoutJournal))
      const served = yield* ServeConsole.wrap({ ...values, port, journal }, endpoint)
      yield* server.serve(served.app)
      yield* Output.diagnostic(
        `witkey serve: receiving notifications at http://${values.host}:${port}/ (inbox ${Database.describe(values.db)}, notify_verify ${notifyVerify ? `at ${gateway}` : "off"}); Ctrl-C to stop`
      )
      if (served.line !== undefined) yield* Output.diagnostic(served.line)
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(receiver, inbox)))
  })
