/**
 * The `Signer` of `@witkey/core` on node:crypto: SHA-1 with DSA with the platform's private key, DER
 * signature in padded Base64 (PROTOCOL.md §3).
 *
 * The key is decoded and checked once, when the service is built: a key that cannot sign fails there with a
 * `KeyError`, so a running service only fails to sign if the crypto provider itself fails.
 *
 * @since 0.1.0
 */
import type { KeyObject } from "node:crypto"
import { createPublicKey } from "node:crypto"
import * as Signer from "@witkey/core/Signer"
import type { ConfigError, Redacted } from "effect"
import { Config, Effect, Layer } from "effect"
import * as DsaKey from "./DsaKey.js"
import * as ConfigKey from "./internal/ConfigKey.js"
import * as Dsa from "./internal/Dsa.js"
import { KeyError } from "./KeyError.js"

export interface Options {
  /** PKCS#8 PEM, its Base64 body (one line or several), or DER / PEM bytes. */
  readonly privateKey: Redacted.Redacted<string | Uint8Array>
}

/** The setting `layerConfig` reads by default. */
export const DEFAULT_CONFIG_NAME = "WITKEY_PRIVATE_KEY"

const SELF_TEST_MESSAGE = new TextEncoder().encode("witkey DSA self-test")

/**
 * One signature made and checked against the key's own public half before the service exists: it catches a
 * provider that refuses SHA-1 or DSA by policy, and a private key whose parts do not fit together.
 */
const selfTest = (key: KeyObject): Effect.Effect<void, KeyError> =>
  Effect.suspend(() => {
    let signature: string
    try {
      signature = Dsa.sign(key, SELF_TEST_MESSAGE)
    } catch (error) {
      return Effect.fail(
        new KeyError({
          reason: "unusable",
          message: `the crypto provider refuses to sign SHA-1 with DSA (${Dsa.errorCode(error)}); check the OpenSSL security policy`
        })
      )
    }
    const result = Dsa.verify(createPublicKey(key), SELF_TEST_MESSAGE, signature)
    if (result._tag === "Checked" && result.valid) return Effect.void
    return Effect.fail(
      new KeyError({
        reason: "unusable",
        message:
          result._tag === "ProviderFailed"
            ? `the crypto provider refuses to verify SHA-1 with DSA (${result.code}); check the OpenSSL security policy`
            : "the private key's signatures do not verify with its own public key (corrupted key?)"
      })
    )
  })

const fromKey = (key: KeyObject): Signer.Signer =>
  // Synchronous (`makeSync`): the client's request path signs without an Effect's steps around the call.
  Signer.makeSync((message) => {
    try {
      return Dsa.sign(key, message)
    } catch (error) {
      return new Signer.SignError({ message: `SHA-1 with DSA signing failed (${Dsa.errorCode(error)})` })
    }
  })

/** A `Signer` for the platform's private key. */
export const make = (options: Options): Effect.Effect<Signer.Signer, KeyError> =>
  Effect.gen(function* () {
    const key = yield* DsaKey.parsePrivateKey(options.privateKey)
    yield* selfTest(key)
    return fromKey(key)
  })

export const layer = (options: Options): Layer.Layer<Signer.Signer, KeyError> =>
  Layer.effect(Signer.Signer, make(options))

/**
 * The private key from configuration (by default `WITKEY_PRIVATE_KEY`): PEM, its Base64 body, or the path of
 * a file holding either (or DER).
 */
export const layerConfig = (
  config: Config.Config<Redacted.Redacted> = Config.redacted(DEFAULT_CONFIG_NAME)
): Layer.Layer<Signer.Signer, KeyError | ConfigError.ConfigError> =>
  Layer.effect(
    Signer.Signer,
    ConfigKey.load(config, "platform private key").pipe(Effect.flatMap((privateKey) => make({ privateKey })))
  )
