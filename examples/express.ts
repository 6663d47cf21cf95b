/**
 * A platform's Express 5 server with witkey:
 *
 * - `POST /alipay/notify`: Alipay's asynchronous notifications, through `NodeNotificationListener`. It is mounted
 *   BEFORE `express.json()` (or any body parser): the signature covers the raw body bytes. A request whose body
 *   a parser already read is refused with a logged error and the answer `fail`.
 * - `POST /tasks/:taskId/payout` with JSON `{ "transfers": ["serial-1", ...] }`: pays the task's winners with
 *   `Client.confirmByPlatform` and answers what happened, keeping every outcome of PROTOCOL.md §7 apart.
 *
 * Configuration (environment): WITKEY_PARTNER, WITKEY_GATEWAY, WITKEY_NOTIFY_URL (this server's
 * `/alipay/notify` as Alipay reaches it), WITKEY_PRIVATE_KEY and WITKEY_ALIPAY_PUBLIC_KEY (PEM, Base64 or a
 * file path), WITKEY_INBOX_SQLITE_FILENAME (the durable inbox), PORT (default 3000).
 *
 *     npx tsx examples/express.ts
 *
 * `makeApp` takes any runtime that provides the client, its receiver and an inbox, so tests run it against the testkit's
 * sandbox.
 */
import { Client, NotificationReceiver } from "@witkey/core"
import type { Inbox, Notification } from "@witkey/core"
import { DsaSigner, DsaVerifier } from "@witkey/crypto-dsa"
import * as SqliteInbox from "@witkey/inbox-sql/SqliteInbox"
import { HttpTransport, NodeNotificationListener } from "@witkey/node-http"
import { Context, Effect, Either, Layer, ManagedRuntime, Ref } from "effect"
import express from "express"
import type { Express, Request, Response } from "express"
import { pathToFileURL } from "node:url"

/**
 * Where the platform records what Alipay paid. In a real application this writes to your database; with
 * `SqlInbox`, a handler that uses the same `SqlClient` writes inside the inbox's transaction, so the record and
 * the "processed" mark commit together.
 */
export interface PaidTransfers {
  readonly record: (notification: Notification.Notification) => Effect.Effect<void>
  readonly all: Effect.Effect<ReadonlyArray<Notification.Payload>>
}

export const PaidTransfers = Context.GenericTag<PaidTransfers>("examples/PaidTransfers")

export const PaidTransfersMemory: Layer.Layer<PaidTransfers> = Layer.effect(
  PaidTransfers,
  Effect.map(Ref.make<ReadonlyArray<Notification.Payload>>([]), (ref) => ({
    record: (n) => Ref.update(ref, (all) => [...all, n.payload]),
    all: Ref.get(ref)
  }))
)

/** The handler: runs once per event (the inbox de-duplicates Alipay's up to 8 deliveries). */
export const onNotification = (notification: Notification.Notification) =>
  Effect.gen(function* () {
    const paid = yield* PaidTransfers
    const payload = notification.payload
    switch (payload._tag) {
      case "Assign":
        yield* Effect.logInfo("bounty paid").pipe(
          Effect.annotateLogs({ task: payload.outerTaskId, serial: payload.outerTransferNo })
        )
        break
      case "PlatformProfit":
        yield* Effect.logInfo("service fee paid").pipe(Effect.annotateLogs({ task: payload.outerTaskId }))
        break
      case "UnknownSubType":
        yield* Effect.logWarning("unknown notification sub type").pipe(
          Effect.annotateLogs({ sub_type: payload.subType })
        )
        break
    }
    yield* paid.record(notification)
  })

export type Services = Client.Client | NotificationReceiver.NotificationReceiver | Inbox.Inbox | PaidTransfers

/** Every outcome of a payout call as JSON; an unknown outcome is safe to re-send as is. */
const payout =
  (runtime: ManagedRuntime.ManagedRuntime<Services, unknown>) => async (req: Request, res: Response) => {
    const param = req.params["taskId"]
    const taskId = typeof param === "string" ? param : ""
    const body: unknown = req.body
    const transfers =
      typeof body === "object" && body !== null && Array.isArray((body as { transfers?: unknown }).transfers)
        ? ((body as { transfers: Array<unknown> }).transfers.filter(
            (t) => typeof t === "string"
          ) as Array<string>)
        : []
    const result = await runtime.runPromise(
      Effect.flatMap(Client.Client, (client) =>
        Effect.either(client.confirmByPlatform({ outerTaskId: taskId, transfers }))
      )
    )
    if (Either.isRight(result)) {
      const outcome = result.right
      res
        .status(200)
        .json(
          outcome._tag === "Confirmed"
            ? { status: "confirmed", attempts: outcome.attempts }
            : { status: "already_confirmed", code: outcome.code, afterResend: outcome.afterResend }
        )
      return
    }
    const error = result.left
    switch (error._tag) {
      case "InvalidRequest":
        res.status(400).json({ status: "invalid", issues: error.issues })
        return
      case "GatewayRejected":
        res.status(422).json({ status: "rejected", code: error.code, category: error.category })
        return
      case "UnknownOutcome":
        // The payout may or may not have happened: re-send later (identical request) or wait for notifications.
        res
          .status(202)
          .json({ status: "unknown", reason: error.reason, mayHaveReached: error.mayHaveReached })
        return
      case "SignError":
        res.status(500).json({ status: "sign_error" })
        return
    }
  }

export const makeApp = (runtime: ManagedRuntime.ManagedRuntime<Services, unknown>): Express => {
  const app = express()
  // First: the notification listener reads the raw body itself.
  app.post("/alipay/notify", NodeNotificationListener.fromManagedRuntime(runtime, onNotification))
  // Then the body parsers for the rest of the application.
  app.use(express.json())
  app.post("/tasks/:taskId/payout", payout(runtime))
  return app
}

/** The production wiring, from the environment. */
export const layer = Layer.mergeAll(
  // The receiver takes the client's partner, gateway and charset.
  NotificationReceiver.layerFromClient.pipe(
    Layer.provideMerge(Client.layerConfig()),
    Layer.provide(
      Layer.mergeAll(DsaSigner.layerConfig(), DsaVerifier.layerConfig(), HttpTransport.layerNodeConfig())
    )
  ),
  SqliteInbox.layerConfig(),
  PaidTransfersMemory
)

const main = () => {
  const runtime = ManagedRuntime.make(layer)
  const port = Number(process.env["PORT"] ?? 3000)
  const server = makeApp(runtime).listen(port, () => {
    runtime.runFork(Effect.logInfo(`listening on port ${port}`))
  })
  process.once("SIGTERM", () => server.close(() => void runtime.dispose()))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
