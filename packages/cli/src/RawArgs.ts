/**
 * Option values taken byte for byte. @effect/cli trims the values of repeated options and of `--name=value`,
 * so `--param 'memo=hello '` would sign `memo=hello`: before parsing, `protect` wraps every value of the
 * options below that has leading or trailing whitespace (or is empty) in a marker `trim` leaves alone, and
 * `text` unwraps it again. Only these options' values are signed or compared, so only they are protected.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"

export const names = ["param", "task", "transfer", "notify-url", "separator", "partner", "gateway"] as const

export type Name = (typeof names)[number]

/** A private-use character: not whitespace, so never trimmed. */
const MARK = "\uE000"

const isRaw = (name: string): boolean => (names as ReadonlyArray<string>).includes(name)

/** Wraps a value the parser would change (or drop, when empty); the wrapping is undone by `unwrap` only. */
export const wrap = (value: string): string =>
  value === "" || value !== value.trim() || value.startsWith(MARK) ? `${MARK}${value}${MARK}` : value

export const unwrap = (value: string): string =>
  value.length >= 2 && value.startsWith(MARK) && value.endsWith(MARK) ? value.slice(1, -1) : value

/**
 * Protects the values of the raw options in `argv` (node, script, args…); `--name=value` becomes
 * `--name value` first, since the parser trims the joined form. Everything after `--` is left alone.
 */
export const protect = (argv: ReadonlyArray<string>): Array<string> => {
  const out = argv.slice(0, 2)
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--") {
      out.push(...argv.slice(i))
      break
    }
    const joined = /^--([^=]+)=([\s\S]*)$/.exec(arg)
    if (joined !== null && isRaw(joined[1]!)) out.push(`--${joined[1]}`, wrap(joined[2]!))
    else if (arg.startsWith("--") && isRaw(arg.slice(2)) && i + 1 < argv.length)
      out.push(arg, wrap(argv[++i]!))
    else out.push(arg)
  }
  return out
}

/** `Options.text(name)`, its value exactly as given on the command line (see `protect`). */
export const text = (name: Name): Options.Options<string> => Options.text(name).pipe(Options.map(unwrap))

/** `Options.text(name)` repeated (at least `min` times when given), every value exactly as given. */
export const repeated = (name: Name, min?: number): Options.Options<Array<string>> =>
  Options.text(name).pipe(
    min === undefined ? Options.repeated : Options.atLeast(min),
    Options.map((values) => values.map(unwrap))
  )
