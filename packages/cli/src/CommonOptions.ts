/**
 * Options several subcommands share, with their validation: a bad charset or `--param` is a usage error
 * (exit 2) reported by @effect/cli itself.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as PlatformError from "@effect/platform/Error"
import * as Charset from "@witkey/core/Charset"
import * as Effect from "effect/Effect"
import * as CliError from "./CliError.js"
import * as RawArgs from "./RawArgs.js"

const invalid = (text: string) => ValidationError.invalidValue(HelpDoc.p(text))

const parseCharset = (name: string) => {
  const charset = Charset.parse(name)
  return charset === undefined
    ? Effect.fail(
        invalid(`--charset: "${name}" is not one of ${Charset.values.join(", ")} (any letter case)`)
      )
    : Effect.succeed(charset)
}

export const json = Options.boolean("json").pipe(
  Options.withDescription("Print the result as one JSON object on the last line of stdout.")
)

/** `--port` of a server: 0 to 65535 (0: any free port), else a usage error. */
export const port = Options.integer("port").pipe(
  Options.withDescription("The port to listen on (0: any free port)."),
  Options.mapEffect((port) =>
    port < 0 || port > 65535 ? Effect.fail(invalid("--port must be 0 to 65535")) : Effect.succeed(port)
  )
)

/** `--host` of a server. */
export const host = Options.text("host").pipe(
  Options.withDescription("The address to listen on (default 127.0.0.1)."),
  Options.withDefault("127.0.0.1")
)

/** `--charset`, required. */
export const charset = Options.text("charset").pipe(
  Options.withDescription(`The _input_charset: ${Charset.values.join(", ")} (any letter case).`),
  Options.mapEffect(parseCharset)
)

/** `--charset` with a default. */
export const charsetWithDefault = (fallback: Charset.Charset, description: string) =>
  Options.text("charset").pipe(
    Options.withDescription(description),
    Options.withDefault(fallback),
    Options.mapEffect(parseCharset)
  )

/** `--charset`, optional. */
export const charsetOptional = (description: string) =>
  Options.text("charset").pipe(
    Options.withDescription(description),
    Options.mapEffect(parseCharset),
    Options.optional
  )

/** Splits `NAME=VALUE` at the first `=`; the value is kept raw (it may contain `=`, spaces, anything). */
export const parseParam = (text: string): readonly [string, string] | undefined => {
  const at = text.indexOf("=")
  return at <= 0 ? undefined : [text.slice(0, at), text.slice(at + 1)]
}

/** `--param NAME=VALUE`, repeatable, in the order given. */
export const params = RawArgs.repeated("param").pipe(
  Options.withDescription(
    "A parameter as NAME=VALUE (split at the first '='; the value is taken raw, spaces included). Repeat for each parameter."
  ),
  Options.mapEffect((texts) => {
    const pairs: Array<readonly [string, string]> = []
    for (const text of texts) {
      const pair = parseParam(text)
      if (pair === undefined) return Effect.fail(invalid(`--param: "${text}" is not NAME=VALUE`))
      pairs.push(pair)
    }
    return Effect.succeed(pairs)
  })
)

/** Why a file could not be read, briefly: "no such file", or the system's own message. */
export const ioReason = (e: PlatformError.PlatformError): string =>
  e._tag === "SystemError" && e.reason === "NotFound" ? "no such file" : e.message

/**
 * A key file option: its path and bytes. Read here (not with `Options.fileContent`) so that a file that is
 * missing or unreadable is reported with the flag it came from.
 */
const keyFile = (flag: string, description: string) =>
  Options.text(flag).pipe(
    Options.withDescription(description),
    Options.mapEffect((path) =>
      Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFile(path)).pipe(
        Effect.map((content) => [path, content] as const),
        Effect.mapError((e) => invalid(`--${flag} ${path}: ${ioReason(e)}`))
      )
    )
  )

/** `--private-key FILE`: the platform's private key, PKCS#8 PEM or its Base64 body on one line. */
export const privateKey = keyFile(
  "private-key",
  "The platform's DSA private key: PKCS#8 PEM, or its Base64 body on one line."
)

/** `--alipay-public-key FILE`: Alipay's (or the sandbox's) public key. */
export const alipayPublicKey = keyFile(
  "alipay-public-key",
  "Alipay's DSA public key (BEGIN PUBLIC KEY PEM, or its Base64 body on one line)."
)

/** The positional FILE of the verify commands; `-` reads stdin. */
export const inputFile = (description: string) =>
  Args.text({ name: "FILE" }).pipe(Args.withDescription(`${description} Use - for stdin.`))

/** `--partner ID`. */
export const partner = RawArgs.text("partner").pipe(
  Options.withDescription("The Alipay partner id (PID), 16 digits starting with 2088.")
)

/** `--gateway URL`. */
export const gateway = RawArgs.text("gateway").pipe(Options.withDescription("The gateway URL."))

/**
 * `--gateway`'s value checked before anything is signed: an absolute http(s) URL with a usable port. A URL
 * that cannot be sent to is bad usage (exit 2), not an unknown outcome.
 */
export const checkGateway = (url: string): Effect.Effect<void, CliError.CliError> => {
  const refused = (why: string) => CliError.usage(`--gateway ${JSON.stringify(url)}: ${why}`)
  if (!URL.canParse(url)) return refused("not an absolute URL (or its port is not 1 to 65535)")
  const parsed = new URL(url)
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    return refused("must be an http or https URL")
  if (parsed.port === "0") return refused("port 0 cannot be sent to")
  return Effect.void
}
