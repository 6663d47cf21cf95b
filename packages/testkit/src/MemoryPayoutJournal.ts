/**
 * An in-memory `PayoutJournal` for tests, with the semantics of `@witkey/inbox-sql`'s `SqlPayoutJournal`:
 * record-or-find by payout id, claims with a lease on Effect's Clock, attempts numbered per payout, outcomes
 * written only by the claim holder. Every operation is one synchronous step, so operations never interleave.
 * Nothing survives the process: use it in tests only.
 *
 * @since 0.1.0
 */
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import { Clock, Effect, Layer, Option } from "effect"

interface Row {
  entry: PayoutJournal.Entry
  claim: PayoutJournal.Claim | undefined
}

export const make: Effect.Effect<PayoutJournal.PayoutJournal> = Effect.sync(() => {
  // Insertion order is recording order: "oldest first" for ties on the Clock.
  const rows = new Map<string, Row>()

  const claimable = (row: Row, owner: string, now: number) =>
    !PayoutJournal.isPaid(row.entry.outcome) &&
    (row.claim === undefined || row.claim.until <= now || row.claim.owner === owner)

  const holds = (row: Row | undefined, owner: string): row is Row => row?.claim?.owner === owner

  /** Holds it, and the lease is not over: nobody else can have taken it. */
  const holdsLive = (row: Row | undefined, owner: string, now: number): row is Row =>
    holds(row, owner) && row.claim!.until > now

  const withNow = <A>(f: (now: number) => A): Effect.Effect<A> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => f(now)))

  const notFound = (id: string) =>
    new PayoutJournal.JournalError({ reason: "not_found", message: `no payout "${id}" on record` })

  const sorted = (filter: (entry: PayoutJournal.Entry) => boolean) =>
    Effect.sync(() =>
      [...rows.values()]
        .map((r) => r.entry)
        .filter(filter)
        .sort((a, b) => a.recordedAt - b.recordedAt)
    )

  return PayoutJournal.PayoutJournal.of({
    record: (request, claim) =>
      Effect.flatMap(Clock.currentTimeMillis, (now): ReturnType<PayoutJournal.PayoutJournal["record"]> => {
        const id = PayoutJournal.payoutId(request.request)
        const existing = rows.get(id)
        if (existing !== undefined) {
          const conflict = PayoutJournal.conflictError(existing.entry, request)
          if (conflict !== undefined) return Effect.fail(conflict)
          const claimed = claimable(existing, claim.owner, now)
          if (claimed) existing.claim = claim
          return Effect.succeed({ entry: existing.entry, created: false, claimed })
        }
        const entry: PayoutJournal.Entry = {
          id,
          partner: request.request.partner,
          outerTaskId: request.request.outerTaskId,
          transfers: [...request.request.transfers],
          request,
          recordedAt: now,
          attempts: [],
          outcome: { _tag: "Pending" },
          outcomeAt: undefined
        }
        rows.set(id, { entry, claim })
        return Effect.succeed({ entry, created: true, claimed: true })
      }),
    claim: (id, claim) =>
      withNow((now) => {
        const row = rows.get(id)
        if (row === undefined || !claimable(row, claim.owner, now)) return false
        row.claim = claim
        return true
      }),
    startAttempt: (id, owner) =>
      Effect.flatMap(
        withNow((now) => {
          const row = rows.get(id)
          if (!holdsLive(row, owner, now)) return undefined
          const n = row.entry.attempts.length + 1
          row.entry = {
            ...row.entry,
            attempts: [...row.entry.attempts, { n, at: now, result: undefined, mayHaveReached: true }]
          }
          return n
        }),
        (n) =>
          n === undefined
            ? Effect.fail(
                new PayoutJournal.JournalError({
                  reason: "busy",
                  message: `payout "${id}" is not held by "${owner}" (or its lease is over): not sent`
                })
              )
            : Effect.succeed(n)
      ),
    finishAttempt: (id, n, result) =>
      Effect.flatMap(
        Effect.sync(() => {
          const row = rows.get(id)
          if (row === undefined) return false
          row.entry = {
            ...row.entry,
            attempts: row.entry.attempts.map((a) =>
              a.n === n ? { ...a, result: result.text, mayHaveReached: result.mayHaveReached } : a
            )
          }
          return true
        }),
        (found) => (found ? Effect.void : Effect.fail(notFound(id)))
      ),
    finish: (id, owner, outcome) =>
      withNow((now) => {
        const row = rows.get(id)
        if (!holds(row, owner)) return false
        row.entry = { ...row.entry, outcome, outcomeAt: now }
        row.claim = undefined
        return true
      }),
    release: (id, owner) =>
      Effect.sync(() => {
        const row = rows.get(id)
        if (!holds(row, owner)) return false
        row.claim = undefined
        return true
      }),
    get: (id) => Effect.sync(() => Option.fromNullable(rows.get(id)?.entry)),
    byTask: (outerTaskId) => sorted((e) => e.outerTaskId === outerTaskId),
    unsettled: sorted((e) => !PayoutJournal.isSettled(e.outcome)),
    all: sorted(() => true),
    // Entries are kept as objects, never encoded: nothing can fail to decode.
    unreadable: Effect.succeed([])
  })
})

export const layer: Layer.Layer<PayoutJournal.PayoutJournal> = Layer.effect(PayoutJournal.PayoutJournal, make)
