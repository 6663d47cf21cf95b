/**
 * The payout client: validate, sign, send, verify, decode (PROTOCOL.md §7). Composed from the injected
 * `Signer`, `Verifier` and `Transport`.
 *
 * @since 0.1.0
 */
import type { ConfigError } from "effect/ConfigError"
import { Config, Context, Effect, Either, Layer, Option, Schedule, Schema } from "effect"
import * as Charset from "./Charset.js"
import * as ConfirmRequest from "./ConfirmRequest.js"
import * as GatewayResponse from "./GatewayResponse.js"
import * as Notification from "./Notification.js"
import * as NotifyVerify from "./NotifyVerify.js"
import * as Signer from "./Signer.js"
import * as SignedRequest from "./SignedRequest.js"
import * as Transport from "./Transport.js"
import * as Verifier from "./Verifier.js"
import * as Resend from "./internal/resend.js"
import * as Signing from "./internal/signing.js"
import { isDefaultTracer } from "./internal/span.js"

/** The gateway confirmed this request with a verified signature. */
export interface Confirmed {
  readonly _tag: "Confirmed"
  readonly outerTaskId: string
  /** How many times the identical signed request was sent. */
  readonly attempts: number
  readonly request: SignedRequest.SignedRequest
  /** The trusted Alipay key whose signature matched. */
  readonly verifiedBy: Verifier.Match
}

/**
 * The gateway says an earlier identical confirm went through (`WITKEY_OUTER_TRANSFER_ALREADY_PAID`). Caveat
 * (PROTOCOL.md §7): the gateway answers so when *any* serial was paid before; if this request's serials differ
 * from the earlier one, reconcile against the notifications (one ASSIGN per paid serial).
 */
export interface AlreadyConfirmed {
  readonly _tag: "AlreadyConfirmed"
  readonly outerTaskId: string
  readonly code: string
  readonly attempts: number
  /**
   * True when this answer came to a re-send after an attempt that may have reached the gateway: that lost
   * call most likely went through. False when every earlier attempt provably never left, since then the
   * earlier payment came from some other call.
   */
  readonly afterResend: boolean
  /** Why each earlier attempt of this call was re-sent, oldest first. */
  readonly resentAfter: ReadonlyArray<UnknownOutcome["reason"]>
  readonly request: SignedRequest.SignedRequest
}

export type Outcome = Confirmed | AlreadyConfirmed

/**
 * Sent, but no verifiable answer: the payout may or may not have happened. Re-sending the identical request
 * is safe (the serial numbers are the gateway's idempotency key); reconcile with the notifications.
 * `rejected_after_resend`: a re-send was refused (code kept) after an attempt that may have paid.
 * `signature` and `mismatched_task` mean a `T` arrived that this client cannot trust: most often the wrong
 * Alipay public key or charset. The payout has probably happened; fix the configuration, then reconcile.
 */
export class UnknownOutcome extends Schema.TaggedError<UnknownOutcome>()("UnknownOutcome", {
  reason: Schema.Literal(
    "transport",
    "http_status",
    "malformed",
    "signature",
    "mismatched_task",
    "rejected_after_resend"
  ),
  /** False only when the request provably never left this process (refused connection, invalid URL). */
  mayHaveReached: Schema.Boolean,
  attempts: Schema.Number,
  outerTaskId: Schema.String,
  /** The gateway's code, for `rejected_after_resend`. */
  code: Schema.optional(Schema.String),
  message: Schema.String
}) {}

/**
 * Whether a re-send can resolve this unknown outcome: yes when no answer, or no readable one, came back
 * (transport failure, non-2xx, malformed body); no for a T that does not verify or names another task.
 */
export const isResendable: (e: UnknownOutcome) => boolean = Resend.isResendable

export interface Options {
  readonly partner: string
  /** The gateway URL; configuration, since there is no trustworthy public production host (PROTOCOL.md §2). */
  readonly gateway: string
  readonly charset?: Charset.Charset | undefined
  /** `transfer_detail` separator; default `~*~`. */
  readonly separator?: string | undefined
  /** Default `notify_url` for requests that name none. */
  readonly notifyUrl?: string | undefined
  /**
   * When to re-send the byte-identical signed request after an unknown outcome. Default: up to 3 re-sends,
   * 1 s, 2 s, 4 s apart. `Schedule.stop` disables re-sending.
   */
  readonly retry?: Schedule.Schedule<unknown, UnknownOutcome> | undefined
}

/** What `confirmByPlatform` takes; `partner` defaults to the client's. */
export type Input = Omit<ConfirmRequest.Input, "partner"> & { readonly partner?: string | undefined }

export type ConfirmError =
  ConfirmRequest.InvalidRequest | Signer.SignError | GatewayResponse.GatewayRejected | UnknownOutcome

export interface Client {
  readonly options: Options
  /** Validates and signs; sends nothing. */
  readonly prepare: (
    input: Input
  ) => Effect.Effect<SignedRequest.SignedRequest, ConfirmRequest.InvalidRequest | Signer.SignError>
  /** Sends a prepared request (again, byte for byte, on the retry schedule) and decodes the answer. */
  readonly send: (
    request: SignedRequest.SignedRequest
  ) => Effect.Effect<Outcome, GatewayResponse.GatewayRejected | UnknownOutcome>
  /** `prepare` then `send`. Confirmed and already-confirmed are successes; everything else is a typed error. */
  readonly confirmByPlatform: (input: Input) => Effect.Effect<Outcome, ConfirmError>
  /**
   * Verifies a raw notification body and decodes what was signed, in the accepted `charsets` (default: the
   * client's `charset`; PROTOCOL.md §6).
   */
  readonly decodeNotification: (
    raw: Notification.RawNotification,
    options?: { readonly charsets?: ReadonlyArray<Charset.Charset> | undefined }
  ) => Effect.Effect<Notification.Notification, Notification.DecodeError>
  /** Asks the gateway whether it sent `notifyId`. */
  readonly notifyVerify: (
    notifyId: string
  ) => Effect.Effect<NotifyVerify.Answer, NotifyVerify.NotifyVerifyError>
}

export const Client: Context.Tag<Client, Client> = Context.GenericTag<Client>("@witkey/core/Client")

export const defaultRetry: Schedule.Schedule<unknown, UnknownOutcome> = Schedule.exponential("1 second").pipe(
  Schedule.intersect(Schedule.recurs(3)),
  Schedule.asVoid
)

const describeTransport = (e: Transport.TransportError) => `${e.reason}: ${e.message}`

export const make = (
  options: Options
): Effect.Effect<Client, never, Signer.Signer | Verifier.Verifier | Transport.Transport> =>
  Effect.gen(function* () {
    const signer = yield* Signer.Signer
    const verifier = yield* Verifier.Verifier
    const transport = yield* Transport.Transport
    return fromServices(options, { signer, verifier, transport })
  })

/** Builds a client from options and services directly. */
export const fromServices = (
  options: Options,
  services: {
    readonly signer: Signer.Signer
    readonly verifier: Verifier.Verifier
    readonly transport: Transport.Transport
  }
): Client => {
  const charset = options.charset ?? "utf-8"
  const retry = options.retry ?? defaultRetry
  const notificationOptions: Notification.Options = { charset }
  const withTransport = Effect.provideService(Transport.Transport, services.transport)

  const validateOptions: ConfirmRequest.Options = { separator: options.separator, defaultCharset: charset }
  const signer = services.signer
  const signSync = Signer.syncOf(signer)
  const signOptions = { gateway: options.gateway, separator: options.separator }
  // Unreachable after validate (it checks the same text); typed all the same, as a refused field.
  const refuseUnencodable = (e: Charset.EncodeError): ConfirmRequest.InvalidRequest =>
    new ConfirmRequest.InvalidRequest({ issues: [{ field: e.field, rule: "charset", message: e.message }] })

  // The payout path is written with plain combinators, no generators, and builds a span only when a tracer
  // receives it (`internal/span.ts`): beside one DSA signature and one verification, every microsecond of
  // Effect machinery shows (BENCHMARKS.md rows 1 and 5).
  const prepare: Client["prepare"] = (input) =>
    // One step of the fiber reads the input, validates, encodes and checks the tracer (`withFiberRuntime`: a
    // `suspend` that also hands over the fiber, whose current tracer decides whether the span is made).
    Effect.withFiberRuntime((fiber) => {
      // The caller's object is read here (a getter may throw): malformed input, not a defect.
      let merged: ConfirmRequest.Input
      try {
        merged = {
          ...input,
          partner: input.partner ?? options.partner,
          ...(input.notifyUrl === undefined && options.notifyUrl !== undefined
            ? { notifyUrl: options.notifyUrl }
            : {})
        }
      } catch (error) {
        return Effect.fail(
          new ConfirmRequest.InvalidRequest({
            issues: [
              {
                field: "input",
                rule: "type",
                message: `reading the input threw: ${error instanceof Error ? error.message : String(error)}`
              }
            ]
          })
        )
      }
      const validated = ConfirmRequest.validate(merged, validateOptions)
      if (Either.isLeft(validated)) return Effect.fail(validated.left)
      const request = validated.right
      if (isDefaultTracer(fiber.currentTracer)) {
        // No span to make: a synchronous signer (`Signer.makeSync`, crypto-dsa's) is called right here.
        if (signSync === undefined) return sign(request)
        const signed = Signing.signNow(signSync, signer.signType, request, signOptions)
        if (Either.isRight(signed)) return Effect.succeed(signed.right)
        const error = signed.left
        return Effect.fail(error instanceof Charset.EncodeError ? refuseUnencodable(error) : error)
      }
      return Effect.withSpan(sign(request), "witkey.sign", {
        captureStackTrace: false,
        attributes: { "witkey.outer_task_id": request.outerTaskId }
      })
    })

  /** `SignedRequest.makeWith` (any signer, or under a span), its EncodeError as a refused field. */
  const sign = (
    request: ConfirmRequest.ConfirmRequest
  ): Effect.Effect<SignedRequest.SignedRequest, ConfirmRequest.InvalidRequest | Signer.SignError> =>
    Effect.mapError(SignedRequest.makeWith(signer, request, signOptions), (e) =>
      e._tag === "EncodeError" ? refuseUnencodable(e) : e
    )

  /**
   * One attempt: its answer (`Confirmed`, `GatewayRejected` or `UnknownOutcome`) is handed to `next` from the
   * attempt's own handlers, so no frame waits for it. `traced` says whether a tracer receives spans: read once
   * per payout by `send`, so an untraced payout asks for the tracer once, not once per span.
   */
  const attempt = (
    request: SignedRequest.SignedRequest,
    attempts: number,
    traced: boolean,
    next: (answer: Resend.Answer) => Effect.Effect<Outcome, GatewayResponse.GatewayRejected | UnknownOutcome>
  ): Effect.Effect<Outcome, GatewayResponse.GatewayRejected | UnknownOutcome> => {
    const outerTaskId = request.request.outerTaskId
    const charset = request.request.charset
    const unknown = (reason: UnknownOutcome["reason"], message: string, mayHaveReached = true) =>
      new UnknownOutcome({ reason, mayHaveReached, attempts, outerTaskId, message })
    const lost = (e: Transport.TransportError) => unknown("transport", describeTransport(e), e.mayHaveReached)
    const decoded = (decoded: GatewayResponse.Confirmed) =>
      next(
        decoded.outerTaskId !== outerTaskId
          ? unknown(
              "mismatched_task",
              `the signed answer names task "${decoded.outerTaskId}", not "${outerTaskId}"`
            )
          : ({
              _tag: "Confirmed",
              outerTaskId,
              attempts,
              request,
              verifiedBy: decoded.verifiedBy
            } satisfies Confirmed as Confirmed)
      )
    const refused = (e: GatewayResponse.DecodeError) => {
      switch (e._tag) {
        case "MalformedResponse":
          return next(unknown("malformed", e.message))
        case "SignatureError":
          return next(unknown("signature", e.message))
        case "GatewayRejected":
          return next(e)
      }
    }
    // The verifier is passed, not provided: `Effect.provideService` per answer copied the fiber's references
    // twice, more than the rest of the decode costs between network events.
    const answered = (response: Transport.RawResponse) =>
      response.status < 200 || response.status > 299
        ? next(unknown("http_status", `the gateway answered HTTP ${response.status}`))
        : Effect.matchEffect(
            traced
              ? Effect.withSpan(
                  GatewayResponse.decodeWith(services.verifier, response, charset),
                  "witkey.verify_response",
                  {
                    captureStackTrace: false
                  }
                )
              : GatewayResponse.decodeWith(services.verifier, response, charset),
            { onFailure: refused, onSuccess: decoded }
          )
    if (!traced)
      return Effect.matchEffect(services.transport.get(request.url), {
        onFailure: (e) => next(lost(e)),
        onSuccess: answered
      })
    // Traced: the send span wraps the GET, and ends failed with the attempt's UnknownOutcome, as before.
    const get = services.transport.get(request.url).pipe(
      Effect.mapError(lost),
      Effect.withSpan("witkey.send", {
        captureStackTrace: false,
        attributes: { "witkey.outer_task_id": outerTaskId, "witkey.attempt": attempts }
      })
    )
    return Effect.matchEffect(get, { onFailure: next, onSuccess: answered })
  }

  const failWith = (
    error: Resend.Failure
  ): Effect.Effect<never, GatewayResponse.GatewayRejected | UnknownOutcome> => {
    if (error._tag === "GatewayRejected") return Effect.fail(error)
    const { _tag, ...fields } = error
    return Effect.fail(new UnknownOutcome(fields))
  }

  // The rules are `Resend.nextStep`'s (PROTOCOL.md §7); this loop only sends, asks the schedule and waits. The
  // schedule's driver is made at the first re-send, as it would have been at the start: its state is the
  // schedule's initial one either way, and a driver reads the Clock only when asked for the next step.
  const send: Client["send"] = (request) =>
    Effect.tracerWith((tracer) => {
      // Spans only when a tracer receives them (`internal/span.ts`), decided once for the payout.
      const traced = !isDefaultTracer(tracer)
      const loop = (
        history: Resend.History,
        driver: Schedule.ScheduleDriver<unknown, UnknownOutcome> | undefined
      ): Effect.Effect<Outcome, GatewayResponse.GatewayRejected | UnknownOutcome> =>
        attempt(request, history.resentAfter.length + 1, traced, (answer) => {
          const step = Resend.nextStep(history, answer)
          switch (step._tag) {
            case "Done":
              return Effect.succeed(step.outcome)
            case "Fail":
              return failWith(step.error)
            case "Resend":
              return Effect.flatMap(
                driver === undefined ? Schedule.driver(retry) : Effect.succeed(driver),
                (schedule) =>
                  Effect.matchEffect(schedule.next(step.unknown), {
                    onFailure: () => failWith(step.otherwise),
                    onSuccess: () => loop(step.history, schedule)
                  })
              )
          }
        })
      const payout = loop(Resend.start(request), undefined)
      return traced
        ? Effect.withSpan(payout, "witkey.confirm", {
            captureStackTrace: false,
            attributes: { "witkey.outer_task_id": request.request.outerTaskId }
          })
        : payout
    })

  return {
    options,
    prepare,
    send,
    confirmByPlatform: (input) => Effect.flatMap(prepare(input), send),
    // No span of its own: it runs on every notification, inside the receiver's `witkey.receive_notification`.
    decodeNotification: (raw, decodeOptions) =>
      Notification.decodeWith(
        services.verifier,
        raw,
        decodeOptions?.charsets === undefined
          ? notificationOptions
          : { charset, charsets: decodeOptions.charsets }
      ),
    notifyVerify: (notifyId) =>
      NotifyVerify.check(options.gateway, options.partner, notifyId).pipe(withTransport)
  }
}

/** The client as a layer, from options and the three services. */
export const layer = (
  options: Options
): Layer.Layer<Client, never, Signer.Signer | Verifier.Verifier | Transport.Transport> =>
  Layer.effect(Client, make(options))

/** Options from configuration: `WITKEY_PARTNER`, `WITKEY_GATEWAY`, `WITKEY_CHARSET`, `WITKEY_NOTIFY_URL`. */
export const layerConfig = (
  config: Config.Config<Options> = Config.all({
    partner: Config.string("WITKEY_PARTNER"),
    gateway: Config.string("WITKEY_GATEWAY"),
    charset: Config.literal(...Charset.values)("WITKEY_CHARSET").pipe(Config.withDefault("utf-8" as const)),
    notifyUrl: Config.string("WITKEY_NOTIFY_URL").pipe(Config.option, Config.map(Option.getOrUndefined))
  })
): Layer.Layer<Client, ConfigError, Signer.Signer | Verifier.Verifier | Transport.Transport> =>
  Layer.unwrapEffect(Effect.map(config, layer))
