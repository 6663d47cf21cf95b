/**
 * A platform's Express 5 server with witkey's Promise API (`@witkey/node`), no Effect in sight; the Effect
 * version of the same server is `express.ts`.
 *
 * - `POST /alipay/notify`: Alipay's asynchronous notifications, through `wk.notificationListener`. It is mounted
 *   BEFORE `express.json()` (or any body parser): the signature covers the raw body bytes.
 * - `POST /tasks/:taskId/payout` with JSON `{ "transfers": ["serial-1", ...] }`: pays the task's winners and
 *   answers what happened, keeping every outcome of PROTOCOL.md §7 apart by error class.
 *
 * Configuration (environment): WITKEY_PARTNER, WITKEY_GATEWAY, WITKEY_NOTIFY_URL (this server's
 * `/alipay/notify` as Alipay reaches it), WITKEY_PRIVATE_KEY_FILE and WITKEY_ALIPAY_PUBLIC_KEY_FILE (key files),
 * WITKEY_INBOX_SQLITE_FILENAME (the durable inbox, default ./witkey-inbox.db), PORT (default 3000).
 *
 *     npx tsx examples/express-promise.ts
 */
import type { Handler, Notification } from "@witkey/node"
import { GatewayRejectedError, InvalidRequestError, UnknownOutcomeError, Witkey } from "@witkey/node"
import express from "express"
import type { Express, Request, Response } from "express"
import { pathToFileURL } from "node:url"

/** Where the platform records what Alipay paid; in a real application, your database (idempotent writes). */
export class PaidTransfers {
  readonly all: Array<Notification> = []
  readonly record: Handler = async (notification) => {
    if (this.all.some((n) => n.notifyId === notification.notifyId)) return
    this.all.push(notification)
  }
}

const transfersOf = (body: unknown): Array<string> =>
  typeof body === "object" && body !== null && Array.isArray((body as { transfers?: unknown }).transfers)
    ? (body as { transfers: Array<unknown> }).transfers.filter((t): t is string => typeof t === "string")
    : []

/** Every outcome of a payout as JSON; an unknown outcome is safe to re-send as is. */
const payout = (wk: Witkey) => async (req: Request, res: Response) => {
  const taskId = typeof req.params["taskId"] === "string" ? req.params["taskId"] : ""
  try {
    const result = await wk.confirmByPlatform({ outerTaskId: taskId, transfers: transfersOf(req.body) })
    res.status(200).json(result)
  } catch (err) {
    if (err instanceof InvalidRequestError) res.status(400).json({ status: "invalid", issues: err.issues })
    else if (err instanceof GatewayRejectedError)
      res.status(422).json({ status: "rejected", code: err.code, category: err.category })
    else if (err instanceof UnknownOutcomeError)
      // The payout may or may not have happened: re-send later (identical request) or wait for notifications.
      res.status(202).json({ status: "unknown", reason: err.reason, mayHaveReached: err.mayHaveReached })
    else res.status(500).json({ status: "error" })
  }
}

export const makeApp = (wk: Witkey, inboxFile: string, paid: PaidTransfers): Express => {
  const app = express()
  // First: the notification listener reads the raw body itself.
  app.post("/alipay/notify", wk.notificationListener({ inbox: { sqlite: inboxFile }, handler: paid.record }))
  // Then the body parsers for the rest of the application.
  app.use(express.json())
  app.post("/tasks/:taskId/payout", payout(wk))
  return app
}

const main = () => {
  const env = (name: string) => process.env[name] ?? ""
  const wk = new Witkey({
    partner: env("WITKEY_PARTNER"),
    gateway: env("WITKEY_GATEWAY"),
    privateKeyFile: env("WITKEY_PRIVATE_KEY_FILE"),
    alipayPublicKeyFile: env("WITKEY_ALIPAY_PUBLIC_KEY_FILE"),
    notifyUrl: process.env["WITKEY_NOTIFY_URL"]
  })
  const port = Number(process.env["PORT"] ?? 3000)
  const app = makeApp(
    wk,
    process.env["WITKEY_INBOX_SQLITE_FILENAME"] ?? "./witkey-inbox.db",
    new PaidTransfers()
  )
  const server = app.listen(port, () => process.stdout.write(`listening on port ${port}\n`))
  process.once("SIGTERM", () => server.close(() => void wk.close()))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
