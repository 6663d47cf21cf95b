/** The handler of `KeyInspectCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as FileSystem from "@effect/platform/FileSystem"
import * as DsaKey from "@witkey/crypto-dsa/DsaKey"
import * as Effect from "effect/Effect"
import * as CliError from "../CliError.js"
import * as InputFile from "../InputFile.js"
import * as Output from "../Output.js"
import type * as KeyInspectCommand from "../KeyInspectCommand.js"

const FORMATS: Record<DsaKey.KeyFormat, string> = {
  "pem-pkcs8": "PKCS#8 PEM (BEGIN PRIVATE KEY)",
  "pem-spki": "SubjectPublicKeyInfo PEM (BEGIN PUBLIC KEY)",
  "pem-traditional": "legacy OpenSSL PEM (BEGIN DSA PRIVATE KEY)",
  "base64-pkcs8": "Base64 of PKCS#8 DER (one-line form)",
  "base64-spki": "Base64 of SubjectPublicKeyInfo DER (one-line form, what Alipay takes)",
  "base64-traditional": "Base64 of a legacy DSA private key",
  "der-pkcs8": "PKCS#8 DER (binary)",
  "der-spki": "SubjectPublicKeyInfo DER (binary)",
  "der-traditional": "legacy DSA private key DER (binary)"
}

/** Things that work but deserve a word: a legacy format, a private key others can read. */
const warningsFor = (description: DsaKey.KeyDescription, mode: number | undefined): Array<string> => {
  const warnings: Array<string> = []
  if (description.format.endsWith("traditional"))
    warnings.push(
      "legacy format: convert to PKCS#8 with `openssl pkcs8 -topk8 -nocrypt -in key.pem -out private_key.pem`"
    )
  if (description.kind === "private" && mode !== undefined && (mode & 0o077) !== 0)
    warnings.push(
      `the private key file is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`
    )
  if (description.modulusBits !== 1024)
    warnings.push(`p has ${description.modulusBits} bits; Alipay's DSA keys have 1024`)
  return warnings
}

export const run = ({ file, json }: Command.Command.ParseConfig<typeof KeyInspectCommand.options>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const bytes = yield* InputFile.read(file)
    const info = yield* fs.stat(file).pipe(Effect.option)
    const mode = info._tag === "Some" ? info.value.mode : undefined
    const inspected = yield* Effect.either(DsaKey.inspect(bytes))
    if (inspected._tag === "Left") {
      const e = inspected.left
      if (json)
        yield* Output.json({
          ok: false,
          file,
          bytes: bytes.length,
          error: e._tag,
          reason: e.reason,
          message: e.message
        })
      return yield* CliError.failure(
        `${file} (${bytes.length} bytes) is not a usable key: ${e.message} [${e.reason}]`
      )
    }
    const d = inspected.right
    const oneLine = yield* DsaKey.publicKeyOneLine(bytes).pipe(Effect.option)
    const warnings = warningsFor(d, mode)
    yield* Output.result(
      json,
      {
        ok: true,
        file,
        bytes: bytes.length,
        kind: d.kind,
        type: d.type,
        format: d.format,
        modulus_bits: d.modulusBits,
        divisor_bits: d.divisorBits,
        fingerprint: d.fingerprint,
        ...(oneLine._tag === "Some" ? { public_key_base64: oneLine.value } : {}),
        warnings
      },
      () => [
        ...Output.table([
          ["file", `${file} (${bytes.length} bytes)`],
          ["kind", `DSA ${d.kind} key`],
          ["format", FORMATS[d.format]],
          ["sizes", `p ${d.modulusBits} bits, q ${d.divisorBits} bits`],
          ["fingerprint", `${d.fingerprint} (same for a private key and its public key)`],
          [
            "use as",
            d.kind === "private"
              ? "--private-key of sign, request and confirm (the platform's key)"
              : "--alipay-public-key if it is Alipay's; if it is yours, upload the Base64 below to Alipay"
          ],
          ...(oneLine._tag === "Some" ? [["public key (Base64)", oneLine.value] as const] : [])
        ]),
        ...warnings.map((w) => `warning: ${w}`)
      ]
    )
  })
