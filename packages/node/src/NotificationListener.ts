/**
 * The notification listener of the Promise API: a Node `(req, res)` listener for node:http and Express (mount
 * it before any body parser), built on `@witkey/node-http`'s Node listener and a durable inbox. Your async
 * handler runs at most once per event, inside the inbox's transaction; when it throws or rejects, the inbox
 * records the failure and Alipay is answered `fail`, so it delivers again and the handler runs again.
 *
 * @since 0.1.0
 */
import type * as CoreNotification from "@witkey/core/Notification"
import type * as Http from "node:http"
import type { InboxOptions } from "./internal/InboxDriver.js"

export type { InboxOptions }

/**
 * A verified notification, as plain data. Amounts are the exact wire text (`"120.00"`), never floats. Fields
 * a sub type does not have are `undefined`; `fields` has every leaf of the signed payload by its wire name.
 */
export interface Notification {
  readonly notifyId: string
  /** `yyyy-MM-dd HH:mm:ss`, as Alipay sent it. */
  readonly notifyTime: string
  /**
   * `ASSIGN_FOR_ANNOUNCE_PAYMENT` (a winner was paid), `PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT` (the service fee),
   * or a sub type this SDK does not know (its fields are in `fields`).
   */
  readonly subType: string
  readonly outerTaskId: string | undefined
  /** The winner's transfer serial (ASSIGN_FOR_ANNOUNCE_PAYMENT). */
  readonly outerTransferNo: string | undefined
  readonly transferAmount: string | undefined
  /** The charge on the service fee (PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT). */
  readonly serviceCharge: string | undefined
  readonly payeeUserId: string | undefined
  /** `yyyyMMddHHmmss`. */
  readonly gmtTransfer: string | undefined
  readonly fields: Readonly<Record<string, string>>
}

/** Your handler: record the payment. Throw (or reject) to have Alipay deliver it again later. */
export type Handler = (notification: Notification) => Promise<void> | void

export interface Options {
  /** The durable inbox: `{ sqlite: "./witkey-inbox.db" }` or `{ postgres: "postgres://…" }`. */
  readonly inbox: InboxOptions
  readonly handler: Handler
  /** Confirm each new notify_id with the gateway's `notify_verify` before handling it. Default true. */
  readonly notifyVerify?: boolean | undefined
  /** Largest body read, in bytes. Default 64 KiB. */
  readonly maxBodyBytes?: number | undefined
  /** Milliseconds allowed for the whole body to arrive. Default 10000. */
  readonly readTimeout?: number | undefined
}

/**
 * `(req, res)` for `http.createServer`, Express (`app.post("/alipay/notify", listener)` before
 * `express.json()`), or Koa (`ctx.respond = false; listener(ctx.req, ctx.res)`). It never calls `next`.
 */
export interface NotificationListener {
  (request: Http.IncomingMessage, response: Http.ServerResponse, next?: unknown): void
  /**
   * Settles once the inbox is open (tables created): await it at startup to fail fast on a wrong path or
   * database URL. Requests that arrive before are held until then; if opening fails they are answered `fail`
   * (Alipay delivers again) and the next request tries again.
   */
  readonly ready: Promise<void>
}

const text = (fields: Readonly<Record<string, string>>, name: string): string | undefined => fields[name]

/** Core's notification as the plain object handed to your handler. */
export const toPlain = (n: CoreNotification.Notification): Notification => ({
  notifyId: n.notifyId,
  notifyTime: n.notifyTime,
  subType: n.payload.subType,
  outerTaskId: n.payload.outerTaskId,
  outerTransferNo:
    n.payload._tag === "Assign" ? n.payload.outerTransferNo : text(n.fields, "outer_transfer_no"),
  transferAmount: text(n.fields, "transfer_amount"),
  serviceCharge: text(n.fields, "service_charge"),
  payeeUserId: text(n.fields, "payee_user_id"),
  gmtTransfer: text(n.fields, "gmt_transfer"),
  fields: n.fields
})
