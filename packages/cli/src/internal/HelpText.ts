/**
 * The help and version texts bin.ts prints without loading effect or @effect/cli: @effect/cli's own rendering
 * of every command's help, made ahead of time (HelpTextData.ts, generated and checked by test/Startup.test.ts).
 *
 * @internal
 */
import * as HelpTextData from "./HelpTextData.js"

const COMMAND_WORD = /^[a-z][a-z-]*$/

/**
 * What @effect/cli prints (ANSI-styled, before the final newline) for `--version`, or for command words followed
 * by `--help` or `-h` alone; undefined for anything else, which @effect/cli then runs itself.
 */
export const lookup = (args: ReadonlyArray<string>): string | undefined => {
  if (args.length === 1 && args[0] === "--version") return HelpTextData.version
  const last = args[args.length - 1]
  if (last !== "--help" && last !== "-h") return undefined
  const words = args.slice(0, -1)
  if (!words.every((word) => COMMAND_WORD.test(word))) return undefined
  const key = words.join(" ")
  return Object.hasOwn(HelpTextData.help, key) ? HelpTextData.help[key] : undefined
}
