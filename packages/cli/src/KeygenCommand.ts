/**
 * `witkey keygen`: a new platform key pair (DSA 1024/160) written as `private_key.pem` (PKCS#8),
 * `public_key.pem` (SubjectPublicKeyInfo) and `public_key.txt` (the one-line Base64 to upload to Alipay).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as CommonOptions from "./CommonOptions.js"

export const PRIVATE_KEY_FILE = "private_key.pem"
export const PUBLIC_KEY_FILE = "public_key.pem"
export const PUBLIC_KEY_TEXT_FILE = "public_key.txt"

export const options = {
  out: Options.text("out").pipe(
    Options.withDescription("The directory to write the key files to (created if missing).")
  ),
  force: Options.boolean("force").pipe(Options.withDescription("Overwrite existing key files.")),
  json: CommonOptions.json
} as const

export const command = Command.make(
  "keygen",
  options,
  // The handler and what it needs load when the command runs, not for --help or the other commands.
  (config) =>
    Effect.flatMap(
      Effect.promise(() => import("./internal/keygen.js")),
      (handler) => handler.run(config)
    )
).pipe(Command.withDescription("Generate a platform DSA key pair (1024-bit p, 160-bit q)."))
