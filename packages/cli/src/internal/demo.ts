/** The handler of `DemoCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as CliError from "../CliError.js"
import * as DemoConsole from "../DemoConsole.js"
import type * as Demo from "../Demo.js"
import * as Output from "../Output.js"
import * as ProgressBar from "../ProgressBar.js"
import type * as DemoCommand from "../DemoCommand.js"

const hours = (h: number) => (h < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} days`)

const refusals = (s: Demo.Summary) =>
  Object.entries(s.refusals)
    .map(([reason, n]) => (reason === "handler" ? `${n} by the failing handler` : `${n} ${reason}`))
    .join(", ") || "none"

/** The summary as the table the README shows. */
export const table = (s: Demo.Summary): Array<string> => {
  const rows = (
    title: string,
    items: ReadonlyArray<readonly [string, string | number, (string | undefined)?]>
  ) => [
    title,
    ...items.map(
      ([label, value, note]) =>
        `  ${label.padEnd(38)}${String(value).padStart(6)}${note === undefined ? "" : `   ${note}`}`
    )
  ]
  return [
    `witkey demo: ${s.tasks} tasks, seed ${s.seed}; the sandbox's clock ran ${s.timeScale}x faster and advanced ${hours(s.simulatedHours)}`,
    "",
    ...rows("payouts (platform -> sandbox gateway over HTTP)", [
      ["tasks", s.tasks],
      ["confirmed", s.confirmed],
      ["confirmed after a re-send", s.confirmedAfterResend, "first answer lost before the gateway acted"],
      [
        "already confirmed after a re-send",
        s.alreadyConfirmedAfterResend,
        "first answer lost after the gateway paid"
      ],
      ["not paid", s.notPaid],
      ["gateway calls", s.gatewayCalls, `${s.answerFaults} answers lost or garbled on purpose`],
      [
        "outcome unknown",
        s.unknown,
        s.crashed
          ? `the paying process was killed after ${s.crashAfter} requests`
          : "unsettled in the journal after paying"
      ],
      ["resumed from the journal", s.resumed, "re-sent byte for byte, settled"]
    ]),
    "",
    ...rows(
      `notifications (sandbox -> receiver over HTTP, ${s.database === "sqlite" ? "SQLite" : "PostgreSQL"} inbox)`,
      [
        ["issued", s.notificationsIssued, `${s.reissued} re-issued under a new notify_id`],
        [
          "delivery attempts",
          s.deliveries,
          `${s.duplicatePosts} duplicate posts, ${s.lateBatches} batches late`
        ],
        ["answered fail (receiver failing)", s.deliveriesAnsweredFail, `${refusals(s)}; the gateway retries`],
        ["delivered (acknowledged)", s.notificationsAcknowledged],
        [
          "out of retries",
          s.notificationsExhausted,
          s.outageHours > 0 ? `the handler failed for ${s.outageHours} h` : undefined
        ],
        ["exhausted (found by the sweep)", s.exhausted],
        ["replayed", s.replayed, "handled from the inbox's stored bytes"],
        ["duplicates ignored", s.duplicatesIgnored],
        ["processed", s.processed, s.processedByReplay > 0 ? `${s.processedByReplay} by a replay` : undefined]
      ]
    ),
    "",
    ...rows("reconciliation", [
      ["ledger entries (gateway)", s.ledgerEntries],
      ["processed in the inbox", s.inboxProcessed],
      ["payouts recorded by the handler", s.payoutsRecorded],
      ["paid twice", s.paidTwice],
      [
        "journal payouts settled",
        s.journalSettled,
        `of ${s.journalPayouts}; ${s.reconciledSerials} serials matched with their notification`
      ],
      ["ledger, inbox and journal agree", s.agree ? "yes" : "NO"]
    ]),
    ...s.problems.slice(0, 20).map((p) => `  problem: ${p}`)
  ]
}

/** The `--json` object: the summary's counts under the names the README documents. */
export const json = (s: Demo.Summary): Record<string, unknown> => ({
  tasks: s.tasks,
  seed: s.seed,
  database: s.database,
  outage_hours: s.outageHours,
  crash_after: s.crashAfter,
  confirmed: s.confirmed + s.confirmedAfterResend,
  confirmed_after_resend: s.confirmedAfterResend,
  already_confirmed: s.alreadyConfirmedAfterResend,
  not_paid: s.notPaid,
  unknown: s.unknown,
  crashed: s.crashed,
  resumed: s.resumed,
  gateway_calls: s.gatewayCalls,
  notifications: s.notificationsIssued,
  deliveries: s.deliveries,
  out_of_retries: s.notificationsExhausted,
  exhausted: s.exhausted,
  replayed: s.replayed,
  duplicates_ignored: s.duplicatesIgnored,
  processed: s.processed,
  processed_by_replay: s.processedByReplay,
  handler_failures: s.handlerFailures,
  ledger_entries: s.ledgerEntries,
  paid_twice: s.paidTwice,
  inbox_processed: s.inboxProcessed,
  payouts_recorded: s.payoutsRecorded,
  journal_payouts: s.journalPayouts,
  journal_settled: s.journalSettled,
  simulated_hours: Number(s.simulatedHours.toFixed(2)),
  agree: s.agree,
  problems: s.problems
})

export const run = (values: Command.Command.ParseConfig<typeof DemoCommand.options>) =>
  Effect.gen(function* () {
    if (values.tasks < 1 || values.tasks > 500) return yield* CliError.usage("--tasks must be 1 to 500")
    if (values.concurrency < 1 || values.concurrency > 64)
      return yield* CliError.usage("--concurrency must be 1 to 64")
    if (values.timeScale < 1 || values.timeScale > 1_000_000)
      return yield* CliError.usage("--time-scale must be 1 to 1000000")
    if (values.outageHours < 0 || values.outageHours > 240)
      return yield* CliError.usage("--outage-hours must be 0 to 240")
    if (values.crashAfter < 0) return yield* CliError.usage("--crash-after must not be negative")
    // The servers, SQLite and the sandbox are loaded only for the demo.
    const Demo = yield* Effect.promise(() => import("../Demo.js"))
    const bar = ProgressBar.make()
    const summary = yield* Demo.run({
      tasks: values.tasks,
      seed: values.seed,
      concurrency: values.concurrency,
      timeScale: values.timeScale,
      console: values.console
        ? (s) =>
            DemoConsole.hold(
              Effect.andThen(
                bar.clear,
                Output.result(values.json, json(s), () => table(s))
              )
            )
        : undefined,
      outageHours: values.outageHours,
      crashAfter: values.crashAfter,
      db: Option.getOrUndefined(values.db),
      onProgress: (p) =>
        p.phase === "confirming"
          ? bar.update(p.tasksDone, p.tasks, `confirming ${p.tasksDone}/${p.tasks} tasks`)
          : p.phase === "replaying"
            ? bar.update(p.notificationsDone, p.notifications, "replaying what Alipay gave up on")
            : bar.update(
                p.notificationsDone,
                p.notifications,
                `notifications ${p.notificationsDone}/${p.notifications} done, sandbox clock +${hours(p.simulatedHours)}`
              )
    }).pipe(
      Effect.ensuring(bar.clear),
      Effect.mapError((e) => CliError.failure(e.message)),
      // Refused deliveries are the point of the demo: only errors are worth a log line here.
      Logger.withMinimumLogLevel(LogLevel.Error)
    )
    yield* Output.result(values.json, json(summary), () => table(summary))
    if (!summary.agree)
      return yield* CliError.failure(
        `the ledger, the inbox and the journal do not agree (${summary.problems.length} problems)`
      )
  })
