/**
 * `witkey canonical`: the canonical string of a set of parameters (PROTOCOL.md §3) and its bytes, to compare
 * with what another implementation signs.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as SigningString from "@witkey/core/SigningString"
import * as CommonOptions from "./CommonOptions.js"
import * as Output from "./Output.js"

export const command = Command.make(
  "canonical",
  { charset: CommonOptions.charset, params: CommonOptions.params, json: CommonOptions.json },
  ({ charset, json, params }) => {
    const canonical = SigningString.make(params)
    const bytes = SigningString.bytes(params, charset)
    const hex = Buffer.from(bytes).toString("hex")
    const described = SigningString.describe(bytes, charset)
    return Output.result(json, { canonical, bytes_hex: hex }, () => [
      canonical,
      ...Output.table([
        ["charset", charset],
        ["bytes", String(bytes.length)],
        ["sha256 prefix", described.canonicalSha256Prefix],
        ["hex", hex]
      ]).map((row) => `# ${row}`)
    ])
  }
).pipe(
  Command.withDescription(
    "Print the canonical string of the given parameters: sign and sign_type and empty values dropped, sorted by name in byte order, joined raw with '&'."
  )
)
