/** Reading a key setting from Effect `Config` for the `layerConfig` constructors. */
import type { Config, Redacted } from "effect"
import { ConfigError, Effect } from "effect"
import type { KeyInput } from "../DsaKey.js"
import * as DsaKey from "../DsaKey.js"
import { KeyError } from "../KeyError.js"

/**
 * The configured value, resolved to key text or file contents. An unset setting is a `KeyError` with reason
 * `missing` (like an empty one), so callers see one error type for "no usable key"; other config failures stay
 * `ConfigError`.
 */
export const load = (
  config: Config.Config<Redacted.Redacted>,
  what: string
): Effect.Effect<Redacted.Redacted<KeyInput>, KeyError | ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const value = yield* Effect.catchAll(
      config,
      (error): Effect.Effect<never, KeyError | ConfigError.ConfigError> =>
        ConfigError.isMissingDataOnly(error)
          ? Effect.fail(
              new KeyError({
                reason: "missing",
                message: `no ${what} is configured (${String(error)}); give the key as PEM, as its Base64 body, or as the path of a file holding it`
              })
            )
          : Effect.fail(error)
    )
    return yield* loadValue(value, what)
  })

/** A configured value (key text or a file path) resolved to key text or file contents. */
export const loadValue = (
  value: Redacted.Redacted<string>,
  what: string
): Effect.Effect<Redacted.Redacted<KeyInput>, KeyError> =>
  DsaKey.load(value).pipe(
    Effect.mapError((error) =>
      error.reason === "missing"
        ? new KeyError({ reason: "missing", message: `the configured ${what} is empty` })
        : error
    )
  )
