/** The handler of `KeygenCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as DsaKey from "@witkey/crypto-dsa/DsaKey"
import * as KeyGen from "@witkey/crypto-dsa/KeyGen"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as CliError from "../CliError.js"
import * as CommonOptions from "../CommonOptions.js"
import * as Output from "../Output.js"
import * as KeygenCommand from "../KeygenCommand.js"

export const run = ({ force, json, out }: Command.Command.ParseConfig<typeof KeygenCommand.options>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const files = {
      privateKey: path.join(out, KeygenCommand.PRIVATE_KEY_FILE),
      publicKey: path.join(out, KeygenCommand.PUBLIC_KEY_FILE),
      publicKeyText: path.join(out, KeygenCommand.PUBLIC_KEY_TEXT_FILE)
    }
    const ioError = (e: PlatformError.PlatformError) =>
      CliError.usage(`--out ${out}: ${CommonOptions.ioReason(e)}`)
    yield* fs.makeDirectory(out, { recursive: true }).pipe(Effect.mapError(ioError))
    if (!force)
      for (const file of Object.values(files))
        if (yield* fs.exists(file).pipe(Effect.mapError(ioError)))
          return yield* CliError.usage(`${file} exists; refusing to overwrite a key (use --force)`)
    const pair = yield* KeyGen.generate().pipe(Effect.mapError((e) => CliError.failure(e.message)))
    // The private key is written first, readable by its owner only, and exclusively unless --force.
    yield* fs
      .writeFileString(files.privateKey, Redacted.value(pair.privateKeyPem), {
        mode: 0o600,
        flag: force ? "w" : "wx"
      })
      .pipe(Effect.mapError(ioError))
    yield* fs.writeFileString(files.publicKey, pair.publicKeyPem).pipe(Effect.mapError(ioError))
    yield* fs
      .writeFileString(files.publicKeyText, `${pair.publicKeyOneLine}\n`)
      .pipe(Effect.mapError(ioError))
    const description = yield* DsaKey.inspect(pair.publicKeyPem).pipe(
      Effect.mapError((e) => CliError.failure(e.message))
    )
    yield* Output.result(
      json,
      {
        private_key: files.privateKey,
        public_key: files.publicKey,
        public_key_txt: files.publicKeyText,
        fingerprint: description.fingerprint
      },
      () => [
        ...Output.table([
          ["private key", `${files.privateKey}  (PKCS#8 PEM, mode 600: keep it secret)`],
          ["public key", `${files.publicKey}  (SubjectPublicKeyInfo PEM)`],
          ["to upload", `${files.publicKeyText}  (one-line Base64: upload this to Alipay)`],
          ["fingerprint", description.fingerprint]
        ])
      ]
    )
  })
