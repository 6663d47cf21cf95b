// The gateway's answer to one call: the query read (Query.ts), the answer fault drawn, confirm.by.platform
// processed (partner, signature, rules, then the ledger's check-and-pay and the notifications) or notify_verify
// answered, the fault applied to the answer, and the call recorded. docs/SANDBOX.md, "The gateway".
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as Protocol from "@witkey/core/Protocol"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import * as Transport from "@witkey/core/Transport"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as KeyGen from "@witkey/crypto-dsa/KeyGen"
import { Clock, Duration, Effect, Either, type Redacted } from "effect"
import * as Fault from "../Fault.js"
import * as GatewayAnswer from "../GatewayAnswer.js"
import * as NotificationSigner from "../NotificationSigner.js"
import type { CallRecord, CallResult, GatewayKey, LedgerEntry, SignatureCheck } from "../Sandbox.js"
import * as TestKeys from "../TestKeys.js"
import type * as Deliveries from "./Delivery.js"
import type * as Ledger from "./Ledger.js"
import * as Query from "./Query.js"
import type * as Registry from "./Registry.js"
import * as Wire from "./Wire.js"

export interface Keys {
  /** SubjectPublicKeyInfo PEM: what platforms verify the gateway with. */
  readonly publicKey: string
  readonly signer: Signer.Signer
  /** Signs `WrongSignature` answers: a real signature by another key. */
  readonly forger: Signer.Signer
}

/** The gateway's key pair and signers; a key that does not load is `invalid_key`. */
export const keys = (
  gatewayKey: GatewayKey
): Effect.Effect<Keys, { readonly reason: "invalid_key" | "key_generation"; readonly message: string }> =>
  Effect.gen(function* () {
    const pair =
      gatewayKey === "test"
        ? { privateKey: TestKeys.gatewayPrivateKey, publicKey: TestKeys.gatewayPublicKeyPem }
        : gatewayKey === "generate"
          ? yield* KeyGen.generate().pipe(
              Effect.map((pair) => ({ privateKey: pair.privateKeyPem, publicKey: pair.publicKeyPem })),
              Effect.mapError((e) => ({ reason: "key_generation" as const, message: e.message }))
            )
          : gatewayKey
    const keyError = (e: { readonly message: string }) => ({
      reason: "invalid_key" as const,
      message: `gateway key: ${e.message}`
    })
    const signer = yield* DsaSigner.make({
      privateKey: pair.privateKey as Redacted.Redacted<string | Uint8Array>
    }).pipe(Effect.mapError(keyError))
    const forger = yield* DsaSigner.make({ privateKey: TestKeys.otherPrivateKey }).pipe(
      Effect.mapError(keyError)
    )
    return { publicKey: pair.publicKey, signer, forger }
  })

export interface Options {
  readonly registry: Registry.Registry
  readonly ledger: Ledger.Ledger
  readonly deliveries: Deliveries.Deliveries
  readonly nextAnswerFault: () => Fault.AnswerFault | undefined
  readonly nextNotifyFault: () => Fault.NotifyFault | undefined
  readonly signer: Signer.Signer
  /** Signs `WrongSignature` answers: a real signature by another key. */
  readonly forger: Signer.Signer
  readonly separator: string
  readonly utcOffsetMinutes: number
  readonly notifyIdTtl: Duration.Duration | undefined
}

type Processed =
  | { readonly _tag: "Failure"; readonly code: string; readonly signature: SignatureCheck }
  | { readonly _tag: "Success"; readonly outerTaskId: string; readonly paid: ReadonlyArray<string> }

const VERIFIED: SignatureCheck = { _tag: "Verified" }
const notVerified = (reason: string): SignatureCheck => ({ _tag: "NotVerified", reason })

export const issueCode = (issues: ReadonlyArray<ConfirmRequest.Issue>): string => {
  if (issues.some((i) => i.rule === "unique")) return "WITKEY_OUTER_TRANSFER_REPEAT"
  const first = issues[0]
  if (first?.rule === "required") return "PARAMTER_IS_NULL"
  if (first?.rule === "max_length") return "ILLEGAL_LENGTH"
  return "ILLEGAL_ARGUMENT"
}

/** The notifications of what one call paid. */
const pendingOf = (entries: ReadonlyArray<LedgerEntry>): ReadonlyArray<Deliveries.Pending> =>
  entries.map((entry) =>
    entry._tag === "Transfer"
      ? {
          subType: Protocol.Notify.assign,
          outerTransferNo: entry.serial,
          leaves: NotificationSigner.assign({
            outerTaskId: entry.outerTaskId,
            outerTransferNo: entry.serial,
            transferAmount: entry.amount,
            payeeUserId: entry.payeeUserId,
            gmtTransfer: entry.gmtTransfer
          })
        }
      : {
          subType: Protocol.Notify.platformProfit,
          outerTransferNo: undefined,
          leaves: NotificationSigner.platformProfit({
            outerTaskId: entry.outerTaskId,
            transferAmount: entry.amount,
            serviceCharge: entry.serviceCharge,
            payeeUserId: entry.payeeUserId,
            gmtTransfer: entry.gmtTransfer
          })
        }
  )

const plain = (text: string): Transport.RawResponse => ({
  status: 200,
  body: new TextEncoder().encode(text),
  contentType: "text/plain; charset=utf-8"
})

export const make = (options: Options) => {
  const { deliveries, ledger, registry } = options
  // The request log: every call with what was read, checked, injected and answered.
  const calls: Array<CallRecord> = []

  const processConfirm = (request: Extract<Query.Read, { _tag: "Read" }>, now: number) =>
    Effect.gen(function* () {
      const fail = (code: string, signature: SignatureCheck): Processed => ({
        _tag: "Failure",
        code,
        signature
      })
      const params = request.byName
      const partner = registry.partner(params.get(Protocol.Param.partner) ?? "")
      if (partner === undefined) return fail("ILLEGAL_PARTNER", notVerified("the partner is not registered"))
      if (params.get(Protocol.Param.signType) !== Protocol.SIGN_TYPE)
        return fail("ILLEGAL_SIGN_TYPE", notVerified(`sign_type is not ${Protocol.SIGN_TYPE}`))
      const sign = params.get(Protocol.Param.sign)
      if (!sign) return fail("ILLEGAL_SIGN", notVerified("no sign"))
      const valid = yield* partner.verifier.verify(SigningString.bytes(request.params, request.charset), sign)
      if (!valid)
        return fail(
          "ILLEGAL_SIGN",
          notVerified(`not ${partner.id}'s signature of the canonical string in ${request.charset}`)
        )
      const validated = ConfirmRequest.fromParams(params, options.separator)
      if (Either.isLeft(validated)) return fail(issueCode(validated.left.issues), VERIFIED)
      const confirm = validated.right
      // One synchronous step: check and pay (Ledger.ts).
      const payment = ledger.pay(
        registry.task(partner.id, confirm.outerTaskId),
        confirm.transfers,
        now,
        Wire.gmtTransfer(now, options.utcOffsetMinutes)
      )
      if (payment._tag === "Refused") return fail(payment.code, VERIFIED)
      const pending = pendingOf(payment.entries)
      if (pending.length > 0)
        yield* deliveries.schedule(
          {
            partner: partner.id,
            outerTaskId: confirm.outerTaskId,
            url: confirm.notifyUrl ?? partner.notifyUrl,
            charset: request.charset,
            now,
            fault: options.nextNotifyFault()
          },
          pending
        )
      return { _tag: "Success", outerTaskId: confirm.outerTaskId, paid: [...confirm.transfers] } as Processed
    })

  const notifyVerify = (request: Query.Read, now: number): "true" | "false" | "invalid" => {
    if (request._tag !== "Read") return "invalid"
    const partner = request.byName.get(Protocol.Param.partner)
    const notifyId = request.byName.get(Protocol.Notify.notifyId)
    if (!partner || registry.partner(partner) === undefined || !notifyId) return "invalid"
    const found = deliveries.issued(notifyId)
    if (found === undefined || found.partner !== partner) return "false"
    if (options.notifyIdTtl !== undefined && now - found.at > Duration.toMillis(options.notifyIdTtl))
      return "false"
    return "true"
  }

  // Uninterruptible: a caller that gives up (a client timeout, a closed connection) must not leave a
  // payout without its record or its notifications.
  const answer = (url: string) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const request = Query.read(url)
      const service = request.service
      const params = request._tag === "Read" ? request.params : []
      const record = (entry: Pick<CallRecord, "result" | "fault" | "response" | "signature">) =>
        Effect.sync(() => void calls.push({ at: now, url, service, params, ...entry }))

      if (service === Protocol.NotifyVerify.service) {
        const answer = notifyVerify(request, now)
        const response = plain(answer)
        yield* record({
          result: { _tag: "NotifyVerify", answer },
          fault: undefined,
          response,
          signature: notVerified("notify_verify is not signed")
        })
        return { response: response as Transport.RawResponse | undefined, fault: undefined }
      }

      const fault = options.nextAnswerFault()
      const charset = request.charset
      let result: CallResult = { _tag: "NotProcessed" }
      let signature: SignatureCheck = notVerified(`not checked: the ${fault?._tag} fault answered instead`)
      let normal: Transport.RawResponse | undefined
      if (Fault.processes(fault)) {
        const processed: Processed =
          request._tag === "Unreadable"
            ? {
                _tag: "Failure",
                code: request.code,
                signature: notVerified(`not checked: ${request.reason}`)
              }
            : yield* processConfirm(request, now)
        if (processed._tag === "Success") {
          result = { _tag: "Success", paid: processed.paid }
          signature = VERIFIED
        } else {
          result = { _tag: "Failure", code: processed.code }
          signature = processed.signature
        }
        normal =
          processed._tag === "Success"
            ? yield* GatewayAnswer.success({
                outerTaskId: processed.outerTaskId,
                charset,
                request: params
              }).pipe(Effect.provideService(Signer.Signer, options.signer), Effect.orDie)
            : GatewayAnswer.failure(processed.code, charset)
      }
      const successShape = {
        outerTaskId:
          (request._tag === "Read" ? request.byName.get(Protocol.Param.outerTaskId) : undefined) ?? "unknown",
        charset,
        request: params
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
              Effect.provideService(Signer.Signer, options.forger),
              Effect.orDie
            )
          case "Reject":
            return GatewayAnswer.failure(fault.code, charset)
          case "Raw":
            return fault.response
        }
      })
      yield* record({ result, fault, response, signature })
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

  /** Answers a gateway GET URL; a dropped answer is a `TransportError` that may have reached the gateway. */
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

  return { handle, calls: (): ReadonlyArray<CallRecord> => [...calls] }
}
