/**
 * A sandbox gateway that behaves like Alipay for `alipay.witkey.task.confirm.by.platform` (PROTOCOL.md).
 * Alipay offers no sandbox for this interface, so this is what platforms test against.
 *
 * ## Setup
 *
 * Partners are registered with their public key; the test partner (`TestKeys.partnerId` with
 * `TestKeys.partnerPublicKeyPem`) is registered unless `partners` is given. Tasks are registered before they
 * are confirmed: they stand in for the earlier witkey calls (creating the task, choosing the winners) that
 * this SDK does not cover.
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
 * ## The gateway (`handle`)
 *
 * `handle(url)` answers a raw GET URL as the gateway would. The query is read from its raw bytes: names and
 * values are percent-decoded to bytes (`+` is a space), then decoded strictly in `_input_charset` (which must
 * itself be ASCII). Checks, in this order, each answered `is_success=F` with its code:
 *
 * | check | code |
 * |---|---|
 * | broken percent-escape, non-ASCII name, a parameter given twice | `ILLEGAL_ARGUMENT` |
 * | `service` missing or not the confirm service | `ILLEGAL_SERVICE` |
 * | `_input_charset` missing or not utf-8 / gbk / gb2312 (any case) | `ILLEGAL_CHARSET` |
 * | a value that is not valid in that charset | `ILLEGAL_ENCODING` |
 * | `partner` missing or not registered | `ILLEGAL_PARTNER` |
 * | `sign_type` not exactly `DSA` | `ILLEGAL_SIGN_TYPE` |
 * | `sign` missing, or not the partner's signature of the canonical string | `ILLEGAL_SIGN` |
 * | a serial twice in `transfer_detail` | `WITKEY_OUTER_TRANSFER_REPEAT` |
 * | a required parameter missing (`outer_task_id`, `transfer_detail`) | `PARAMTER_IS_NULL` |
 * | a length limit (core `ConfirmRequest.fromParams`) | `ILLEGAL_LENGTH` |
 * | any other rule of `ConfirmRequest.fromParams` (count, characters, notify_url, …) | `ILLEGAL_ARGUMENT` |
 * | the task is not registered for this partner | `WITKEY_TASK_NOT_EXIST` |
 * | a serial is not one of the task's transfers | `WITKEY_TRANSFER_NOT_EXIST` |
 * | any serial was paid before (nothing is paid this time) | `WITKEY_OUTER_TRANSFER_ALREADY_PAID` |
 *
 * Otherwise every serial is paid (the ledger records serial, payee, amount and the Clock's time) and the
 * answer is `is_success=T`, signed with the sandbox's gateway key per §4, in the request charset, with an
 * `encoding` declaration and Content-Type naming it and the request echoed in `<request>`. The check and the
 * payout are one atomic step, and a call is processed to the end (notifications issued) even if its caller
 * gives up: re-sends racing each other never pay a serial twice, and nothing paid is left unannounced.
 *
 * `service=notify_verify&partner=…&notify_id=…` answers plain text: `true` for an id this sandbox issued to
 * that partner (within `notifyIdTtl`, default forever), `false` for any other id, `invalid` when the partner
 * is missing or unknown or the notify_id is missing.
 *
 * ## Notifications
 *
 * A successful call produces one `ASSIGN_FOR_ANNOUNCE_PAYMENT` per paid serial and, in the call that pays
 * the task's last outstanding transfer, one `PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT` for the task
 * (`transfer_amount` = the service fee, `service_charge` = the charge on it; none when the fee is 0). They go
 * to the request's `notify_url`, else the partner's registered one (none: recorded as `no_url`), POSTed as
 * `application/x-www-form-urlencoded; charset=<request charset>` with `notify_id`, `notify_time`, `xml`,
 * `sign`, `sign_type=DSA`, signed per §6 with the gateway key (see `NotificationSigner`). Times are Beijing
 * time (UTC+8) unless `utcOffsetMinutes` says otherwise.
 *
 * Delivery follows §6: the first attempt at once, then retries `Protocol.NOTIFY_RETRY_DELAYS_MINUTES` apart
 * (measured from the first attempt, so the schedule does not drift), until an answer is HTTP 200 with the
 * exact body `success`: at most 8 attempts over 24h22m (a `Duplicate` fault adds a second copy of the first).
 * Each notification is a fiber in the sandbox's scope sleeping on Effect's Clock, so a test drives a day of
 * retries with `TestClock.adjust`. The first attempt runs once the calling fiber yields (any
 * `TestClock.adjust`, `awaitDeliveries`), not inside the call. Delivery goes
 * through `deliver` (default: an HTTP POST with Node's client); `setDeliver` swaps it, which is how an
 * in-process receiver that itself needs a client of this sandbox is wired.
 *
 * ## Faults
 *
 * See `Fault`: queue them for the next calls (`queueAnswerFaults`, `queueNotifyFaults`) or let a seeded PRNG
 * draw them (`faults` option). Queued faults come first.
 *
 * ## Inspection
 *
 * `ledger` (who was paid what, when), `notifications` (every notification with every delivery attempt and
 * answer), `calls` (every gateway call and its answer), `awaitDeliveries` (until every delivery is over:
 * acknowledged or out of retries; under a TestClock, adjust the clock first).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Charset from "@witkey/core/Charset"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as Protocol from "@witkey/core/Protocol"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import * as KeyGen from "@witkey/crypto-dsa/KeyGen"
import {
  BigDecimal,
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  Either,
  FiberSet,
  Layer,
  Option,
  Random,
  Redacted,
  Schema,
  Scope
} from "effect"
import * as Fault from "./Fault.js"
import * as GatewayAnswer from "./GatewayAnswer.js"
import * as Prng from "./internal/Prng.js"
import * as Query from "./internal/Query.js"
import * as Wire from "./internal/Wire.js"
import * as NotificationSigner from "./NotificationSigner.js"
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
    "key_generation"
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
}

export type CallResult =
  | { readonly _tag: "Success"; readonly paid: ReadonlyArray<string> }
  | { readonly _tag: "Failure"; readonly code: string }
  | { readonly _tag: "NotifyVerify"; readonly answer: "true" | "false" | "invalid" }
  /** Answered by a fault that replaces processing (`Reject`, `Raw`, unapplied `Drop`/`ServerError`). */
  | { readonly _tag: "NotProcessed" }

export interface CallRecord {
  readonly at: number
  /** The URL exactly as received (over HTTP: the request target, path and query). */
  readonly url: string
  readonly service: string | undefined
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

export interface RandomFaults {
  /** Seed of the deterministic PRNG: the same seed gives the same faults for the same sequence of calls. */
  readonly seed: number
  /** Probability that a confirm call gets an answer fault. Default 0.3. */
  readonly answerRate?: number | undefined
  /** Probability that a successful call's notifications get a fault. Default 0.3. */
  readonly notifyRate?: number | undefined
  /** Default: Drop, ServerError, Truncated, Unsigned, WrongSignature (each applied with probability 0.7). */
  readonly answerKinds?: ReadonlyArray<
    "Drop" | "ServerError" | "Truncated" | "Unsigned" | "WrongSignature" | "Delay"
  >
  /** Default: all of them. */
  readonly notifyKinds?: ReadonlyArray<Fault.NotifyFaultTag>
}

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
  readonly setDeliver: (deliver: Deliver) => Effect.Effect<void>
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
// Implementation
// ---------------------------------------------------------------------------------------------------------

interface PartnerState {
  readonly id: string
  readonly verifier: Verifier.Verifier
  readonly notifyUrl: string | undefined
}

interface TransferState {
  readonly serial: string
  readonly payeeUserId: string
  readonly amount: BigDecimal.BigDecimal
}

interface TaskState {
  readonly partner: string
  readonly outerTaskId: string
  readonly transfers: ReadonlyMap<string, TransferState>
  readonly serviceFee: BigDecimal.BigDecimal
  readonly serviceCharge: BigDecimal.BigDecimal
  readonly platformAccount: string
  readonly paid: Set<string>
  profitPaid: boolean
}

interface Pending {
  readonly leaves: NotificationSigner.Leaves
  readonly subType: string
  readonly outerTransferNo: string | undefined
}

const key = (...parts: ReadonlyArray<string>) => parts.join("\u0000")

const DEFAULT_ANSWER_KINDS = ["Drop", "ServerError", "Truncated", "Unsigned", "WrongSignature"] as const
const NOTIFY_KINDS: ReadonlyArray<Fault.NotifyFaultTag> = [
  "Duplicate",
  "Late",
  "Reorder",
  "MalformedContentType",
  "Reissue"
]

const issueCode = (issues: ReadonlyArray<ConfirmRequest.Issue>): string => {
  if (issues.some((i) => i.rule === "unique")) return "WITKEY_OUTER_TRANSFER_REPEAT"
  const first = issues[0]
  if (first?.rule === "required") return "PARAMTER_IS_NULL"
  if (first?.rule === "max_length") return "ILLEGAL_LENGTH"
  return "ILLEGAL_ARGUMENT"
}

const decodeUtf8Lossy = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/**
 * Reads what is needed to build any answer: the decoded parameters and charset, or the code that refuses them.
 * `service` is known whenever a `service` parameter with an ASCII value is present, even in a query refused
 * otherwise, so that a broken notify_verify is still answered as one.
 */
type Read =
  | {
      readonly _tag: "Read"
      readonly service: string
      readonly params: ReadonlyArray<readonly [string, string]>
      readonly byName: ReadonlyMap<string, string>
      readonly charset: Charset.Charset
    }
  | {
      readonly _tag: "Unreadable"
      readonly service: string | undefined
      readonly code: string
      readonly charset: Charset.Charset
    }

const read = (url: string): Read => {
  const parsed = Query.parse(url)
  if (parsed._tag === "Malformed")
    return { _tag: "Unreadable", service: undefined, code: "ILLEGAL_ARGUMENT", charset: "utf-8" }
  const pairs = parsed.pairs
  const nameOf = pairs.map((pair) => Query.ascii(pair.name))
  const serviceRaw = pairs[nameOf.indexOf(Protocol.Param.service)]?.value
  const service = serviceRaw === undefined ? undefined : Query.ascii(serviceRaw)
  const refuse = (code: string, charset: Charset.Charset = "utf-8"): Read => ({
    _tag: "Unreadable",
    service,
    code,
    charset
  })
  const names: Array<string> = []
  for (const name of nameOf) {
    if (name === undefined || names.includes(name)) return refuse("ILLEGAL_ARGUMENT")
    names.push(name)
  }
  if (service !== Protocol.SERVICE && service !== Protocol.NotifyVerify.service)
    return refuse("ILLEGAL_SERVICE")
  const charsetRaw = pairs[names.indexOf(Protocol.Param.inputCharset)]?.value
  const charsetText = charsetRaw === undefined ? undefined : Query.ascii(charsetRaw)?.toLowerCase()
  let charset = (Charset.values as ReadonlyArray<string>).includes(charsetText ?? "")
    ? (charsetText as Charset.Charset)
    : undefined
  // notify_verify is sent without a charset (core sends it in utf-8).
  if (charset === undefined && service === Protocol.NotifyVerify.service && charsetRaw === undefined)
    charset = "utf-8"
  if (charset === undefined) return refuse("ILLEGAL_CHARSET")
  const params: Array<readonly [string, string]> = []
  for (const [i, name] of names.entries()) {
    const value = Charset.decode(pairs[i]!.value, charset)
    if (Either.isLeft(value)) return refuse("ILLEGAL_ENCODING", charset)
    params.push([name, value.right])
  }
  return { _tag: "Read", service, params, byName: new Map(params), charset }
}

const parseAmountOrFail = (field: string, input: Amount) =>
  Either.mapLeft(
    Wire.parseAmount(input),
    (m) => new SandboxError({ reason: "invalid_task", message: `${field}: ${m}` })
  )

const parseRate = (
  input: BigDecimal.BigDecimal | string
): Either.Either<BigDecimal.BigDecimal, SandboxError> => {
  const rate = typeof input === "string" ? BigDecimal.fromString(input) : Option.some(input)
  return Option.isSome(rate) &&
    !BigDecimal.isNegative(rate.value) &&
    BigDecimal.lessThanOrEqualTo(rate.value, BigDecimal.fromBigInt(1n))
    ? Either.right(rate.value)
    : Either.left(
        new SandboxError({
          reason: "invalid_task",
          message: "serviceChargeRate must be a decimal from 0 to 1"
        })
      )
}

/** Builds a sandbox in the current scope; its delivery fibers live in that scope. */
export const make = (options: Options = {}): Effect.Effect<Sandbox, SandboxError, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const separator = options.separator ?? Protocol.DEFAULT_TRANSFER_SEPARATOR
    const offset = options.utcOffsetMinutes ?? 480
    const chargeRate = yield* parseRate(options.serviceChargeRate ?? "0.05")
    const deliveryTimeout = Duration.decode(options.deliveryTimeout ?? "15 seconds")
    const notifyIdTtl = options.notifyIdTtl === undefined ? undefined : Duration.decode(options.notifyIdTtl)
    const prefix =
      options.notifyIdPrefix ?? (yield* Random.nextIntBetween(0, 0x7fffffff)).toString(16).padStart(8, "0")

    // The gateway's keys.
    const gatewayKey = options.gatewayKey ?? "test"
    const gatewayPair =
      gatewayKey === "test"
        ? { privateKey: TestKeys.gatewayPrivateKey, publicKey: TestKeys.gatewayPublicKeyPem }
        : gatewayKey === "generate"
          ? yield* KeyGen.generate().pipe(
              Effect.map((pair) => ({ privateKey: pair.privateKeyPem, publicKey: pair.publicKeyPem })),
              Effect.mapError((e) => new SandboxError({ reason: "key_generation", message: e.message }))
            )
          : gatewayKey
    const keyError = (e: { readonly message: string }) =>
      new SandboxError({ reason: "invalid_key", message: `gateway key: ${e.message}` })
    const gatewaySigner: Signer.Signer = yield* DsaSigner.make({
      privateKey: gatewayPair.privateKey as Redacted.Redacted<string | Uint8Array>
    }).pipe(Effect.mapError(keyError))
    const forgerSigner: Signer.Signer = yield* DsaSigner.make({ privateKey: TestKeys.otherPrivateKey }).pipe(
      Effect.mapError(keyError)
    )

    // State. Every read-check-write of the ledger happens inside one synchronous step, so concurrent calls
    // (the client's re-sends racing a slow first attempt) can never pay a serial twice.
    const partners = new Map<string, PartnerState>()
    const tasks = new Map<string, TaskState>()
    const serialOwner = new Map<string, string>()
    const ledger: Array<LedgerEntry> = []
    const notifications = new Map<string, NotificationRecord>()
    const issued = new Map<string, { readonly partner: string; readonly at: number }>()
    const calls: Array<CallRecord> = []
    const answerQueue: Array<Fault.AnswerFault> = []
    const notifyQueue: Array<Fault.NotifyFault> = []
    const prng = options.faults === undefined ? undefined : Prng.make(options.faults.seed)
    let notifyCounter = 0
    let deliver: Deliver | undefined = options.deliver
    const fibers = yield* FiberSet.make<void, never>()

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

    const registerPartner = (registration: PartnerRegistration): Effect.Effect<void, SandboxError> =>
      Effect.gen(function* () {
        const issues = ConfirmRequest.checkPartner(registration.partner)
        if (issues.length > 0)
          return yield* new SandboxError({
            reason: "invalid_partner",
            message: `partner: ${issues[0]!.message}`
          })
        if (registration.notifyUrl !== undefined) {
          const urlIssues = ConfirmRequest.checkNotifyUrl(registration.notifyUrl)
          if (urlIssues.length > 0)
            return yield* new SandboxError({
              reason: "invalid_partner",
              message: `notifyUrl: ${urlIssues[0]!.message}`
            })
        }
        const verifier = yield* DsaVerifier.make({ publicKey: Redacted.make(registration.publicKey) }).pipe(
          Effect.mapError(
            (e) =>
              new SandboxError({
                reason: "invalid_key",
                message: `partner ${registration.partner}: ${e.message}`
              })
          )
        )
        partners.set(registration.partner, {
          id: registration.partner,
          verifier,
          notifyUrl: registration.notifyUrl
        })
      })

    const registerTask = (task: TaskRegistration): Effect.Effect<void, SandboxError> =>
      Effect.gen(function* () {
        const invalid = (message: string) => new SandboxError({ reason: "invalid_task", message })
        if (!partners.has(task.partner))
          return yield* new SandboxError({
            reason: "unknown_partner",
            message: `partner ${task.partner} is not registered`
          })
        const idIssues = ConfirmRequest.checkOuterTaskId(task.outerTaskId, "outerTaskId")
        if (idIssues.length > 0) return yield* invalid(`outerTaskId: ${idIssues[0]!.message}`)
        if (tasks.has(key(task.partner, task.outerTaskId)))
          return yield* new SandboxError({
            reason: "duplicate_task",
            message: `task ${task.outerTaskId} is already registered for partner ${task.partner}`
          })
        if (task.transfers.length === 0) return yield* invalid("a task needs at least one transfer")
        if (task.platformAccount.trim() === "") return yield* invalid("platformAccount must not be empty")
        const transfers = new Map<string, TransferState>()
        for (const [index, t] of task.transfers.entries()) {
          const field = `transfers[${index}]`
          const serialIssues = ConfirmRequest.checkTransferSerial(t.serial, `${field}.serial`, separator)
          if (serialIssues.length > 0) return yield* invalid(`${field}.serial: ${serialIssues[0]!.message}`)
          if (transfers.has(t.serial) || serialOwner.has(key(task.partner, t.serial)))
            return yield* new SandboxError({
              reason: "duplicate_transfer",
              message: `serial "${t.serial}" is already registered for partner ${task.partner}`
            })
          if (t.payeeUserId.trim() === "") return yield* invalid(`${field}.payeeUserId must not be empty`)
          const amount = yield* parseAmountOrFail(`${field}.amount`, t.amount)
          if (!BigDecimal.isPositive(amount)) return yield* invalid(`${field}.amount must be more than 0`)
          transfers.set(t.serial, { serial: t.serial, payeeUserId: t.payeeUserId, amount })
        }
        const serviceFee = yield* parseAmountOrFail("serviceFee", task.serviceFee)
        const serviceCharge =
          task.serviceCharge === undefined
            ? Wire.roundAmount(BigDecimal.multiply(serviceFee, chargeRate))
            : yield* parseAmountOrFail("serviceCharge", task.serviceCharge)
        if (BigDecimal.greaterThan(serviceCharge, serviceFee))
          return yield* invalid("serviceCharge must not exceed serviceFee")
        for (const serial of transfers.keys()) serialOwner.set(key(task.partner, serial), task.outerTaskId)
        tasks.set(key(task.partner, task.outerTaskId), {
          partner: task.partner,
          outerTaskId: task.outerTaskId,
          transfers,
          serviceFee,
          serviceCharge,
          platformAccount: task.platformAccount,
          paid: new Set(),
          profitPaid: false
        })
      })

    // ----- faults -----

    const nextAnswerFault = (): Fault.AnswerFault | undefined => {
      const queued = answerQueue.shift()
      if (queued !== undefined || prng === undefined || options.faults === undefined) return queued
      if (prng.next() >= (options.faults.answerRate ?? 0.3)) return undefined
      const kinds = options.faults.answerKinds ?? DEFAULT_ANSWER_KINDS
      if (kinds.length === 0) return undefined
      const kind = kinds[prng.int(kinds.length)]!
      const applied = prng.next() < 0.7
      switch (kind) {
        case "Drop":
          return Fault.drop({ mode: prng.next() < 0.5 ? "hang" : "reset", applied })
        case "ServerError":
          return Fault.serverError([500, 502, 503, 504][prng.int(4)]!, { applied })
        case "Truncated":
          return Fault.truncated
        case "Unsigned":
          return Fault.unsigned
        case "WrongSignature":
          return Fault.wrongSignature
        case "Delay":
          return Fault.delay(Duration.millis(1000 + prng.int(9000)))
      }
    }

    const nextNotifyFault = (): Fault.NotifyFault | undefined => {
      const queued = notifyQueue.shift()
      if (queued !== undefined || prng === undefined || options.faults === undefined) return queued
      if (prng.next() >= (options.faults.notifyRate ?? 0.3)) return undefined
      const kinds = options.faults.notifyKinds ?? NOTIFY_KINDS
      if (kinds.length === 0) return undefined
      switch (kinds[prng.int(kinds.length)]!) {
        case "Duplicate":
          return Fault.duplicate
        case "Late":
          return Fault.late(Duration.minutes(1 + prng.int(360)))
        case "Reorder":
          return Fault.reorder
        case "MalformedContentType":
          return Fault.malformedContentType
        case "Reissue":
          return Fault.reissue(Duration.minutes(1 + prng.int(180)))
      }
    }

    // ----- notifications -----

    const update = (notifyId: string, f: (r: NotificationRecord) => NotificationRecord) =>
      Effect.sync(() => {
        const record = notifications.get(notifyId)
        if (record !== undefined) notifications.set(notifyId, f(record))
      })

    const attemptOnce = (record: NotificationRecord, attempt: number, copy: number) =>
      Effect.gen(function* () {
        const send = deliver ?? (yield* defaultDeliver)
        const at = yield* Clock.currentTimeMillis
        const result: AttemptResult = yield* Effect.suspend(() =>
          send({
            url: record.url!,
            body: record.body,
            contentType: record.contentType,
            notifyId: record.notifyId,
            attempt
          })
        ).pipe(
          Effect.timeoutFail({
            duration: deliveryTimeout,
            onTimeout: () =>
              new DeliveryError({ message: `no answer within ${Duration.format(deliveryTimeout)}` })
          }),
          Effect.map((a): AttemptResult => ({ _tag: "Answered", status: a.status, body: a.body })),
          Effect.catchAllCause((cause) =>
            Effect.succeed<AttemptResult>({
              _tag: "Failed",
              message: Option.match(Cause.failureOption(cause), {
                onNone: () => `the delivery died: ${Cause.pretty(cause).split("\n")[0]}`,
                onSome: (e) => e.message
              })
            })
          )
        )
        const acknowledged =
          result._tag === "Answered" &&
          result.status === 200 &&
          decodeUtf8Lossy(result.body) === Protocol.Notify.ack &&
          result.body.length === Protocol.Notify.ack.length
        const answeredAt = yield* Clock.currentTimeMillis
        yield* Effect.logDebug("witkey sandbox delivered a notification").pipe(
          Effect.annotateLogs({
            notify_id: record.notifyId,
            attempt,
            acknowledged,
            result: result._tag === "Answered" ? `HTTP ${result.status}` : result.message
          })
        )
        yield* update(record.notifyId, (r) => ({
          ...r,
          attempts: [...r.attempts, { attempt, copy, at, answeredAt, result, acknowledged }]
        }))
        return acknowledged
      })

    const deliveryLoop = (notifyId: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        const record = notifications.get(notifyId)!
        const delays = [0, ...Protocol.NOTIFY_RETRY_DELAYS_MINUTES]
        let due = record.firstDueAt
        for (const [index, delay] of delays.entries()) {
          due += delay * 60_000
          const now = yield* Clock.currentTimeMillis
          if (due > now) yield* Effect.sleep(Duration.millis(due - now))
          const attempt = index + 1
          const copies = attempt === 1 && record.fault?._tag === "Duplicate" ? 2 : 1
          const results = yield* Effect.all(
            Array.from({ length: copies }, (_, i) =>
              attemptOnce(notifications.get(notifyId)!, attempt, i + 1)
            ),
            { concurrency: "unbounded" }
          )
          if (results.some((ok) => ok))
            return yield* update(notifyId, (r) => ({ ...r, state: "acknowledged" }))
        }
        yield* update(notifyId, (r) => ({ ...r, state: "exhausted" }))
      })

    const issue = (
      partner: PartnerState,
      pending: Pending,
      context: {
        readonly outerTaskId: string
        readonly url: string | undefined
        readonly charset: Charset.Charset
        readonly now: number
        readonly firstDueAt: number
        readonly fault: Fault.NotifyFault | undefined
        readonly reissueOf: string | undefined
      }
    ) =>
      Effect.gen(function* () {
        const notifyId = `${prefix}${(++notifyCounter).toString().padStart(8, "0")}`
        const signed = yield* NotificationSigner.sign({
          notifyId,
          notifyTime: Wire.notifyTime(context.now, offset),
          payload: pending.leaves,
          charset: context.charset,
          contentType: context.fault?._tag === "MalformedContentType" ? "malformed" : "standard",
          signer: gatewaySigner
        }).pipe(Effect.provideService(Signer.Signer, gatewaySigner), Effect.orDie)
        const record: NotificationRecord = {
          notifyId,
          partner: partner.id,
          subType: pending.subType,
          outerTaskId: context.outerTaskId,
          outerTransferNo: pending.outerTransferNo,
          fields: Object.fromEntries(pending.leaves),
          url: context.url,
          charset: context.charset,
          body: signed.body,
          contentType: signed.contentType!,
          createdAt: context.now,
          firstDueAt: context.firstDueAt,
          reissueOf: context.reissueOf,
          fault: context.fault,
          attempts: [],
          state: context.url === undefined ? "no_url" : "scheduled"
        }
        notifications.set(notifyId, record)
        issued.set(notifyId, { partner: partner.id, at: context.now })
        // Interruptible again: forked from the uninterruptible answer, and stopped when the sandbox closes.
        if (context.url !== undefined)
          yield* FiberSet.run(fibers, Effect.interruptible(deliveryLoop(notifyId)))
        return notifyId
      })

    const schedule = (
      partner: PartnerState,
      batch: ReadonlyArray<Pending>,
      outerTaskId: string,
      url: string | undefined,
      charset: Charset.Charset,
      now: number
    ) =>
      Effect.gen(function* () {
        const fault = batch.length === 0 ? undefined : nextNotifyFault()
        for (const [index, pending] of batch.entries()) {
          const extra =
            fault?._tag === "Late"
              ? Duration.toMillis(fault.by)
              : fault?._tag === "Reorder"
                ? (batch.length - 1 - index) * 1000
                : 0
          const base = { outerTaskId, url, charset, now, fault }
          const notifyId = yield* issue(partner, pending, {
            ...base,
            firstDueAt: now + extra,
            reissueOf: undefined
          })
          if (fault?._tag === "Reissue")
            yield* issue(partner, pending, {
              ...base,
              firstDueAt: now + Duration.toMillis(fault.after),
              reissueOf: notifyId
            })
        }
      })

    // ----- confirm.by.platform -----

    type Processed =
      | { readonly _tag: "Failure"; readonly code: string }
      | { readonly _tag: "Success"; readonly outerTaskId: string; readonly paid: ReadonlyArray<string> }

    const processConfirm = (request: Extract<Read, { _tag: "Read" }>, now: number) =>
      Effect.gen(function* () {
        const fail = (code: string): Processed => ({ _tag: "Failure", code })
        const params = request.byName
        const partner = partners.get(params.get(Protocol.Param.partner) ?? "")
        if (partner === undefined) return fail("ILLEGAL_PARTNER")
        if (params.get(Protocol.Param.signType) !== Protocol.SIGN_TYPE) return fail("ILLEGAL_SIGN_TYPE")
        const sign = params.get(Protocol.Param.sign)
        if (!sign) return fail("ILLEGAL_SIGN")
        const valid = yield* partner.verifier.verify(
          SigningString.bytes(request.params, request.charset),
          sign
        )
        if (!valid) return fail("ILLEGAL_SIGN")
        const validated = ConfirmRequest.fromParams(params, separator)
        if (Either.isLeft(validated)) return fail(issueCode(validated.left.issues))
        const confirm = validated.right
        const gmt = Wire.gmtTransfer(now, offset)
        // One synchronous step: check and pay.
        const outcome = yield* Effect.sync(() => {
          const task = tasks.get(key(partner.id, confirm.outerTaskId))
          if (task === undefined)
            return { processed: fail("WITKEY_TASK_NOT_EXIST"), batch: [] as Array<Pending> }
          if (confirm.transfers.some((s) => !task.transfers.has(s)))
            return { processed: fail("WITKEY_TRANSFER_NOT_EXIST"), batch: [] }
          if (confirm.transfers.some((s) => task.paid.has(s)))
            return { processed: fail(Protocol.ALREADY_PAID_CODE), batch: [] }
          const batch: Array<Pending> = []
          for (const serial of confirm.transfers) {
            const transfer = task.transfers.get(serial)!
            task.paid.add(serial)
            ledger.push({
              _tag: "Transfer",
              partner: partner.id,
              outerTaskId: task.outerTaskId,
              serial,
              payeeUserId: transfer.payeeUserId,
              amount: transfer.amount,
              paidAt: now,
              gmtTransfer: gmt
            })
            batch.push({
              subType: Protocol.Notify.assign,
              outerTransferNo: serial,
              leaves: NotificationSigner.assign({
                outerTaskId: task.outerTaskId,
                outerTransferNo: serial,
                transferAmount: transfer.amount,
                payeeUserId: transfer.payeeUserId,
                gmtTransfer: gmt
              })
            })
          }
          if (
            task.paid.size === task.transfers.size &&
            !task.profitPaid &&
            BigDecimal.isPositive(task.serviceFee)
          ) {
            task.profitPaid = true
            ledger.push({
              _tag: "PlatformProfit",
              partner: partner.id,
              outerTaskId: task.outerTaskId,
              payeeUserId: task.platformAccount,
              amount: task.serviceFee,
              serviceCharge: task.serviceCharge,
              paidAt: now,
              gmtTransfer: gmt
            })
            batch.push({
              subType: Protocol.Notify.platformProfit,
              outerTransferNo: undefined,
              leaves: NotificationSigner.platformProfit({
                outerTaskId: task.outerTaskId,
                transferAmount: task.serviceFee,
                serviceCharge: task.serviceCharge,
                payeeUserId: task.platformAccount,
                gmtTransfer: gmt
              })
            })
          }
          return {
            processed: {
              _tag: "Success",
              outerTaskId: task.outerTaskId,
              paid: [...confirm.transfers]
            } as Processed,
            batch
          }
        })
        if (outcome.processed._tag === "Success")
          yield* schedule(
            partner,
            outcome.batch,
            confirm.outerTaskId,
            confirm.notifyUrl ?? partner.notifyUrl,
            request.charset,
            now
          )
        return outcome.processed
      })

    // ----- notify_verify -----

    const notifyVerify = (request: Read, now: number): "true" | "false" | "invalid" => {
      if (request._tag !== "Read") return "invalid"
      const partner = request.byName.get(Protocol.Param.partner)
      const notifyId = request.byName.get(Protocol.Notify.notifyId)
      if (!partner || !partners.has(partner) || !notifyId) return "invalid"
      const found = issued.get(notifyId)
      if (found === undefined || found.partner !== partner) return "false"
      if (notifyIdTtl !== undefined && now - found.at > Duration.toMillis(notifyIdTtl)) return "false"
      return "true"
    }

    // ----- handle -----

    const plain = (text: string): Transport.RawResponse => ({
      status: 200,
      body: new TextEncoder().encode(text),
      contentType: "text/plain; charset=utf-8"
    })

    // Uninterruptible: a caller that gives up (a client timeout, a closed connection) must not leave a
    // payout without its record or its notifications.
    const answer = (url: string) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const request = read(url)
        const service = request.service
        const record = (entry: Omit<CallRecord, "at" | "url" | "service">) =>
          Effect.sync(() => calls.push({ at: now, url, service, ...entry }))

        if (service === Protocol.NotifyVerify.service) {
          const answer = notifyVerify(request, now)
          const response = plain(answer)
          yield* record({ result: { _tag: "NotifyVerify", answer }, fault: undefined, response })
          return { response: response as Transport.RawResponse | undefined, fault: undefined }
        }

        const fault = yield* Effect.sync(nextAnswerFault)
        const charset = request.charset
        let result: CallResult = { _tag: "NotProcessed" }
        let normal: Transport.RawResponse | undefined
        if (Fault.processes(fault)) {
          const processed: Processed =
            request._tag === "Unreadable"
              ? { _tag: "Failure", code: request.code }
              : yield* processConfirm(request, now)
          result = processed._tag === "Success" ? { _tag: "Success", paid: processed.paid } : processed
          normal =
            processed._tag === "Success"
              ? yield* GatewayAnswer.success({
                  outerTaskId: processed.outerTaskId,
                  charset,
                  request: request._tag === "Read" ? request.params : []
                }).pipe(Effect.provideService(Signer.Signer, gatewaySigner), Effect.orDie)
              : GatewayAnswer.failure(processed.code, charset)
        }
        const successShape = {
          outerTaskId:
            (request._tag === "Read" ? request.byName.get(Protocol.Param.outerTaskId) : undefined) ??
            "unknown",
          charset,
          request: request._tag === "Read" ? request.params : []
        }
        const response: Transport.RawResponse | undefined = yield* Effect.gen(function* () {
          if (fault === undefined) return normal
          switch (fault._tag) {
            case "Delay":
              return normal
            case "Drop":
              return undefined
            case "ServerError":
              return GatewayAnswer.serverError(fault.status)
            case "Truncated":
              return GatewayAnswer.truncate(normal!)
            case "Unsigned":
              return GatewayAnswer.unsigned(successShape)
            case "WrongSignature":
              return yield* GatewayAnswer.success(successShape).pipe(
                Effect.provideService(Signer.Signer, forgerSigner),
                Effect.orDie
              )
            case "Reject":
              return GatewayAnswer.failure(fault.code, charset)
            case "Raw":
              return fault.response
          }
        })
        yield* record({ result, fault, response })
        yield* Effect.logDebug("witkey sandbox answered a call").pipe(
          Effect.annotateLogs({
            service: service ?? "",
            result: result._tag === "Failure" ? result.code : result._tag,
            fault: fault?._tag ?? "",
            status: response === undefined ? "dropped" : String(response.status)
          })
        )
        return { response, fault }
      }).pipe(Effect.uninterruptible)

    const handle = (url: string): Effect.Effect<Transport.RawResponse, Transport.TransportError> =>
      Effect.flatMap(answer(url), ({ fault, response }) => {
        if (fault?._tag === "Drop")
          return new Transport.TransportError({
            reason: fault.mode === "hang" ? "timeout" : "network",
            mayHaveReached: true,
            message:
              fault.mode === "hang"
                ? "sandbox fault: the gateway never answered"
                : "sandbox fault: the gateway reset the connection"
          })
        return fault?._tag === "Delay"
          ? Effect.as(Effect.sleep(fault.duration), response!)
          : Effect.succeed(response!)
      })

    for (const partner of options.partners ?? [
      { partner: TestKeys.partnerId, publicKey: TestKeys.partnerPublicKeyPem }
    ])
      yield* registerPartner(partner)
    for (const task of options.tasks ?? []) yield* registerTask(task)

    return {
      gatewayPublicKey: gatewayPair.publicKey,
      registerPartner,
      registerTask,
      handle,
      queueAnswerFaults: (...faults) => Effect.sync(() => void answerQueue.push(...faults)),
      queueNotifyFaults: (...faults) => Effect.sync(() => void notifyQueue.push(...faults)),
      setDeliver: (next) =>
        Effect.sync(() => {
          deliver = next
        }),
      ledger: Effect.sync(() => [...ledger]),
      notifications: Effect.sync(() => [...notifications.values()]),
      calls: Effect.sync(() => [...calls]),
      pendingDeliveries: Effect.sync(
        () => [...notifications.values()].filter((n) => n.state === "scheduled").length
      ),
      awaitDeliveries: FiberSet.awaitEmpty(fibers)
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
