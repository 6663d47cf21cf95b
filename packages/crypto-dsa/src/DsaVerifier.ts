/**
 * The `Verifier` of `@witkey/core` on node:crypto: SHA-1 with DSA with Alipay's public key (PROTOCOL.md §3,
 * §4, §6).
 *
 * `verify` answers `true` only for the canonical padded Base64 of a canonical DER `SEQUENCE { r, s }` that
 * verifies. Everything else is `false`, never a failure: empty text, whitespace anywhere (including a trailing
 * newline), missing padding, the URL-safe alphabet, IEEE-P1363 `r || s`, trailing bytes, non-minimal DER.
 * Whitespace is not forgiven because the value reaches us already decoded (the XML and form decoders trim or
 * decode it), and no producer of 48-byte signatures wraps lines.
 *
 * @since 0.1.0
 */
import type { KeyObject } from "node:crypto"
import * as Verifier from "@witkey/core/Verifier"
import type { ConfigError, Redacted } from "effect"
import { Config, Effect, Layer } from "effect"
import * as DsaKey from "./DsaKey.js"
import * as ConfigKey from "./internal/ConfigKey.js"
import * as Dsa from "./internal/Dsa.js"
import { KeyError } from "./KeyError.js"

export interface Options {
  /** SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), its Base64 body (one line or several), or DER / PEM bytes. */
  readonly publicKey: Redacted.Redacted<string | Uint8Array>
}

/** The setting `layerConfig` reads by default. */
export const DEFAULT_CONFIG_NAME = "WITKEY_ALIPAY_PUBLIC_KEY"

/** A well-formed signature (r = s = 1) that is valid for no message: it exercises the provider, not the key. */
const PROBE_SIGNATURE = "MAYCAQECAQE="

/**
 * Checks at build time that the provider will verify SHA-1 with DSA at all. Without this, a provider that
 * refuses SHA-1 by policy would make every genuine Alipay message look forged.
 */
const probe = (key: KeyObject): Effect.Effect<void, KeyError> =>
  Effect.suspend(() => {
    const result = Dsa.verify(key, new Uint8Array(0), PROBE_SIGNATURE)
    return result._tag === "Checked"
      ? Effect.void
      : Effect.fail(
          new KeyError({
            reason: "unusable",
            message: `the crypto provider refuses to verify SHA-1 with DSA (${result.code}); check the OpenSSL security policy`
          })
        )
  })

const fromKey = (key: KeyObject): Verifier.Verifier =>
  Verifier.make((message, signature) =>
    Effect.suspend(() => {
      const result = Dsa.verify(key, message, signature)
      if (result._tag === "Checked") return Effect.succeed(result.valid)
      // Still `false` (the contract has no error channel), but said out loud: this is not a forgery.
      return Effect.as(
        Effect.logWarning(`SHA-1 with DSA verification failed inside the crypto provider (${result.code})`),
        false
      )
    })
  )

/** A `Verifier` for Alipay's public key. */
export const make = (options: Options): Effect.Effect<Verifier.Verifier, KeyError> =>
  Effect.gen(function* () {
    const key = yield* DsaKey.parsePublicKey(options.publicKey)
    yield* probe(key)
    return fromKey(key)
  })

export const layer = (options: Options): Layer.Layer<Verifier.Verifier, KeyError> =>
  Layer.effect(Verifier.Verifier, make(options))

/**
 * Alipay's public key from configuration (by default `WITKEY_ALIPAY_PUBLIC_KEY`): PEM, its Base64 body, or the
 * path of a file holding either (or DER).
 */
export const layerConfig = (
  config: Config.Config<Redacted.Redacted> = Config.redacted(DEFAULT_CONFIG_NAME)
): Layer.Layer<Verifier.Verifier, KeyError | ConfigError.ConfigError> =>
  Layer.effect(
    Verifier.Verifier,
    ConfigKey.load(config, "Alipay public key").pipe(Effect.flatMap((publicKey) => make({ publicKey })))
  )
