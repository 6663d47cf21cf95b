/**
 * The `witkey` command line: every subcommand, and the run that turns every ending into the exit codes of
 * the contract (0 success, 1 failure, 2 bad usage).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as CliApp from "@effect/cli/CliApp"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type * as Console from "effect/Console"
import * as CanonicalCommand from "./CanonicalCommand.js"
import * as ConfirmCommand from "./ConfirmCommand.js"
import * as DemoCommand from "./DemoCommand.js"
import * as ExitCode from "./ExitCode.js"
import * as InboxCommand from "./InboxCommand.js"
import * as KeygenCommand from "./KeygenCommand.js"
import * as KeyInspectCommand from "./KeyInspectCommand.js"
import * as Output from "./Output.js"
import * as PayoutsCommand from "./PayoutsCommand.js"
import * as PlainConsole from "./PlainConsole.js"
import * as RawArgs from "./RawArgs.js"
import * as RequestCommand from "./RequestCommand.js"
import * as SandboxCommand from "./SandboxCommand.js"
import * as ServeCommand from "./ServeCommand.js"
import * as SignCommand from "./SignCommand.js"
import * as VerifyNotificationCommand from "./VerifyNotificationCommand.js"
import * as VerifyResponseCommand from "./VerifyResponseCommand.js"

export const VERSION = "0.1.0"

export const root = Command.make("witkey").pipe(
  Command.withDescription("Alipay witkey payouts (alipay.witkey.task.confirm.by.platform): tools and demo."),
  Command.withSubcommands([
    KeygenCommand.command,
    KeyInspectCommand.parent,
    CanonicalCommand.command,
    SignCommand.command,
    RequestCommand.command,
    ConfirmCommand.command,
    SandboxCommand.command,
    ServeCommand.command,
    InboxCommand.command,
    PayoutsCommand.command,
    DemoCommand.command,
    VerifyResponseCommand.command,
    VerifyNotificationCommand.command
  ])
)

const cli = Command.run(root, { name: "witkey", version: VERSION })

/** Logs are diagnostics: stderr, so that stdout holds only results. */
export const logger = Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))

/** @effect/cli's usage errors are several lines of help text; the contract is one line. */
const oneLine = (text: string): string =>
  PlainConsole.strip(text)
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join(" ")

/**
 * A console for @effect/cli whose `Console.error` is silent: it prints usage errors there, which `run` reports
 * itself as one `witkey:` line. The commands' diagnostics use `unsafe.error` (Output.diagnostic), unaffected.
 */
const withoutUsagePrinting = (console: Console.Console): Console.Console => ({
  ...console,
  error: () => Effect.void
})

/** Why a command died, in one line: the defect's message, or the cause's first line. */
const defectReason = (cause: Cause.Cause<unknown>): string => {
  const squashed = Cause.squash(cause)
  return oneLine(squashed instanceof Error ? `${squashed.name}: ${squashed.message}` : String(squashed))
}

/**
 * Runs the command line on `argv` (node, script, args...) and yields the exit code; never fails. Every error
 * is one line on stderr starting `witkey:`, never a stack (set WITKEY_DEBUG=1 to see one for a defect).
 */
export const run = (
  argv: ReadonlyArray<string>
): Effect.Effect<ExitCode.ExitCode, never, CliApp.CliApp.Environment> =>
  Effect.consoleWith((console) =>
    Effect.withConsole(
      cli(RawArgs.protect(argv)),
      withoutUsagePrinting(PlainConsole.fromEnvironment(console))
    )
  ).pipe(
    Effect.provide(logger),
    Effect.as<ExitCode.ExitCode>(ExitCode.ok),
    Effect.catchAllCause((cause) => {
      const failure = Cause.failureOption(cause)
      if (failure._tag === "Some") {
        const error = failure.value
        if (ValidationError.isValidationError(error)) {
          const text = oneLine(HelpDoc.toAnsiText(error.error))
          return Output.diagnostic(`witkey: ${text}`).pipe(Effect.as<ExitCode.ExitCode>(ExitCode.usage))
        }
        if (error._tag === "CliError")
          return Output.diagnostic(`witkey: ${oneLine(error.message)}`).pipe(
            Effect.as<ExitCode.ExitCode>(error.exitCode)
          )
      }
      if (Cause.isInterruptedOnly(cause)) return Effect.succeed<ExitCode.ExitCode>(ExitCode.failure)
      const debug = process.env["WITKEY_DEBUG"] !== undefined && process.env["WITKEY_DEBUG"] !== ""
      return Output.diagnostic(
        `witkey: internal error: ${defectReason(cause)}${debug ? `\n${Cause.pretty(cause)}` : ""}`
      ).pipe(Effect.as<ExitCode.ExitCode>(ExitCode.failure))
    })
  )
