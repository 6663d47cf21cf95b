/**
 * The notification pipeline every endpoint shares (PROTOCOL.md §6): verify the raw body, ask `notify_verify`,
 * hand the event to the `Inbox` (which runs the user's handler at most once), and decide the answer. Alipay
 * gets `success` only once the handler's effect and the inbox record are committed; anything else answers
 * `fail`, so Alipay retries. A forged or malformed notification never reaches the handler.
 *
 * @since 0.1.0
 */
import { Cause, Context, Effect, FiberRef, Layer, LogLevel } from "effect"
import type * as Charset from "./Charset.js"
import * as Client from "./Client.js"
import * as Inbox from "./Inbox.js"
import * as Notification from "./Notification.js"
import * as NotifyVerify from "./NotifyVerify.js"
import * as Protocol from "./Protocol.js"
import * as Transport from "./Transport.js"
import * as Verifier from "./Verifier.js"
import { isDefaultTracer } from "./internal/span.js"

/**
 * What a receiver needs to know: the gateway to ask `notify_verify` and the partner it asks for, and the
 * charsets notifications are in. No signer: a receive-only process holds no private key.
 */
export interface Config {
  readonly partner: string
  readonly gateway: string
  /** The platform's charset (the client's `_input_charset`); the default of `charsets`. Default utf-8. */
  readonly charset?: Charset.Charset | undefined
  /** The accepted charsets (PROTOCOL.md §6); default `[charset]`. `receive`'s own `charsets` win. */
  readonly charsets?: ReadonlyArray<Charset.Charset> | undefined
}

/** The two gateway-facing steps of the pipeline: verify and decode a body, ask `notify_verify`. */
export interface NotificationReceiver {
  readonly decode: (
    raw: Notification.RawNotification,
    charsets?: ReadonlyArray<Charset.Charset> | undefined
  ) => Effect.Effect<Notification.Notification, Notification.DecodeError>
  readonly notifyVerify: (
    notifyId: string
  ) => Effect.Effect<NotifyVerify.Answer, NotifyVerify.NotifyVerifyError>
}

export const NotificationReceiver: Context.Tag<NotificationReceiver, NotificationReceiver> =
  Context.GenericTag<NotificationReceiver>("@witkey/core/NotificationReceiver")

/** A receiver from its configuration and the two services it uses directly. */
export const fromServices = (
  config: Config,
  services: { readonly verifier: Verifier.Verifier; readonly transport: Transport.Transport }
): NotificationReceiver => {
  const charset = config.charset ?? "utf-8"
  const withTransport = Effect.provideService(Transport.Transport, services.transport)
  return {
    // No span of its own: it runs on every notification, inside `witkey.receive_notification`.
    decode: (raw, charsets) =>
      Notification.decodeWith(services.verifier, raw, { charset, charsets: charsets ?? config.charsets }),
    notifyVerify: (notifyId) =>
      NotifyVerify.check(config.gateway, config.partner, notifyId).pipe(withTransport)
  }
}

export const make = (
  config: Config
): Effect.Effect<NotificationReceiver, never, Verifier.Verifier | Transport.Transport> =>
  Effect.map(Effect.all([Verifier.Verifier, Transport.Transport]), ([verifier, transport]) =>
    fromServices(config, { verifier, transport })
  )

/** The receiver as a layer: what a receive-only process provides (with an `Inbox`), no signer needed. */
export const layer = (
  config: Config
): Layer.Layer<NotificationReceiver, never, Verifier.Verifier | Transport.Transport> =>
  Layer.effect(NotificationReceiver, make(config))

/** A receiver from a `Client`: its partner, gateway, charset and services. */
export const fromClient = (client: Client.Client): NotificationReceiver => ({
  decode: (raw, charsets) =>
    charsets === undefined ? client.decodeNotification(raw) : client.decodeNotification(raw, { charsets }),
  notifyVerify: client.notifyVerify
})

/** For a process that has a `Client` already: the receiver with the client's partner, gateway and charset. */
export const layerFromClient: Layer.Layer<NotificationReceiver, never, Client.Client> = Layer.effect(
  NotificationReceiver,
  Effect.map(Client.Client, fromClient)
)

export interface Options {
  /** Confirm each notify_id with the gateway's `notify_verify` before handling it. Default true. */
  readonly notifyVerify?: boolean | undefined
  /**
   * The charsets notifications may be in (PROTOCOL.md §6); default the receiver's `charsets`. The Content-Type's
   * label is not signed: one outside these is refused, and with several, a body that reads differently in two
   * of them is refused as ambiguous. Prefer one charset per endpoint (a `notify_url` each).
   */
  readonly charsets?: ReadonlyArray<Charset.Charset> | undefined
}

export type Refusal =
  | "malformed"
  | "signature"
  | "notify_verify_false"
  | "notify_verify_invalid"
  | "notify_verify_error"
  | "inbox"
  | "handler"

export type Result =
  | {
      readonly _tag: "Acknowledged"
      readonly notification: Notification.Notification
      readonly outcome: Inbox.Outcome
    }
  | {
      readonly _tag: "Refused"
      readonly reason: Refusal
      readonly message: string
      readonly notifyId: string | undefined
    }

/** The exact body to answer: `success` (7 bytes) or `fail`. */
export const answer = (result: Result): string =>
  result._tag === "Acknowledged" ? Protocol.Notify.ack : Protocol.Notify.nack

/** The HTTP status to answer with. 200 for both: Alipay retries on anything but the body `success`. */
export const status = (_result: Result): number => 200

const refuse = (reason: Refusal, message: string, notifyId?: string): Result => ({
  _tag: "Refused",
  reason,
  message,
  notifyId
})

/** Runs the pipeline on one raw delivery. Never fails: every failure is a `Refused` result (answer `fail`). */
export const receive = <E, R>(
  raw: Notification.RawNotification,
  handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>,
  options: Options = {}
): Effect.Effect<Result, never, NotificationReceiver | Inbox.Inbox | R> =>
  // Plain combinators, no generator: this runs on every notification, and its Effect machinery showed next to
  // the signature check (BENCHMARKS.md row 7). One step reads the services and the tracer from the fiber.
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext as Context.Context<NotificationReceiver | Inbox.Inbox>
    const run = Effect.flatMap(
      pipeline(
        Context.get(context, NotificationReceiver),
        Context.get(context, Inbox.Inbox),
        raw,
        handler,
        options
      ),
      told
    )
    // The span of a notification (about 9 µs each in Effect 3, made only when a tracer is installed): the
    // endpoint, the signature check and the inbox run inside it without spans of their own; only
    // notify_verify, a network call, adds its own.
    return isDefaultTracer(fiber.currentTracer)
      ? run
      : Effect.withSpan(run, "witkey.receive_notification", { captureStackTrace: false })
  })

/** Verify and decode, `notify_verify` when it matters, then the inbox. */
const pipeline = <E, R>(
  receiver: NotificationReceiver,
  inbox: Inbox.Inbox,
  raw: Notification.RawNotification,
  handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>,
  options: Options
): Effect.Effect<Result, never, R> =>
  Effect.matchEffect(receiver.decode(raw, options.charsets), {
    onFailure: (e) =>
      Effect.succeed(refuse(e._tag === "SignatureError" ? "signature" : "malformed", e.message)),
    onSuccess: (notification) => {
      // Only asked when it matters: with notify_verify off, the inbox's answer would change nothing.
      if (!(options.notifyVerify ?? true)) return record(inbox, raw, notification, handler, false)
      const notifyId = notification.notifyId
      // A redelivery of something already recorded skips notify_verify: its signature verified, and
      // notify_verify may answer false for an id older than its lifetime (PROTOCOL.md §6), which would make
      // Alipay retry a handled notification for a day. It still goes through the inbox, which counts the
      // delivery for the audit trail and answers Duplicate without running the handler.
      // The same holds for one whose handler failed: the inbox only records a delivery after notify_verify
      // passed, so any entry at all means the gateway already confirmed this notify_id.
      return Effect.flatMap(Effect.either(inbox.get(notifyId)), (known) =>
        known._tag === "Right" && known.right._tag === "Some"
          ? record(inbox, raw, notification, handler, false)
          : Effect.matchEffect(receiver.notifyVerify(notifyId), {
              onFailure: (e) => Effect.succeed(refuse("notify_verify_error", e.message, notifyId)),
              onSuccess: (answer) =>
                answer === "false"
                  ? Effect.succeed(refuse("notify_verify_false", "notify_verify answered false", notifyId))
                  : answer === "invalid"
                    ? Effect.succeed(
                        refuse("notify_verify_invalid", "notify_verify answered invalid", notifyId)
                      )
                    : record(inbox, raw, notification, handler, true)
            })
      )
    }
  })

/** The inbox's part: its outcome, or the refusal its failure (or the handler's) means. */
const record = <E, R>(
  inbox: Inbox.Inbox,
  raw: Notification.RawNotification,
  notification: Notification.Notification,
  handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>,
  gatewayConfirmed: boolean
): Effect.Effect<Result, never, R> =>
  Effect.matchCause(
    inbox.receive(
      { notification, body: raw.body as Uint8Array, contentType: raw.contentType, gatewayConfirmed },
      handler
    ),
    {
      onSuccess: (outcome): Result => ({ _tag: "Acknowledged", notification, outcome }),
      onFailure: (cause): Result => {
        const failure = Cause.failureOption(cause)
        const isInbox =
          failure._tag === "Some" && (failure.value as { _tag?: unknown })?._tag === "InboxError"
        return refuse(
          isInbox ? "inbox" : "handler",
          Cause.pretty(cause).split("\n")[0] ?? "handler failed",
          notification.notifyId
        )
      }
    }
  )

/** The result logged: a refusal as a warning, an acknowledgement at debug level only. */
const told = (result: Result): Effect.Effect<Result> =>
  result._tag === "Refused"
    ? Effect.as(
        Effect.logWarning("witkey notification refused").pipe(
          Effect.annotateLogs({
            reason: result.reason,
            notify_id: result.notifyId ?? "",
            detail: result.message
          })
        ),
        result
      )
    : // Annotating a log costs about 5 µs even when the level is off: the log is only built when it is on.
      Effect.withFiberRuntime((fiber) =>
        LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)
          ? Effect.succeed(result)
          : Effect.as(
              Effect.logDebug("witkey notification acknowledged").pipe(
                Effect.annotateLogs({ notify_id: result.notification.notifyId, outcome: result.outcome._tag })
              ),
              result
            )
      )
