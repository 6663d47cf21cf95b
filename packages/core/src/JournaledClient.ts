/**
 * The payout client with a `PayoutJournal`: every signed request is recorded before it is first sent, each
 * attempt and the outcome after it, and `resume` re-sends whatever a crash left unsettled (issue 15).
 *
 * Sending follows `Client.send`'s rules exactly (it is `Client.send`, over a Transport that records each
 * attempt), with one addition: attempts made before this call, by a process that died, count as attempts
 * that may have reached the gateway. So `ALREADY_PAID` after them is `AlreadyConfirmed { afterResend: true }`,
 * and any other rejection is `UnknownOutcome` `rejected_after_resend`, as `Client.send` says within one call.
 *
 * Across calls too: a payout recorded with an unknown outcome that a re-send cannot resolve (a `T` that did not
 * verify, another task's answer: `Client.isResendable`) is not sent again, by `send` or by `resume`. Sending the
 * identical request again would pay nothing twice (the gateway answers `ALREADY_PAID`), but that unsigned answer
 * would be recorded as a success and hide a wrong key or a forged answer (PROTOCOL.md §7). `send` fails with the
 * recorded `UnknownOutcome` instead; fix the configuration and reconcile with the notifications.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Either, Layer, Option, Random, Schema } from "effect"
import * as Client from "./Client.js"
import * as GatewayResponse from "./GatewayResponse.js"
import * as PayoutJournal from "./PayoutJournal.js"
import * as Signer from "./Signer.js"
import type * as SignedRequest from "./SignedRequest.js"
import * as Transport from "./Transport.js"
import * as Verifier from "./Verifier.js"

export interface Options extends Client.Options {
  /** This process in claims (a host name and pid, an operator's name); default a random id. */
  readonly owner?: string | undefined
  /**
   * How long a claim holds: longer than one send with all its re-sends (default 10 minutes). A payout whose
   * sender died is resumable once its lease is over; no attempt starts on a lease that is over (the send fails
   * `JournalError` `busy`, and the payout stays unsettled for `resume`).
   */
  readonly lease?: Duration.DurationInput | undefined
}

/** What `resume` did with one unsettled payout. */
export type Resumed = {
  readonly id: string
  readonly outerTaskId: string
} & (
  | { readonly _tag: "Settled"; readonly outcome: Client.Outcome }
  | { readonly _tag: "Failed"; readonly error: GatewayResponse.GatewayRejected | Client.UnknownOutcome }
  /** Someone else holds it (sending it now, or died less than a lease ago). */
  | { readonly _tag: "Busy" }
  /**
   * An unknown outcome that a re-send cannot resolve (`Client.isResendable`), a rejection, or a record that does
   * not decode (`unreadable: …`): reconcile it.
   */
  | { readonly _tag: "Held"; readonly reason: string }
)

export interface JournaledClient {
  /** The underlying client (`prepare`, `decodeNotification`, `notifyVerify`); its `send` journals nothing. */
  readonly client: Client.Client
  readonly owner: string
  /**
   * Records the request (or finds the same payout on record: then its URL is sent, not this one), sends it
   * unless it is paid already (then the recorded outcome is returned) or its recorded outcome is one a re-send
   * cannot resolve (then that `UnknownOutcome` is the failure, and nothing is sent), records the outcome. The
   * same payout with another notify_url, charset or gateway fails `JournalError` `conflict`.
   */
  readonly send: (
    request: SignedRequest.SignedRequest
  ) => Effect.Effect<
    Client.Outcome,
    GatewayResponse.GatewayRejected | Client.UnknownOutcome | PayoutJournal.JournalError
  >
  readonly confirmByPlatform: (
    input: Client.Input
  ) => Effect.Effect<Client.Outcome, Client.ConfirmError | PayoutJournal.JournalError>
  /** Re-sends every unsettled payout it can claim, one at a time, oldest first. */
  readonly resume: Effect.Effect<ReadonlyArray<Resumed>, PayoutJournal.JournalError>
}

export const JournaledClient: Context.Tag<JournaledClient, JournaledClient> =
  Context.GenericTag<JournaledClient>("@witkey/core/JournaledClient")

export const DEFAULT_LEASE: Duration.Duration = Duration.minutes(10)

/** What a journaled client runs on. */
export type Services = Signer.Signer | Verifier.Verifier | Transport.Transport | PayoutJournal.PayoutJournal

/** The journal failed inside the transport: carried out as a defect (never retried), then failed again. */
class JournalDefect {
  constructor(readonly error: PayoutJournal.JournalError) {}
}

const busy = (id: string) =>
  new PayoutJournal.JournalError({
    reason: "busy",
    message: `payout "${id}" is held by another sender; try again when its lease is over`
  })

/** The outcome as recorded. */
export const toRecorded = (
  result: Client.Outcome | GatewayResponse.GatewayRejected | Client.UnknownOutcome
): PayoutJournal.Outcome => {
  switch (result._tag) {
    case "Confirmed":
      return { _tag: "Confirmed", verifiedBy: result.verifiedBy }
    case "AlreadyConfirmed":
      return { _tag: "AlreadyConfirmed", code: result.code, afterResend: result.afterResend }
    case "GatewayRejected":
      return { _tag: "Rejected", code: result.code }
    case "UnknownOutcome":
      return {
        _tag: "Unknown",
        reason: result.reason,
        mayHaveReached: result.mayHaveReached,
        message: result.message
      }
  }
}

/** Whether the attempts on record before this call may have paid. */
const earlierMayHavePaid = (entry: PayoutJournal.Entry): boolean =>
  entry.outcome._tag === "Pending"
    ? entry.attempts.some((a) => a.mayHaveReached)
    : entry.outcome._tag === "Unknown" && entry.outcome.mayHaveReached

const isReason = Schema.is(Client.UnknownOutcome.fields.reason)

/**
 * A recorded unknown outcome that a re-send cannot resolve, as the client reports it (`Left`: its reason is none
 * this version knows, so it is not re-sent either); `None` for any other outcome.
 */
const unresendable = (
  entry: PayoutJournal.Entry
): Option.Option<Either.Either<Client.UnknownOutcome, string>> => {
  const o = entry.outcome
  if (o._tag !== "Unknown") return Option.none()
  if (!isReason(o.reason)) return Option.some(Either.left(o.reason))
  const unknown = new Client.UnknownOutcome({
    reason: o.reason,
    mayHaveReached: o.mayHaveReached,
    attempts: entry.attempts.length,
    outerTaskId: entry.outerTaskId,
    message: `${o.message} (the recorded outcome: not sent again, a re-send would only earn an unsigned ALREADY_PAID and hide this; fix the configuration, then reconcile with the notifications)`
  })
  return Client.isResendable(unknown) ? Option.none() : Option.some(Either.right(unknown))
}

/**
 * Why resume must not re-send a payout, if it must not: an unknown outcome a re-send cannot resolve
 * (`unresendable`), or a rejection (an answer; sending again is the caller's decision).
 */
const heldReason = (entry: PayoutJournal.Entry): string | undefined =>
  entry.outcome._tag === "Rejected"
    ? `rejected: ${entry.outcome.code}`
    : Option.match(unresendable(entry), {
        onNone: () => undefined,
        onSome: Either.match({ onLeft: (reason) => `unknown reason: ${reason}`, onRight: (u) => u.reason })
      })

/** Settled outcome tags: an unreadable row with one of these needs no re-send. */
const SETTLED_TAGS: ReadonlySet<string> = new Set(["Confirmed", "AlreadyConfirmed", "Rejected"])

/** A paid payout's recorded outcome, as the client reports it. */
const fromRecorded = (entry: PayoutJournal.Entry): Option.Option<Client.Outcome> => {
  const o = entry.outcome
  const base = { outerTaskId: entry.outerTaskId, attempts: entry.attempts.length, request: entry.request }
  if (o._tag === "Confirmed") return Option.some({ _tag: "Confirmed", ...base, verifiedBy: o.verifiedBy })
  if (o._tag === "AlreadyConfirmed")
    return Option.some({
      _tag: "AlreadyConfirmed",
      ...base,
      code: o.code,
      afterResend: o.afterResend,
      resentAfter: []
    })
  return Option.none()
}

export const make = (options: Options): Effect.Effect<JournaledClient, never, Services> =>
  Effect.gen(function* () {
    const signer = yield* Signer.Signer
    const verifier = yield* Verifier.Verifier
    const transport = yield* Transport.Transport
    const journal = yield* PayoutJournal.PayoutJournal
    const owner = options.owner ?? `witkey-${(yield* Random.nextIntBetween(0, 2 ** 30)).toString(36)}`
    const lease = Duration.toMillis(Duration.decode(options.lease ?? DEFAULT_LEASE))
    const client = Client.fromServices(options, { signer, verifier, transport })
    const claim = Effect.map(Clock.currentTimeMillis, (now) => ({ owner, until: now + lease }))
    // The payouts this client is sending now. A claim is the owner's (so that a restarted process with the
    // same owner takes its payouts back at once): two fibers of one client would both hold it and both send.
    const sending = new Set<string>()
    /** `effect` as the only sender of `id` in this client, or `busy` while another fiber of it sends `id`. */
    const alone = <A, E>(id: string, effect: Effect.Effect<A, E>, busyResult: Effect.Effect<A, E>) =>
      Effect.suspend(() => {
        if (sending.has(id)) return busyResult
        sending.add(id)
        return Effect.ensuring(
          effect,
          Effect.sync(() => void sending.delete(id))
        )
      })

    const recording = (id: string, counter: { sent: number }): Transport.Transport =>
      Transport.make((url) =>
        journal.startAttempt(id, owner).pipe(
          Effect.tap(() => void counter.sent++),
          Effect.orDieWith((e) => new JournalDefect(e)),
          Effect.flatMap((n) =>
            transport.get(url).pipe(
              Effect.tapBoth({
                onSuccess: (r) =>
                  journal.finishAttempt(id, n, { text: `HTTP ${r.status}`, mayHaveReached: true }),
                onFailure: (e) =>
                  journal.finishAttempt(id, n, {
                    text: `transport ${e.reason}: ${e.message}`,
                    mayHaveReached: e.mayHaveReached
                  })
              }),
              Effect.catchTag("JournalError", (e) => Effect.die(new JournalDefect(e)))
            )
          )
        )
      )

    /** Sends a payout the caller has claimed, under Client.send's rules, and records the outcome. */
    const sendClaimed = (entry: PayoutJournal.Entry) =>
      Effect.gen(function* () {
        const counter = { sent: 0 }
        const sender = Client.fromServices(options, {
          signer,
          verifier,
          transport: recording(entry.id, counter)
        })
        const earlier = earlierMayHavePaid(entry)
        const result = yield* sender.send(entry.request).pipe(
          Effect.either,
          Effect.catchSomeDefect((d) =>
            d instanceof JournalDefect ? Option.some(Effect.fail(d.error)) : Option.none()
          )
        )
        const adjusted = ((): Client.Outcome | GatewayResponse.GatewayRejected | Client.UnknownOutcome => {
          const r = result._tag === "Right" ? result.right : result.left
          if (!earlier) return r
          if (r._tag === "AlreadyConfirmed") return { ...r, afterResend: true }
          if (r._tag === "GatewayRejected")
            return new Client.UnknownOutcome({
              reason: "rejected_after_resend",
              mayHaveReached: true,
              attempts: counter.sent,
              outerTaskId: entry.outerTaskId,
              code: r.code,
              message: `a re-send was rejected with ${r.code} after an earlier attempt, before a restart, that may have reached the gateway; reconcile with the notifications`
            })
          if (r._tag === "UnknownOutcome" && !r.mayHaveReached)
            return new Client.UnknownOutcome({
              reason: r.reason,
              mayHaveReached: true,
              attempts: r.attempts,
              outerTaskId: r.outerTaskId,
              ...(r.code === undefined ? {} : { code: r.code }),
              message: r.message
            })
          return r
        })()
        const written = yield* journal.finish(entry.id, owner, toRecorded(adjusted))
        if (!written)
          yield* Effect.logWarning(
            `payout "${entry.id}": the claim ran out before the outcome was recorded; the next holder records its own`
          )
        return adjusted
      })

    const send: JournaledClient["send"] = (request) => {
      const id = PayoutJournal.payoutId(request.request)
      return alone(
        id,
        Effect.gen(function* () {
          const { claimed, entry } = yield* journal.record(request, yield* claim)
          const paid = fromRecorded(entry)
          if (Option.isSome(paid)) return paid.value
          const held = unresendable(entry)
          if (Option.isSome(held)) {
            if (claimed) yield* journal.release(entry.id, owner)
            return yield* Either.match(held.value, {
              onLeft: (reason) =>
                new PayoutJournal.JournalError({
                  reason: "unreadable",
                  message: `payout "${entry.id}" is recorded with an unknown outcome of reason "${reason}", which this version does not know: not sent again`
                }),
              onRight: (unknown) => Effect.fail(unknown)
            })
          }
          if (!claimed) return yield* busy(entry.id)
          const result = yield* sendClaimed(entry)
          return result._tag === "Confirmed" || result._tag === "AlreadyConfirmed"
            ? result
            : yield* Effect.fail(result)
        }),
        busy(id)
      )
    }

    const resumeOne = (entry: PayoutJournal.Entry): Effect.Effect<Resumed, PayoutJournal.JournalError> =>
      Effect.gen(function* () {
        const base = { id: entry.id, outerTaskId: entry.outerTaskId }
        const held = heldReason(entry)
        if (held !== undefined) return { ...base, _tag: "Held", reason: held } as const
        if (!(yield* journal.claim(entry.id, yield* claim))) return { ...base, _tag: "Busy" } as const
        // Read again under the claim (the claim refuses a paid payout): its attempts may have grown meanwhile.
        const current = yield* journal.get(entry.id)
        if (Option.isNone(current))
          return yield* new PayoutJournal.JournalError({
            reason: "not_found",
            message: `payout "${entry.id}" vanished`
          })
        // Another process may have settled it since the list was read (an unverifiable answer, a rejection):
        // released (its outcome and time untouched), and held, never re-sent by resume.
        const heldNow = heldReason(current.value)
        if (heldNow !== undefined) {
          yield* journal.release(entry.id, owner)
          return { ...base, _tag: "Held", reason: heldNow } as const
        }
        const result = yield* sendClaimed(current.value)
        return result._tag === "Confirmed" || result._tag === "AlreadyConfirmed"
          ? ({ ...base, _tag: "Settled", outcome: result } as const)
          : ({ ...base, _tag: "Failed", error: result } as const)
      })

    return {
      client,
      owner,
      send,
      confirmByPlatform: (input) => Effect.flatMap(client.prepare(input), send),
      resume: Effect.gen(function* () {
        const resumed = yield* Effect.forEach(yield* journal.unsettled, (entry) =>
          alone(
            entry.id,
            resumeOne(entry),
            Effect.succeed<Resumed>({ id: entry.id, outerTaskId: entry.outerTaskId, _tag: "Busy" })
          )
        )
        // A row that does not decode may be an unsettled payout: said, never re-sent from what cannot be read.
        const unreadable = (yield* journal.unreadable)
          .filter((u) => !SETTLED_TAGS.has(u.outcomeTag))
          .map((u): Resumed => ({
            id: u.id,
            outerTaskId: u.outerTaskId,
            _tag: "Held",
            reason: `unreadable: ${u.problem}`
          }))
        return [...resumed, ...unreadable]
      })
    }
  })

export const layer = (options: Options): Layer.Layer<JournaledClient, never, Services> =>
  Layer.effect(JournaledClient, make(options))
