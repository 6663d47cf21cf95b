/**
 * A sandbox gateway that behaves like Alipay for `alipay.witkey.task.confirm.by.platform`: registered tasks,
 * the checks and codes of the real gateway, signed answers, a ledger, signed notifications on the §6 retry
 * schedule (driven by Effect's Clock) and injected faults. What it does, check by check: docs/SANDBOX.md.
 *
 * ```ts
 * const sandbox = yield* Sandbox.Sandbox
 * yield* sandbox.registerTask({
 *   partner: TestKeys.partnerId,
 *   outerTaskId: "task-1",
 *   transfers: [{ serial: "s-1", payeeUserId: "2088102122524333", amount: "120.00" }],
 *   serviceFee: "30.00",
 *   platformAccount: TestKeys.platformUserId
 * })
 * ```
 *
 * This module holds the types and the wiring; the rooms are in `internal/`: `Registry` (partners, tasks,
 * serials), `Ledger` (the atomic check-and-pay), `Delivery` (notifications and their retry loop), `Query`
 * (reading the gateway's query) and `Gateway` (one call's answer); fault drawing is `Fault.draw`.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as Charset from "@witkey/core/Charset"
import * as Protocol from "@witkey/core/Protocol"
import type * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import type { BigDecimal } from "effect"
import { Clock, Context, Duration, Effect, Either, Layer, Random, Redacted, Schema, Scope } from "effect"
import * as Fault from "./Fault.js"
import * as Deliveries from "./internal/Delivery.js"
import * as Gateway from "./internal/Gateway.js"
import * as Ledger from "./internal/Ledger.js"
import * as Prng from "./internal/Prng.js"
import * as Registry from "./internal/Registry.js"
import * as TestKeys from "./TestKeys.js"

// ---------------------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------------------

export interface PartnerRegistration {
  readonly partner: string
  /** The partner's public key: SubjectPublicKeyInfo PEM, or its Base64 body on one line (`<partner>.dat`). */
  readonly publicKey: string
  /** Where notifications go when a request names no `notify_url`. */
  readonly notifyUrl?: string | undefined
}

/** An amount: a BigDecimal or a decimal string (`"12.34"`), at most two places. Never a number. */
export type Amount = BigDecimal.BigDecimal | string

export interface TransferRegistration {
  /** The platform's transfer serial number (`outer_transfer_no`): the idempotency key. Unique per partner. */
  readonly serial: string
  /** The winner's Alipay user id. */
  readonly payeeUserId: string
  /** The bounty, more than 0. */
  readonly amount: Amount
}

export interface TaskRegistration {
  readonly partner: string
  readonly outerTaskId: string
  readonly transfers: ReadonlyArray<TransferRegistration>
  /** The service fee paid to the platform once every transfer is paid; 0 for none. */
  readonly serviceFee: Amount
  /** The platform's Alipay user id: the payee of the service fee. */
  readonly platformAccount: string
  /** The charge on the service fee; default `serviceFee × serviceChargeRate`, rounded half up to 0.01. */
  readonly serviceCharge?: Amount | undefined
}

export class SandboxError extends Schema.TaggedError<SandboxError>()("SandboxError", {
  reason: Schema.Literal(
    "invalid_partner",
    "invalid_key",
    "unknown_partner",
    "invalid_task",
    "duplicate_task",
    "duplicate_transfer",
    "key_generation",
    "unknown_notification",
    "no_url"
  ),
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------------------------------------

export type LedgerEntry =
  | {
      readonly _tag: "Transfer"
      readonly partner: string
      readonly outerTaskId: string
      readonly serial: string
      readonly payeeUserId: string
      readonly amount: BigDecimal.BigDecimal
      /** Epoch milliseconds, from Effect's Clock. */
      readonly paidAt: number
      /** `yyyyMMddHHmmss` as in the notification. */
      readonly gmtTransfer: string
    }
  | {
      readonly _tag: "PlatformProfit"
      readonly partner: string
      readonly outerTaskId: string
      readonly payeeUserId: string
      readonly amount: BigDecimal.BigDecimal
      readonly serviceCharge: BigDecimal.BigDecimal
      readonly paidAt: number
      readonly gmtTransfer: string
    }

export interface TaskRecord {
  readonly partner: string
  readonly outerTaskId: string
  readonly transfers: ReadonlyArray<{
    readonly serial: string
    readonly payeeUserId: string
    readonly amount: BigDecimal.BigDecimal
    readonly paid: boolean
  }>
  readonly serviceFee: BigDecimal.BigDecimal
  readonly serviceCharge: BigDecimal.BigDecimal
  readonly platformAccount: string
  readonly serviceFeePaid: boolean
  /** Epoch milliseconds, from Effect's Clock. */
  readonly registeredAt: number
}

export type AttemptResult =
  | { readonly _tag: "Answered"; readonly status: number; readonly body: Uint8Array }
  | { readonly _tag: "Failed"; readonly message: string }

export interface DeliveryAttempt {
  /** 1 for the first delivery, up to 8. */
  readonly attempt: number
  /** 1, or 2 for the second copy of a `Duplicate` delivery. */
  readonly copy: number
  /** When it was sent: epoch milliseconds, from Effect's Clock. */
  readonly at: number
  /** When the answer (or the failure) came. */
  readonly answeredAt: number
  readonly result: AttemptResult
  /** HTTP 200 with the exact body `success`. */
  readonly acknowledged: boolean
  /** Sent by `resend`, outside the schedule (its `attempt` is the count of attempts so far plus one). */
  readonly manual: boolean
}

export type DeliveryState = "scheduled" | "acknowledged" | "exhausted" | "no_url"

export interface NotificationRecord {
  readonly notifyId: string
  readonly partner: string
  readonly subType: string
  readonly outerTaskId: string
  /** The serial, for ASSIGN notifications. */
  readonly outerTransferNo: string | undefined
  /** The payload's leaves, wire text. */
  readonly fields: Readonly<Record<string, string>>
  readonly url: string | undefined
  readonly charset: Charset.Charset
  readonly body: Uint8Array
  readonly contentType: string
  readonly createdAt: number
  /** When the first delivery is due (later than `createdAt` under `Late`, `Reorder` and `Reissue`). */
  readonly firstDueAt: number
  /** The notify_id this one repeats under a new id (`Reissue`). */
  readonly reissueOf: string | undefined
  readonly fault: Fault.NotifyFault | undefined
  readonly attempts: ReadonlyArray<DeliveryAttempt>
  readonly state: DeliveryState
  /** When the next scheduled attempt is due; undefined once delivery is over (or there is no URL). */
  readonly nextAttemptAt: number | undefined
  /** Scheduled attempts not yet made (counting the next one). */
  readonly attemptsLeft: number
}

export type CallResult =
  | { readonly _tag: "Success"; readonly paid: ReadonlyArray<string> }
  | { readonly _tag: "Failure"; readonly code: string }
  | { readonly _tag: "NotifyVerify"; readonly answer: "true" | "false" | "invalid" }
  /** Answered by a fault that replaces processing (`Reject`, `Raw`, unapplied `Drop`/`ServerError`). */
  | { readonly _tag: "NotProcessed" }

/** Whether a call's signature was verified, or why not. */
export type SignatureCheck =
  { readonly _tag: "Verified" } | { readonly _tag: "NotVerified"; readonly reason: string }

export interface CallRecord {
  readonly at: number
  /** The URL exactly as received (over HTTP: the request target, path and query). */
  readonly url: string
  readonly service: string | undefined
  /** The decoded parameters, in query order; empty when the query could not be read. */
  readonly params: ReadonlyArray<readonly [string, string]>
  readonly signature: SignatureCheck
  readonly result: CallResult
  readonly fault: Fault.AnswerFault | undefined
  /** What was answered; `undefined` when the answer was dropped. */
  readonly response: Transport.RawResponse | undefined
}

// ---------------------------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------------------------

export interface Delivery {
  readonly url: string
  readonly body: Uint8Array
  readonly contentType: string
  readonly notifyId: string
  readonly attempt: number
}

export interface DeliveryAnswer {
  readonly status: number
  readonly body: Uint8Array
}

export class DeliveryError extends Schema.TaggedError<DeliveryError>()("DeliveryError", {
  message: Schema.String
}) {}

/** How a notification reaches the platform. Any failure (or defect) is a failed attempt, retried later. */
export type Deliver = (delivery: Delivery) => Effect.Effect<DeliveryAnswer, DeliveryError>

/** POSTs with the given HttpClient, body and Content-Type exactly as built. */
export const httpDeliver =
  (client: HttpClient.HttpClient): Deliver =>
  (delivery) =>
    client
      .execute(
        HttpClientRequest.post(delivery.url).pipe(
          HttpClientRequest.bodyUint8Array(delivery.body, delivery.contentType)
        )
      )
      .pipe(
        Effect.flatMap((response) =>
          Effect.map(response.arrayBuffer, (body) => ({
            status: response.status,
            body: new Uint8Array(body)
          }))
        ),
        Effect.scoped,
        Effect.mapError((e) => new DeliveryError({ message: e.message }))
      )

// ---------------------------------------------------------------------------------------------------------
// Options and service
// ---------------------------------------------------------------------------------------------------------

/** How a seeded PRNG draws faults (see `Fault.draw`). */
export type RandomFaults = Fault.RandomFaults

export type GatewayKey =
  /** The fixed `TestKeys` gateway pair (default): the vectors, the CLI and `TestKeys.gatewayVerifier` agree. */
  | "test"
  /** A fresh DSA 1024/160 pair for this sandbox; read the public half from `gatewayPublicKey`. */
  | "generate"
  | { readonly privateKey: Redacted.Redacted<string>; readonly publicKey: string }

export interface Options {
  /** Default: the test partner only, without a notify_url. */
  readonly partners?: ReadonlyArray<PartnerRegistration> | undefined
  readonly tasks?: ReadonlyArray<TaskRegistration> | undefined
  /** Default "test". */
  readonly gatewayKey?: GatewayKey | undefined
  /** `transfer_detail` separator. Default `~*~`. */
  readonly separator?: string | undefined
  /**
   * Charge on the service fee, a decimal from 0 to 1 (`"0.006"` is 0.6 %). Default 0.05 (the vectors' 1.50 on
   * 30.00). The charge is rounded half up to 0.01.
   */
  readonly serviceChargeRate?: BigDecimal.BigDecimal | string | undefined
  /** The offset of `notify_time` and `gmt_transfer`. Default 480 (Beijing). */
  readonly utcOffsetMinutes?: number | undefined
  /** Default: HTTP POST with Node's HTTP client (no keep-alive). */
  readonly deliver?: Deliver | undefined
  /** Per delivery attempt, on the Effect Clock. Default 15 seconds. */
  readonly deliveryTimeout?: Duration.DurationInput | undefined
  readonly faults?: RandomFaults | undefined
  /** notify_ids are this prefix plus a counter. Default: 8 random hex digits, so restarts never reuse an id. */
  readonly notifyIdPrefix?: string | undefined
  /** How long notify_verify answers `true` for an id. Default: forever. */
  readonly notifyIdTtl?: Duration.DurationInput | undefined
}

export interface Sandbox {
  /** The gateway's public key (SubjectPublicKeyInfo PEM): what platforms verify with. */
  readonly gatewayPublicKey: string
  readonly registerPartner: (partner: PartnerRegistration) => Effect.Effect<void, SandboxError>
  readonly registerTask: (task: TaskRegistration) => Effect.Effect<void, SandboxError>
  /**
   * Answers a gateway GET URL. Fails only for a dropped answer (`Fault.drop`): `TransportError` with
   * `mayHaveReached: true`, reason `timeout` (hang) or `network` (reset).
   */
  readonly handle: (url: string) => Effect.Effect<Transport.RawResponse, Transport.TransportError>
  /** Faults for the next confirm calls, one per call, in order. */
  readonly queueAnswerFaults: (...faults: ReadonlyArray<Fault.AnswerFault>) => Effect.Effect<void>
  /** Faults for the notifications of the next successful calls, one per call, in order. */
  readonly queueNotifyFaults: (...faults: ReadonlyArray<Fault.NotifyFault>) => Effect.Effect<void>
  /** Faults queued and not yet used, in order. */
  readonly queuedFaults: Effect.Effect<{
    readonly answer: ReadonlyArray<Fault.AnswerFault>
    readonly notify: ReadonlyArray<Fault.NotifyFault>
  }>
  /**
   * Delivers a notification once more, now, outside its schedule (recorded with `manual: true`); when it is
   * acknowledged the scheduled retries stop. Fails `unknown_notification` or `no_url`.
   */
  readonly resend: (notifyId: string) => Effect.Effect<DeliveryAttempt, SandboxError>
  readonly setDeliver: (deliver: Deliver) => Effect.Effect<void>
  /** Every registered task, in registration order, with what is paid. */
  readonly tasks: Effect.Effect<ReadonlyArray<TaskRecord>>
  readonly ledger: Effect.Effect<ReadonlyArray<LedgerEntry>>
  readonly notifications: Effect.Effect<ReadonlyArray<NotificationRecord>>
  readonly calls: Effect.Effect<ReadonlyArray<CallRecord>>
  /** Notifications whose delivery is not over yet. */
  readonly pendingDeliveries: Effect.Effect<number>
  /** Waits until every delivery is over (acknowledged or exhausted). Under a TestClock, adjust it first. */
  readonly awaitDeliveries: Effect.Effect<void>
}

export const Sandbox: Context.Tag<Sandbox, Sandbox> = Context.GenericTag<Sandbox>("@witkey/testkit/Sandbox")

// ---------------------------------------------------------------------------------------------------------
// Wiring
// ---------------------------------------------------------------------------------------------------------

/** Builds a sandbox in the current scope; its delivery fibers live in that scope. */
export const make = (options: Options = {}): Effect.Effect<Sandbox, SandboxError, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const toError = (problem: Registry.Problem) => new SandboxError(problem)
    const separator = options.separator ?? Protocol.DEFAULT_TRANSFER_SEPARATOR
    const utcOffsetMinutes = options.utcOffsetMinutes ?? 480
    const chargeRate = yield* Either.mapLeft(Registry.parseRate(options.serviceChargeRate ?? "0.05"), toError)
    const prefix =
      options.notifyIdPrefix ?? (yield* Random.nextIntBetween(0, 0x7fffffff)).toString(16).padStart(8, "0")

    const keys = yield* Effect.mapError(Gateway.keys(options.gatewayKey ?? "test"), toError)

    // How notifications leave: `options.deliver`, swapped by `setDeliver`, else Node's client, built once.
    let deliver: Deliver | undefined = options.deliver
    const defaultDeliver = yield* Effect.cached(
      Layer.build(
        NodeHttpClient.layerWithoutAgent.pipe(
          Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false }))
        )
      ).pipe(
        Effect.map((context) => httpDeliver(Context.get(context, HttpClient.HttpClient))),
        Scope.extend(scope)
      )
    )

    // Faults: the queued ones first, then the seeded PRNG's.
    const answerQueue: Array<Fault.AnswerFault> = []
    const notifyQueue: Array<Fault.NotifyFault> = []
    const drawn =
      options.faults === undefined ? undefined : Fault.draw(Prng.make(options.faults.seed), options.faults)

    // The rooms. Each keeps its own state; the gateway reads and writes them in one synchronous step per payout.
    const registry = Registry.make({ separator, chargeRate })
    const ledger = Ledger.make()
    const deliveries = yield* Deliveries.make({
      prefix,
      utcOffsetMinutes,
      deliveryTimeout: Duration.decode(options.deliveryTimeout ?? "15 seconds"),
      signer: keys.signer,
      deliver: Effect.suspend(() => (deliver === undefined ? defaultDeliver : Effect.succeed(deliver)))
    })
    const gateway = Gateway.make({
      registry,
      ledger,
      deliveries,
      nextAnswerFault: () => answerQueue.shift() ?? drawn?.answer(),
      nextNotifyFault: () => notifyQueue.shift() ?? drawn?.notify(),
      signer: keys.signer,
      forger: keys.forger,
      separator,
      utcOffsetMinutes,
      notifyIdTtl: options.notifyIdTtl === undefined ? undefined : Duration.decode(options.notifyIdTtl)
    })

    const registerPartner = (partner: PartnerRegistration) =>
      Effect.mapError(registry.registerPartner(partner), toError)
    const registerTask = (task: TaskRegistration) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Either.match(registry.registerTask(task, now), {
          onLeft: (problem) => Effect.fail(toError(problem)),
          onRight: () => Effect.void
        })
      )

    for (const partner of options.partners ?? [
      { partner: TestKeys.partnerId, publicKey: TestKeys.partnerPublicKeyPem }
    ])
      yield* registerPartner(partner)
    for (const task of options.tasks ?? []) yield* registerTask(task)

    return {
      gatewayPublicKey: keys.publicKey,
      registerPartner,
      registerTask,
      handle: gateway.handle,
      queueAnswerFaults: (...faults) => Effect.sync(() => void answerQueue.push(...faults)),
      queueNotifyFaults: (...faults) => Effect.sync(() => void notifyQueue.push(...faults)),
      queuedFaults: Effect.sync(() => ({ answer: [...answerQueue], notify: [...notifyQueue] })),
      resend: (notifyId) =>
        Effect.mapError(deliveries.resend(notifyId), (refused) => new SandboxError(refused)),
      tasks: Effect.sync(() => registry.tasks().map(ledger.record)),
      setDeliver: (next) =>
        Effect.sync(() => {
          deliver = next
        }),
      ledger: Effect.sync(ledger.entries),
      notifications: Effect.sync(deliveries.notifications),
      calls: Effect.sync(gateway.calls),
      pendingDeliveries: Effect.sync(
        () => deliveries.notifications().filter((n) => n.state === "scheduled").length
      ),
      awaitDeliveries: deliveries.awaitDeliveries
    } satisfies Sandbox
  })

/** The sandbox as a layer; its deliveries stop when the layer's scope closes. */
export const layer = (options: Options = {}): Layer.Layer<Sandbox, SandboxError> =>
  Layer.scoped(Sandbox, make(options))

/** A core `Verifier` for the sandbox's gateway key (works with generated keys too). */
export const gatewayVerifier: Layer.Layer<Verifier.Verifier, never, Sandbox> = Layer.effect(
  Verifier.Verifier,
  Effect.flatMap(Sandbox, (sandbox) =>
    DsaVerifier.make({ publicKey: Redacted.make(sandbox.gatewayPublicKey) })
  ).pipe(Effect.orDie)
)
