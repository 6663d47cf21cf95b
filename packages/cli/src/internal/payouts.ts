/** The handlers of `PayoutsCommand`, loaded when a subcommand runs. @internal */
import * as JournaledClient from "@witkey/core/JournaledClient"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Signer from "@witkey/core/Signer"
import * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import type * as Scope from "effect/Scope"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as CliError from "../CliError.js"
import * as CommonOptions from "../CommonOptions.js"
import * as Database from "../Database.js"
import * as Keys from "../Keys.js"
import * as Output from "../Output.js"
import type * as Command from "@effect/cli/Command"
import type * as PayoutsCommand from "../PayoutsCommand.js"

export const list = (values: Command.Command.ParseConfig<typeof PayoutsCommand.listOptions>) =>
  Effect.gen(function* () {
    const journal = yield* PayoutJournal.PayoutJournal
    // The journal's warning for each row that does not decode is left out: this listing names them itself.
    const payouts = yield* journal.all.pipe(
      Logger.withMinimumLogLevel(LogLevel.Error),
      Effect.mapError(journalError)
    )
    // Rows that do not decode are listed too (the journal's listings leave them out): never re-sent, so an
    // operator must see them and compare them with Alipay's records by hand.
    const unreadable = yield* journal.unreadable.pipe(Effect.mapError(journalError))
    yield* Output.result(
      values.json,
      { payouts: payouts.map(payoutJson), unreadable: unreadable.map(unreadableJson) },
      () => [
        ...(payouts.length === 0 && unreadable.length === 0
          ? ["no payouts"]
          : payouts.map((p) =>
              [
                p.outerTaskId,
                p.transfers.join(","),
                p.outcome._tag,
                `${p.attempts.length} attempts`,
                iso(p.recordedAt)
              ].join("  ")
            )),
        ...unreadable.map((u) =>
          [
            "UNREADABLE",
            u.outerTaskId,
            u.transfers.join(","),
            `stored ${u.outcomeTag}`,
            iso(u.recordedAt),
            `${u.id}: ${u.problem}`
          ].join("  ")
        )
      ]
    )
    if (unreadable.length > 0)
      return yield* CliError.failure(
        `${unreadable.length} payout(s) in the journal do not decode and are never re-sent: compare them with Alipay's records`
      )
  }).pipe(Effect.provide(Database.inboxAndJournal(values.db)))

const unreadableJson = (u: PayoutJournal.Unreadable): Record<string, unknown> => ({
  id: u.id,
  outer_task_id: u.outerTaskId,
  transfers: u.transfers,
  stored_outcome: u.outcomeTag,
  recorded_at: iso(u.recordedAt),
  problem: u.problem
})

export const resume = (values: Command.Command.ParseConfig<typeof PayoutsCommand.resumeOptions>) =>
  Effect.gen(function* () {
    if (values.timeout <= 0) return yield* CliError.usage("--timeout must be a positive number of seconds")
    yield* CommonOptions.checkGateway(values.gateway)
    const signer = yield* Keys.signer(values.privateKey)
    const verifier = yield* Keys.verifier(values.alipayPublicKey)
    const HttpTransport = yield* Effect.promise(() => import("@witkey/node-http/HttpTransport"))
    const results = yield* Effect.gen(function* () {
      const client = yield* JournaledClient.make({
        partner: values.partner,
        gateway: values.gateway,
        charset: values.charset
      })
      return yield* client.resume.pipe(Effect.mapError(journalError))
    }).pipe(
      Effect.provideService(Signer.Signer, signer),
      Effect.provideService(Verifier.Verifier, verifier),
      Effect.provide(
        Layer.merge(
          HttpTransport.layerNode({ timeout: Duration.seconds(values.timeout) }),
          Database.inboxAndJournal(values.db)
        )
      )
    )
    yield* Output.result(values.json, { resumed: results.map(resumedJson) }, () =>
      results.length === 0
        ? ["nothing to resume: every payout in the journal is settled"]
        : results.map((r) =>
            [
              r.outerTaskId,
              r._tag,
              ...Object.values(resumedJson(r))
                .slice(3)
                .filter((v) => v !== undefined)
            ].join("  ")
          )
    )
    const open = results.filter((r) => r._tag !== "Settled").length
    if (open > 0) return yield* CliError.failure(`${open} of ${results.length} payouts are still unsettled`)
  })

export const reconcile = (values: Command.Command.ParseConfig<typeof PayoutsCommand.reconcileOptions>) =>
  Effect.gen(function* () {
    const result = yield* PayoutJournal.reconcileTasks().pipe(
      Effect.mapError((e) =>
        e._tag === "JournalError" ? journalError(e) : CliError.failure(`inbox: ${e.message}`)
      )
    )
    const flagged = result.serials.filter((s) => s.state !== "settled")
    yield* Output.result(
      values.json,
      {
        counts: result.counts,
        alarms: result.alarms,
        serials: flagged.map((s) => ({
          outer_task_id: s.outerTaskId,
          serial: s.serial,
          state: s.state,
          alarm: s.alarm,
          notify_id: s.notifyId
        })),
        already_paid_mismatches: result.alreadyPaidMismatches.map((m) => ({
          outer_task_id: m.outerTaskId,
          payout_id: m.payoutId,
          transfers: m.transfers,
          unnotified: m.unnotified
        }))
      },
      () => [
        ...Output.table(Object.entries(result.counts).map(([k, v]) => [k, String(v)] as const)),
        `alarms  ${result.alarms}`,
        ...flagged.map((s) => `  ${s.alarm ? "ALARM " : ""}${s.outerTaskId} ${s.serial}: ${s.state}`),
        ...result.alreadyPaidMismatches.map(
          (m) =>
            `  ALARM ${m.outerTaskId}: ALREADY_PAID for ${m.transfers.join(",")} not explained by a re-send`
        )
      ]
    )
    if (result.alarms > 0) return yield* CliError.failure(`${result.alarms} alarms`)
  }).pipe(Effect.provide(Database.inboxAndJournal(values.db)))

const iso = (millis: number | undefined) =>
  millis === undefined ? undefined : new Date(millis).toISOString()

/** A payout as JSON (the signed URL left out: `list --json` is for people and scripts, not for re-sending). */
export const payoutJson = (p: PayoutJournal.Entry): Record<string, unknown> => ({
  id: p.id,
  outer_task_id: p.outerTaskId,
  transfers: p.transfers,
  outcome: p.outcome._tag,
  code: "code" in p.outcome ? p.outcome.code : undefined,
  reason: p.outcome._tag === "Unknown" ? p.outcome.reason : undefined,
  settled: PayoutJournal.isSettled(p.outcome),
  attempts: p.attempts.length,
  recorded_at: iso(p.recordedAt),
  outcome_at: iso(p.outcomeAt)
})

const journalError = (e: PayoutJournal.JournalError) => CliError.failure(`journal: ${e.message}`)

const resumedJson = (r: JournaledClient.Resumed): Record<string, unknown> => ({
  id: r.id,
  outer_task_id: r.outerTaskId,
  result: r._tag,
  outcome: r._tag === "Settled" ? r.outcome._tag : undefined,
  error: r._tag === "Failed" ? r.error.message : r._tag === "Held" ? r.reason : undefined
})

/** `confirm`'s journaled client over `--journal`'s database. */
export const journaled = (
  options: JournaledClient.Options,
  database: Database.Database
): Effect.Effect<
  JournaledClient.JournaledClient,
  CliError.CliError,
  Signer.Signer | Verifier.Verifier | Transport.Transport | Scope.Scope
> =>
  Effect.flatMap(Layer.build(Database.inboxAndJournal(database, {}, "--journal")), (context) =>
    JournaledClient.make(options).pipe(Effect.provide(context))
  )
