/**
 * The key files the commands are given, turned into core's Signer and Verifier. A key that cannot be used is
 * bad usage (exit 2), reported with the file's path and what is wrong, never with the key's content.
 *
 * @since 0.1.0
 */
import type * as Signer from "@witkey/core/Signer"
import type * as Verifier from "@witkey/core/Verifier"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as CliError from "./CliError.js"

/** What `Options.fileContent` yields: the path and the bytes. */
export type KeyFile = readonly [path: string, content: Uint8Array]

export const signer = ([path, content]: KeyFile): Effect.Effect<Signer.Signer, CliError.CliError> =>
  DsaSigner.make({ privateKey: Redacted.make(content) }).pipe(
    Effect.mapError((e) => CliError.usage(`--private-key ${path}: ${e.message} [${e.reason}]`))
  )

export const verifier = ([path, content]: KeyFile): Effect.Effect<Verifier.Verifier, CliError.CliError> =>
  DsaVerifier.make({ publicKey: Redacted.make(content) }).pipe(
    Effect.mapError((e) => CliError.usage(`--alipay-public-key ${path}: ${e.message} [${e.reason}]`))
  )
