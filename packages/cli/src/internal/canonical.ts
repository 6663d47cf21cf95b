/** The handler of `CanonicalCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as SigningString from "@witkey/core/SigningString"
import type * as Charset from "@witkey/core/Charset"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as CliError from "../CliError.js"
import * as Output from "../Output.js"
import type * as CanonicalCommand from "../CanonicalCommand.js"

/** The canonical string's bytes; a parameter the charset cannot represent is bad usage, naming it. */
export const encode = (
  params: ReadonlyArray<readonly [string, string]>,
  charset: Charset.Charset
): Effect.Effect<Uint8Array, CliError.CliError> =>
  Either.match(SigningString.encode(params, charset), {
    onLeft: (e) => CliError.usage(`--param ${e.message}; nothing was signed`),
    onRight: Effect.succeed
  })

export const run = ({
  charset,
  json,
  params
}: Command.Command.ParseConfig<typeof CanonicalCommand.options>) =>
  Effect.gen(function* () {
    const canonical = SigningString.make(params)
    const bytes = yield* encode(params, charset)
    const hex = Buffer.from(bytes).toString("hex")
    const described = SigningString.describe(bytes, charset)
    yield* Output.result(json, { canonical, bytes_hex: hex }, () => [
      canonical,
      ...Output.table([
        ["charset", charset],
        ["bytes", String(bytes.length)],
        ["sha256 prefix", described.canonicalSha256Prefix],
        ["hex", hex]
      ]).map((row) => `# ${row}`)
    ])
  })
