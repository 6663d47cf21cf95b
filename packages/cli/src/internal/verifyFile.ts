/**
 * What `verify-notification` and `verify-response` share: the key checked, the file read, the bytes decoded with
 * that key as the Verifier, and a failed verification reported as the command's verdict. @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Verifier from "@witkey/core/Verifier"
import * as Effect from "effect/Effect"
import type * as CliError from "../CliError.js"
import * as InputFile from "../InputFile.js"
import * as Keys from "../Keys.js"
import * as Verdict from "../Verdict.js"

export const decodeFile = <A, R>(
  options: { readonly alipayPublicKey: Keys.KeyFile; readonly file: string; readonly json: boolean },
  decode: (body: Uint8Array) => Effect.Effect<A, Verdict.Failure, R>
): Effect.Effect<A, CliError.CliError, FileSystem.FileSystem | Exclude<R, Verifier.Verifier>> =>
  Effect.gen(function* () {
    const verifier = yield* Keys.verifier(options.alipayPublicKey)
    const body = yield* InputFile.read(options.file)
    const decoded = yield* decode(body).pipe(
      Effect.provideService(Verifier.Verifier, verifier),
      Effect.either
    )
    if (decoded._tag === "Left") return yield* Verdict.fail(options.json, decoded.left)
    return decoded.right
  })
