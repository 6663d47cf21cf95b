/**
 * The service that signs canonical-string bytes with the platform's private key (PROTOCOL.md §3).
 * Implementations live in adapter packages (`@witkey/crypto-dsa`); core only depends on this tag.
 *
 * @since 0.1.0
 */
import { Context, Effect, Schema } from "effect"

/** Signing failed inside the implementation (for example a key the crypto provider refuses at use time). */
export class SignError extends Schema.TaggedError<SignError>()("SignError", {
  message: Schema.String
}) {}

export interface Signer {
  /** The algorithm this signer produces; core refuses to send anything else. */
  readonly signType: "DSA"
  /** Signs `message` (the canonical string's bytes) and returns the signature in Base64 with padding. */
  readonly sign: (message: Uint8Array) => Effect.Effect<string, SignError>
}

export const Signer: Context.Tag<Signer, Signer> = Context.GenericTag<Signer>("@witkey/core/Signer")

/** Builds a Signer from a function; for adapters and tests. */
export const make = (sign: Signer["sign"]): Signer => ({ signType: "DSA", sign })

/**
 * The synchronous function of each `sign` built by `makeSync`, keyed by that exact function: not a property on
 * it, which a wrapper copying statics (`Object.assign(wrapper, sign)`) or a `Proxy` would pass on, and then the
 * wrapper's own logging or limits would be skipped. (A second copy of this module, as in a dual ESM/CommonJS
 * load, finds nothing and takes the Effect path: slower, never wrong.)
 */
const syncFunctions = new WeakMap<Signer["sign"], SignSync>()

/** A signature computed synchronously: the Base64 text, or the SignError. Never throws. */
export type SignSync = (message: Uint8Array) => string | SignError

/**
 * Builds a Signer whose signature is computed synchronously (a call into the crypto provider, no I/O). Its
 * `sign` is the Effect of that call, as for any Signer; the client's request path, with no tracer installed,
 * calls the function directly instead: beside a signature of about 90 µs the Effect's steps showed
 * (BENCHMARKS.md row 1). Only that exact `sign` function is known to have one, so a Signer that replaces or
 * wraps `sign` (`{ ...signer, sign }`, `make((m) => signer.sign(m))`, a `Proxy`, a wrapper with the original's
 * properties copied on) is always called through its own `sign`.
 */
export const makeSync = (signSync: SignSync): Signer => {
  const sign: Signer["sign"] = (message) =>
    Effect.suspend(() => {
      const signature = signSync(message)
      return typeof signature === "string" ? Effect.succeed(signature) : Effect.fail(signature)
    })
  syncFunctions.set(sign, signSync)
  return { signType: "DSA", sign }
}

/** The synchronous function of a Signer built by `makeSync` (and whose `sign` is still its own), if any. */
export const syncOf = (signer: Signer): SignSync | undefined => {
  // Untyped callers may hand over anything: no function, no synchronous path (and no throw here).
  const sign: unknown = signer?.sign
  return typeof sign === "function" ? syncFunctions.get(sign as Signer["sign"]) : undefined
}
