/**
 * The `Verifier` of `@witkey/core` on node:crypto: SHA-1 with DSA with Alipay's public keys (PROTOCOL.md §3,
 * §4, §6).
 *
 * `verify` answers `true` only for the canonical padded Base64 of a canonical DER `SEQUENCE { r, s }` that
 * verifies. Everything else is `false`, never a failure: empty text, whitespace anywhere (including a trailing
 * newline), missing padding, the URL-safe alphabet, IEEE-P1363 `r || s`, trailing bytes, non-minimal DER.
 * Whitespace is not forgiven because the value reaches us already decoded (the XML and form decoders trim or
 * decode it), and no producer of 48-byte signatures wraps lines.
 *
 * Several keys make a trust list (see core's `Verifier`): active keys are tried first, in the order given,
 * then retired ones. A genuine message costs one verification; a forged one costs one per key.
 *
 * @since 0.1.0
 */
import type { KeyObject } from "node:crypto"
import * as Verifier from "@witkey/core/Verifier"
import type { ConfigError } from "effect"
import { Array as Arr, Config, Effect, Layer, Option, Redacted } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as DsaKey from "./DsaKey.js"
import * as ConfigKey from "./internal/ConfigKey.js"
import * as Dsa from "./internal/Dsa.js"
import { KeyError } from "./KeyError.js"

/** One key: SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), its Base64 body (one line or several), or DER / PEM bytes. */
export interface SingleKey {
  readonly publicKey: Redacted.Redacted<string | Uint8Array>
}

/** One key of a trust list. */
export interface TrustedKey {
  readonly publicKey: Redacted.Redacted<string | Uint8Array>
  /** What `Match.keyId` reports (and an inbox records); default the key's fingerprint (`SHA256:…`). */
  readonly id?: string | undefined
  /** Default `active`. */
  readonly status?: Verifier.KeyStatus | undefined
}

/** Several keys: ids unique, at least one active. */
export interface TrustList {
  readonly keys: NonEmptyReadonlyArray<TrustedKey>
}

export type Options = SingleKey | TrustList

/** The setting `layerConfig` reads by default for one key. */
export const DEFAULT_CONFIG_NAME = "WITKEY_ALIPAY_PUBLIC_KEY"

/**
 * The setting `layerConfig` reads by default for a trust list: comma-separated entries, each either a key (or
 * a file path) alone, active and named by its fingerprint, or `<id>:<active|retired>:<key or file path>`.
 */
export const DEFAULT_LIST_CONFIG_NAME = "WITKEY_ALIPAY_PUBLIC_KEYS"

/** A well-formed signature (r = s = 1) that is valid for no message: it exercises the provider, not the key. */
const PROBE_SIGNATURE = "MAYCAQECAQE="

/** Ids are recorded and logged: printable, no spaces, bounded. */
const KEY_ID = /^[\x21-\x7e]{1,100}$/

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

const checkOf =
  (key: KeyObject): Verifier.TrustedKey["check"] =>
  (message, signature) =>
    Effect.suspend(() => {
      const result = Dsa.verify(key, message, signature)
      if (result._tag === "Checked") return Effect.succeed(result.valid)
      // Still `false` (the contract has no error channel), but said out loud: this is not a forgery.
      return Effect.as(
        Effect.logWarning(`SHA-1 with DSA verification failed inside the crypto provider (${result.code})`),
        false
      )
    })

const listError = (reason: KeyError["reason"], message: string) =>
  new KeyError({ reason, message: `Alipay public key trust list: ${message}` })

/** A `Verifier` for Alipay's public key, or a trust list of them. */
export const make = (options: Options): Effect.Effect<Verifier.Verifier, KeyError> =>
  Effect.gen(function* () {
    if (!("keys" in options)) {
      const key = yield* DsaKey.parsePublicKey(options.publicKey)
      yield* probe(key)
      return Verifier.fromKeys([{ id: DsaKey.fingerprint(key), status: "active", check: checkOf(key) }])
    }
    const entries: ReadonlyArray<TrustedKey> = options.keys
    if (entries.length === 0) return yield* listError("missing", "no key is listed")
    const keys: Array<Verifier.TrustedKey> = []
    for (const [index, entry] of entries.entries()) {
      const label = entry.id === undefined ? `key #${index + 1}` : `key "${entry.id}"`
      const key = yield* DsaKey.parsePublicKey(entry.publicKey).pipe(
        Effect.mapError((e) => listError(e.reason, `${label}: ${e.message}`))
      )
      const id = entry.id ?? DsaKey.fingerprint(key)
      if (!KEY_ID.test(id))
        return yield* listError(
          "malformed",
          `${label}: an id is 1 to 100 printable characters without spaces`
        )
      if (keys.some((k) => k.id === id)) return yield* listError("malformed", `the id "${id}" is used twice`)
      const status = entry.status ?? "active"
      if (status !== "active" && status !== "retired")
        return yield* listError("malformed", `${label}: the status must be "active" or "retired"`)
      keys.push({ id, status, check: checkOf(key) })
      if (index === 0) yield* probe(key)
    }
    if (!Arr.isNonEmptyArray(keys) || !keys.some((k) => k.status === "active"))
      return yield* listError(
        "missing",
        "no key is active; list the key Alipay signs with now as active, and keep the old one as retired"
      )
    return Verifier.fromKeys(keys)
  })

export const layer = (options: Options): Layer.Layer<Verifier.Verifier, KeyError> =>
  Layer.effect(Verifier.Verifier, make(options))

const ENTRY = /^([^\s:]+):(active|retired):([\s\S]+)$/

/**
 * One entry of `WITKEY_ALIPAY_PUBLIC_KEYS`: `<id>:<active|retired>:<key or path>`, or a key or path alone
 * (active, named by its fingerprint). The value is resolved like the single setting (PEM, Base64, or a path).
 */
export const parseConfigEntry = (entry: Redacted.Redacted<string>): Effect.Effect<TrustedKey, KeyError> =>
  Effect.gen(function* () {
    const text = Redacted.value(entry).trim()
    const labelled = ENTRY.exec(text)
    const what = labelled ? `Alipay public key "${labelled[1]}"` : "Alipay public key"
    const publicKey = yield* ConfigKey.loadValue(Redacted.make(labelled ? labelled[3]! : text), what)
    return labelled
      ? { publicKey, id: labelled[1]!, status: labelled[2] as Verifier.KeyStatus }
      : { publicKey }
  })

/**
 * The trust list from configuration. With no argument: `WITKEY_ALIPAY_PUBLIC_KEYS` (see
 * `DEFAULT_LIST_CONFIG_NAME`) when it is set, else the one key of `WITKEY_ALIPAY_PUBLIC_KEY` (PEM, its Base64
 * body, or the path of a file holding either, or DER), as before. Setting both is refused: one of them would
 * be silently ignored. With a `config`, that one key.
 */
export const layerConfig = (
  config?: Config.Config<Redacted.Redacted>
): Layer.Layer<Verifier.Verifier, KeyError | ConfigError.ConfigError> =>
  Layer.effect(
    Verifier.Verifier,
    config === undefined
      ? fromDefaultConfig
      : ConfigKey.load(config, "Alipay public key").pipe(Effect.flatMap((publicKey) => make({ publicKey })))
  )

const fromDefaultConfig: Effect.Effect<Verifier.Verifier, KeyError | ConfigError.ConfigError> = Effect.gen(
  function* () {
    const list = yield* Config.option(Config.array(Config.redacted(), DEFAULT_LIST_CONFIG_NAME))
    if (Option.isNone(list))
      return yield* ConfigKey.load(Config.redacted(DEFAULT_CONFIG_NAME), "Alipay public key").pipe(
        Effect.flatMap((publicKey) => make({ publicKey }))
      )
    const single = yield* Config.option(Config.string(DEFAULT_CONFIG_NAME))
    if (Option.isSome(single))
      return yield* listError(
        "malformed",
        `both ${DEFAULT_LIST_CONFIG_NAME} and ${DEFAULT_CONFIG_NAME} are set; put every key in ${DEFAULT_LIST_CONFIG_NAME}`
      )
    const keys = yield* Effect.forEach(
      list.value.filter((e) => Redacted.value(e).trim().length > 0),
      parseConfigEntry
    )
    if (!Arr.isNonEmptyArray(keys)) return yield* listError("missing", `${DEFAULT_LIST_CONFIG_NAME} is empty`)
    return yield* make({ keys })
  }
)
