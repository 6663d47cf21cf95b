/**
 * Where results and diagnostics go: results to stdout (with `--json`, one JSON object on one line, always the
 * last line), everything else to stderr.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/** One JSON object on one line of stdout. */
export const json = (value: Readonly<Record<string, unknown>>): Effect.Effect<void> =>
  Console.log(JSON.stringify(value))

/** A line of human-readable result on stdout. */
export const line = (text: string): Effect.Effect<void> => Console.log(text)

/**
 * A diagnostic on stderr. Written with the console's `unsafe.error`, not `Console.error`: @effect/cli prints
 * its own multi-line usage errors with `Console.error`, which `Cli.run` holds back and reports as one line.
 */
export const diagnostic = (text: string): Effect.Effect<void> =>
  Console.consoleWith((console) => Effect.sync(() => console.unsafe.error(text)))

/** Prints the result as JSON or as text, whichever the user asked for. */
export const result = (
  asJson: boolean,
  value: Readonly<Record<string, unknown>>,
  text: () => ReadonlyArray<string>
): Effect.Effect<void> => (asJson ? json(value) : Effect.forEach(text(), line, { discard: true }))

/** `key: value` rows with the keys padded to one width. */
export const table = (rows: ReadonlyArray<readonly [string, string]>): Array<string> => {
  const width = Math.max(0, ...rows.map(([k]) => k.length))
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)
}
