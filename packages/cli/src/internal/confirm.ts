/** The handler of `ConfirmCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as Client from "@witkey/core/Client"
import type * as JournaledClient from "@witkey/core/JournaledClient"
import type * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Signer from "@witkey/core/Signer"
import * as Transport from "@witkey/core/Transport"
import * as Verifier from "@witkey/core/Verifier"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as CliError from "../CliError.js"
import * as CommonOptions from "../CommonOptions.js"
import * as ExitCode from "../ExitCode.js"
import * as Keys from "../Keys.js"
import * as Output from "../Output.js"
import type * as ConfirmCommand from "../ConfirmCommand.js"
import * as Request from "./request.js"

export type OutcomeName = "confirmed" | "already_confirmed" | "rejected" | "unknown" | "invalid_request"

export interface Report {
  readonly outcome: OutcomeName
  readonly code?: string
  readonly outer_task_id?: string
  readonly message?: string
  readonly attempts?: number
  readonly after_resend?: boolean
  readonly reason?: string
}

/**
 * Runs a confirm and reduces every ending to a report and its exit code: 0 confirmed or already confirmed,
 * 1 rejected, unknown, or a signing failure, 2 a request refused locally (bad usage).
 */
export const confirm = (
  client: {
    readonly confirmByPlatform: (
      input: Client.Input
    ) => Effect.Effect<Client.Outcome, Client.ConfirmError | PayoutJournal.JournalError>
  },
  input: Client.Input
): Effect.Effect<readonly [Report, ExitCode.ExitCode]> =>
  client.confirmByPlatform(input).pipe(
    Effect.map((outcome): Report =>
      outcome._tag === "Confirmed"
        ? { outcome: "confirmed", outer_task_id: outcome.outerTaskId, attempts: outcome.attempts }
        : {
            outcome: "already_confirmed",
            code: outcome.code,
            outer_task_id: outcome.outerTaskId,
            attempts: outcome.attempts,
            after_resend: outcome.afterResend
          }
    ),
    Effect.catchTags({
      GatewayRejected: (e) =>
        Effect.succeed<Report>({
          outcome: "rejected",
          code: e.code,
          outer_task_id: input.outerTaskId,
          message: e.message
        }),
      UnknownOutcome: (e) =>
        Effect.succeed<Report>({
          outcome: "unknown",
          outer_task_id: e.outerTaskId,
          reason: e.reason,
          attempts: e.attempts,
          message: e.mayHaveReached
            ? `${e.message}; the payout may or may not have happened: re-send the identical request (safe) or reconcile with the notifications`
            : `${e.message}; the request never left, so nothing was paid: re-send it`
        }),
      InvalidRequest: (e) =>
        Effect.succeed<Report>({ outcome: "invalid_request", message: `${e.message}; nothing was sent` }),
      JournalError: (e) =>
        Effect.succeed<Report>({
          outcome: "unknown",
          outer_task_id: input.outerTaskId,
          reason: `journal_${e.reason}`,
          message: `the payout journal failed: ${e.message}; run witkey payouts list/resume on it`
        })
    }),
    Effect.map((report) => [report, exitCodeOf(report)] as const),
    Effect.catchTag("SignError", (e) =>
      Effect.succeed([
        { outcome: "invalid_request", message: `${e.message}; nothing was sent` } satisfies Report,
        ExitCode.failure
      ] as const)
    )
  )

const exitCodeOf = (report: Report): ExitCode.ExitCode =>
  report.outcome === "confirmed" || report.outcome === "already_confirmed"
    ? ExitCode.ok
    : report.outcome === "invalid_request"
      ? ExitCode.usage
      : ExitCode.failure

export const run = (values: Command.Command.ParseConfig<typeof ConfirmCommand.options>) =>
  Effect.gen(function* () {
    if (values.timeout <= 0) return yield* CliError.usage("--timeout must be a positive number of seconds")
    if (values.retries < 0) return yield* CliError.usage("--retries must not be negative")
    yield* CommonOptions.checkGateway(values.gateway)
    const signer = yield* Keys.signer(values.privateKey)
    const verifier = yield* Keys.verifier(values.alipayPublicKey)
    // node:http and its client are loaded only by the commands that talk to a gateway.
    const HttpTransport = yield* Effect.promise(() => import("@witkey/node-http/HttpTransport"))
    const separator = Option.getOrUndefined(values.separator)
    const options: JournaledClient.Options = {
      partner: values.partner,
      gateway: values.gateway,
      charset: values.charset,
      separator,
      retry: Schedule.exponential("1 second").pipe(
        Schedule.intersect(Schedule.recurs(values.retries)),
        Schedule.asVoid
      )
    }
    const input = Request.input(values)
    const result = yield* Effect.gen(function* () {
      const transport = yield* Transport.Transport
      if (Option.isNone(values.journal))
        return yield* confirm(Client.fromServices(options, { signer, verifier, transport }), input)
      const Payouts = yield* Effect.promise(() => import("./payouts.js"))
      const client = yield* Payouts.journaled(options, values.journal.value).pipe(
        Effect.provideService(Signer.Signer, signer),
        Effect.provideService(Verifier.Verifier, verifier)
      )
      return yield* confirm(client, input)
    }).pipe(
      Effect.scoped,
      Effect.provide(HttpTransport.layerNode({ timeout: Duration.seconds(values.timeout) }))
    )
    const [report, code] = result
    yield* Output.result(values.json, { ...report }, () =>
      Output.table(Object.entries(report).map(([k, v]) => [k, String(v)] as const))
    )
    if (code !== ExitCode.ok)
      return yield* new CliError.CliError({
        exitCode: code,
        message: `${report.outcome}: ${report.message ?? ""}`
      })
  })
