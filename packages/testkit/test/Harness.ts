// Shared wiring for the testkit's own tests: a client and an inbox on an in-process sandbox, a receiver that
// runs core's NotificationReceiver, and hand-signed gateway URLs for requests core's client would refuse.
import * as Charset from "@witkey/core/Charset"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Protocol from "@witkey/core/Protocol"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import { Effect, Layer, Schedule } from "effect"
import * as MemoryInbox from "../src/MemoryInbox.js"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxTransport from "../src/SandboxTransport.js"
import * as TestKeys from "../src/TestKeys.js"

export const PAYEE_A = "2088102122524333"
export const PAYEE_B = "2088102122524334"
export const NOTIFY_URL = "http://platform.test/notify"

/**
 * A notify_url per charset, as PROTOCOL.md §6 advises for a platform that sends in several: the URL is signed
 * in the request, the Content-Type's charset is not. `NOTIFY_URL` itself takes the client's charset.
 */
export const notifyUrlFor = (charset: Charset.Charset): string => `${NOTIFY_URL}/${charset}`

const charsetsOfUrl = (url: string): ReadonlyArray<Charset.Charset> | undefined => {
  const charset = url.startsWith(`${NOTIFY_URL}/`)
    ? Charset.parse(url.slice(NOTIFY_URL.length + 1))
    : undefined
  return charset === undefined ? undefined : [charset]
}

/** A client (no delays between re-sends), an in-memory inbox and a fresh sandbox. */
export const layer = (options: Sandbox.Options = {}, client: SandboxTransport.ClientOptions = {}) =>
  Layer.mergeAll(
    SandboxTransport.layerClient({ retry: Schedule.recurs(3), ...client }),
    MemoryInbox.layer
  ).pipe(Layer.provideMerge(Sandbox.layer(options)))

export const registerTask = (
  outerTaskId: string,
  transfers: ReadonlyArray<readonly [serial: string, payee: string, amount: string]>,
  serviceFee = "30.00"
) =>
  Effect.flatMap(Sandbox.Sandbox, (sandbox) =>
    sandbox.registerTask({
      partner: TestKeys.partnerId,
      outerTaskId,
      transfers: transfers.map(([serial, payeeUserId, amount]) => ({ serial, payeeUserId, amount })),
      serviceFee,
      platformAccount: TestKeys.platformUserId
    })
  )

export interface Receiver {
  readonly deliver: Sandbox.Deliver
  /** Notifications the handler ran for (exactly once per event, thanks to the inbox). */
  readonly processed: Array<Notification.Notification>
  readonly results: Array<NotificationReceiver.Result>
}

/** core's NotificationReceiver (with notify_verify) on the inbox and receiver in context, in-process. */
export const receiver = (
  answer: (attempt: number) => "receive" | "fail" = () => "receive"
): Effect.Effect<Receiver, never, NotificationReceiver.NotificationReceiver | Inbox.Inbox> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<NotificationReceiver.NotificationReceiver | Inbox.Inbox>()
    const processed: Array<Notification.Notification> = []
    const results: Array<NotificationReceiver.Result> = []
    const deliver: Sandbox.Deliver = (delivery) =>
      answer(delivery.attempt) === "fail"
        ? Effect.succeed({ status: 500, body: new TextEncoder().encode("busy") })
        : NotificationReceiver.receive(
            { body: delivery.body, contentType: delivery.contentType },
            (n) => Effect.sync(() => void processed.push(n)),
            { notifyVerify: true, charsets: charsetsOfUrl(delivery.url) }
          ).pipe(
            Effect.tap((result) => Effect.sync(() => void results.push(result))),
            Effect.map((result) => ({
              status: NotificationReceiver.status(result),
              body: new TextEncoder().encode(NotificationReceiver.answer(result))
            })),
            Effect.provide(context)
          )
    return { deliver, processed, results }
  })

/** A gateway URL signed like core does, for any parameters (core's client would refuse most of these). */
export const signedUrl = (
  params: ReadonlyArray<readonly [string, string]>,
  charset: Charset.Charset = "utf-8",
  options: { readonly signType?: string; readonly sign?: string } = {}
): Effect.Effect<string, never, Signer.Signer> =>
  Effect.gen(function* () {
    const sign =
      options.sign ??
      (yield* (yield* Signer.Signer).sign(SigningString.bytes(params, charset)).pipe(Effect.orDie))
    const all: Array<readonly [string, string]> = [
      ...params,
      [Protocol.Param.sign, sign],
      [Protocol.Param.signType, options.signType ?? "DSA"]
    ]
    return SignedRequest.toUrl(SandboxTransport.GATEWAY_URL, SignedRequest.toQuery(all, charset))
  })

/** The parameters of a valid request, to be broken one at a time. */
export const baseParams = (
  outerTaskId: string,
  serials: ReadonlyArray<string>,
  charset: Charset.Charset = "utf-8"
): Array<readonly [string, string]> => [
  [Protocol.Param.service, Protocol.SERVICE],
  [Protocol.Param.partner, TestKeys.partnerId],
  [Protocol.Param.inputCharset, charset],
  [Protocol.Param.outerTaskId, outerTaskId],
  [Protocol.Param.transferDetail, serials.join(Protocol.DEFAULT_TRANSFER_SEPARATOR)]
]

export const text = (bytes: Uint8Array, charset: Charset.Charset = "utf-8"): string => {
  const decoded = Charset.decode(bytes, charset)
  return decoded._tag === "Right" ? decoded.right : `<undecodable ${charset}>`
}
