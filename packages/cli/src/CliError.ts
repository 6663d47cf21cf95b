/**
 * A command that ends badly: the message for stderr and the exit code it stands for.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

export class CliError extends Schema.TaggedError<CliError>()("CliError", {
  exitCode: Schema.Literal(1, 2),
  message: Schema.String
}) {}

/** Bad usage: an argument, file or key the command cannot work with (exit 2). */
export const usage = (message: string): CliError => new CliError({ exitCode: 2, message })

/** The command ran and the answer is "no": a verification failure, rejection or unknown outcome (exit 1). */
export const failure = (message: string): CliError => new CliError({ exitCode: 1, message })

export const isCliError = (u: unknown): u is CliError => u instanceof CliError
