// Test-only: one loopback server (NodeHttpServer.layerTest) carrying the fake gateway at /gateway.do and, when
// asked, the notification endpoint at /alipay/notify; a core Client wired to it through HttpTransport and the
// DSA adapter with the fixture keys; testkit's MemoryInbox.
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import * as Client from "@witkey/core/Client"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import type * as Inbox from "@witkey/core/Inbox"
import type * as Transport from "@witkey/core/Transport"
import type { Context, Schedule, Scope } from "effect"
import { Chunk, Effect, HashMap, Layer, Logger, LogLevel, Redacted, TestClock } from "effect"
import * as HttpTransport from "../../src/HttpTransport.js"
import * as NotificationEndpoint from "../../src/NotificationEndpoint.js"
import * as FakeGateway from "./FakeGateway.js"
import * as Keys from "./Keys.js"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import * as SharedHttp from "../../../testkit/test/support/Http.js"

export const NOTIFY_PATH = "/alipay/notify"

export interface Harness {
  readonly gateway: FakeGateway.FakeGateway
  /** `http://127.0.0.1:<port>` */
  readonly base: string
  readonly gatewayUrl: string
  readonly context: Context.Context<
    Client.Client | NotificationReceiver.NotificationReceiver | Inbox.Inbox | Transport.Transport
  >
  /** What the server side logged (instead of printing it). */
  readonly logs: Array<LogLine>
}

export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

export const captureLogger = (logs: Array<LogLine>) =>
  Logger.make<unknown, void>(({ annotations, logLevel, message }) => {
    logs.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })

export interface Options<E> {
  readonly retry?: Schedule.Schedule<unknown, Client.UnknownOutcome>
  readonly transport?: HttpTransport.Options
  readonly notify?: {
    readonly handler: NotificationEndpoint.Handler<E, never>
    readonly options?: NotificationEndpoint.Options
  }
}

export const signerLayer = (key: Keys.KeyName = "partner_private") =>
  DsaSigner.layer({ privateKey: Redacted.make(Keys.pem(key)) }).pipe(Layer.orDie)

export const verifierLayer = DsaVerifier.layer({ publicKey: Redacted.make(Keys.pem("gateway_public")) }).pipe(
  Layer.orDie
)

/** Runs `effect` (and what it forks, such as a server's request fibers) logging into `logs`, not the console. */
export const capturingLogs =
  (logs: Array<LogLine>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    effect.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, captureLogger(logs))),
      Logger.withMinimumLogLevel(LogLevel.Debug)
    )

export const cryptoLayer = Layer.merge(signerLayer(), verifierLayer)

export const port: Effect.Effect<number, never, HttpServer.HttpServer> = HttpServer.addressWith((address) =>
  Effect.succeed(address._tag === "TcpAddress" ? address.port : 0)
)

export const make = <E = never>(
  options: Options<E> = {}
): Effect.Effect<Harness, never, Scope.Scope | HttpServer.HttpServer> =>
  Effect.gen(function* () {
    const { app, gateway } = yield* FakeGateway.make()
    const base = `http://127.0.0.1:${yield* port}`
    const gatewayUrl = `${base}${gateway.path}`
    const transportLayer = HttpTransport.layerNode(options.transport ?? {})
    const clientLayer = Client.layer({
      partner: Keys.PARTNER,
      gateway: gatewayUrl,
      ...(options.retry ? { retry: options.retry } : {})
    }).pipe(Layer.provide(Layer.merge(cryptoLayer, transportLayer)))
    const receiverLayer = NotificationReceiver.layerFromClient.pipe(Layer.provideMerge(clientLayer))
    const context = yield* Layer.build(Layer.mergeAll(receiverLayer, MemoryInbox.layer, transportLayer))
    const notify = options.notify
    const router = notify
      ? HttpRouter.empty.pipe(
          HttpRouter.get(gateway.path, app),
          HttpRouter.all(NOTIFY_PATH, NotificationEndpoint.httpApp(notify.handler, notify.options ?? {}))
        )
      : HttpRouter.empty.pipe(HttpRouter.get(gateway.path, app))
    const logs: Array<LogLine> = []
    yield* HttpServer.serveEffect(router).pipe(Effect.provide(context), capturingLogs(logs))
    return { gateway, base, gatewayUrl, context, logs }
  })

/**
 * Polls until the Clock has a pending sleep: the endpoint's read timeout has started. Bounded generously (20 s
 * at least) only to tell a hang: a busy machine may take a second to get a request to the endpoint.
 */
export const untilSleeping: Effect.Effect<void> = Effect.gen(function* () {
  for (let i = 0; i < 10_000; i++) {
    if (Chunk.size(yield* TestClock.sleeps()) > 0) return
    yield* Effect.promise(() => new Promise((r) => setTimeout(r, 2)))
  }
  return yield* Effect.dieMessage("the endpoint never started its read timeout")
})

/** A node:http server on 127.0.0.1 running `listener` for the life of the scope; its base URL. */
export const listenNode = SharedHttp.listen
