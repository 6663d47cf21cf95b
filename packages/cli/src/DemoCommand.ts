/**
 * `witkey demo`: the README's main job (see `Demo`), with a progress bar on stderr when it is a terminal and
 * a summary table on stdout. Exits 0 only if the gateway's ledger and the receiver's inbox agree.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Logger, LogLevel } from "effect"
import * as CliError from "./CliError.js"
import * as CommonOptions from "./CommonOptions.js"
import * as DemoConsole from "./DemoConsole.js"
import type * as Demo from "./Demo.js"
import * as Output from "./Output.js"
import * as ProgressBar from "./ProgressBar.js"

export const DEFAULT_SEED = 2026

const hours = (h: number) => (h < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} days`)

const refusals = (s: Demo.Summary) =>
  Object.entries(s.refusals)
    .map(([reason, n]) => (reason === "handler" ? `${n} by the failing handler` : `${n} ${reason}`))
    .join(", ") || "none"

/** The summary as the table the README shows. */
export const table = (s: Demo.Summary): Array<string> => {
  const rows = (title: string, items: ReadonlyArray<readonly [string, string | number, string?]>) => [
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
      ["gateway calls", s.gatewayCalls, `${s.answerFaults} answers lost or garbled on purpose`]
    ]),
    "",
    ...rows("notifications (sandbox -> receiver over HTTP, SQLite inbox)", [
      ["issued", s.notificationsIssued, `${s.reissued} re-issued under a new notify_id`],
      [
        "delivery attempts",
        s.deliveries,
        `${s.duplicatePosts} duplicate posts, ${s.lateBatches} batches late`
      ],
      ["answered fail (receiver failing)", s.deliveriesAnsweredFail, `${refusals(s)}; the gateway retries`],
      ["delivered (acknowledged)", s.notificationsAcknowledged],
      ["out of retries", s.notificationsExhausted],
      ["duplicates ignored", s.duplicatesIgnored],
      ["processed", s.processed]
    ]),
    "",
    ...rows("reconciliation", [
      ["ledger entries (gateway)", s.ledgerEntries],
      ["processed in the inbox", s.inboxProcessed],
      ["payouts recorded by the handler", s.payoutsRecorded],
      ["ledger and inbox agree", s.agree ? "yes" : "NO"]
    ]),
    ...s.problems.slice(0, 20).map((p) => `  problem: ${p}`)
  ]
}

export const command = Command.make(
  "demo",
  {
    tasks: Options.integer("tasks").pipe(
      Options.withDescription("How many tasks to pay out (default 20)."),
      Options.withDefault(20)
    ),
    seed: Options.integer("seed").pipe(
      Options.withDescription(`Seed of the winners, amounts and faults (default ${DEFAULT_SEED}).`),
      Options.withDefault(DEFAULT_SEED)
    ),
    concurrency: Options.integer("concurrency").pipe(
      Options.withDescription("Confirms in flight at once (default 4)."),
      Options.withDefault(4)
    ),
    timeScale: Options.integer("time-scale").pipe(
      Options.withDescription("How much faster the sandbox's clock runs (default 30000: a day in ~3 s)."),
      Options.withDefault(30_000)
    ),
    json: CommonOptions.json,
    console: DemoConsole.option
  },
  (values) =>
    Effect.gen(function* () {
      if (values.tasks < 1 || values.tasks > 500) return yield* CliError.usage("--tasks must be 1 to 500")
      if (values.concurrency < 1 || values.concurrency > 64)
        return yield* CliError.usage("--concurrency must be 1 to 64")
      if (values.timeScale < 1 || values.timeScale > 1_000_000)
        return yield* CliError.usage("--time-scale must be 1 to 1000000")
      // The servers, SQLite and the sandbox are loaded only for the demo.
      const Demo = yield* Effect.promise(() => import("./Demo.js"))
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
                  Output.result(values.json, { ...s }, () => table(s))
                )
              )
          : undefined,
        onProgress: (p) =>
          p.phase === "confirming"
            ? bar.update(p.tasksDone, p.tasks, `confirming ${p.tasksDone}/${p.tasks} tasks`)
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
      yield* Output.result(values.json, { ...summary }, () => table(summary))
      if (!summary.agree)
        return yield* CliError.failure(
          `the ledger and the inbox do not agree (${summary.problems.length} problems)`
        )
    })
).pipe(
  Command.withDescription(
    "Pay out N tasks against the sandbox while faults are injected, play a day of notifications in seconds, and check that the ledger and the inbox agree."
  )
)
