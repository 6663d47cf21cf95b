/**
 * @effect/cli colours its help and errors whether or not anyone is looking; piped into a file or another
 * tool, the escape codes are noise. This console strips them from stdout and stderr when those are not
 * terminals, or when `NO_COLOR` is set.
 *
 * @since 0.1.0
 */
import type * as Console from "effect/Console"

const ANSI = /\u001b\[[0-9;]*m/g

export const strip = (text: string): string => text.replace(ANSI, "")

const plain = (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? strip(a) : a))

export const make = (
  base: Console.Console,
  options: { readonly stdout: boolean; readonly stderr: boolean }
): Console.Console => ({
  ...base,
  log: (...args) => (options.stdout ? base.log(...plain(args)) : base.log(...args)),
  error: (...args) => (options.stderr ? base.error(...plain(args)) : base.error(...args)),
  unsafe: {
    ...base.unsafe,
    log: (...args) => (options.stdout ? base.unsafe.log(...plain(args)) : base.unsafe.log(...args)),
    error: (...args) => (options.stderr ? base.unsafe.error(...plain(args)) : base.unsafe.error(...args))
  }
})

/** Whether to strip what goes to this stream: it is not a terminal, or `NO_COLOR` is set. */
export const plainFor = (stream: { readonly isTTY?: boolean }): boolean =>
  (process.env["NO_COLOR"] !== undefined && process.env["NO_COLOR"] !== "") || stream.isTTY !== true

/** Strip where the stream is not a terminal, or everywhere under `NO_COLOR`. */
export const fromEnvironment = (base: Console.Console): Console.Console =>
  make(base, { stdout: plainFor(process.stdout), stderr: plainFor(process.stderr) })
