/**
 * The service that signs canonical-string bytes with the platform's private key (PROTOCOL.md §3).
 * Implementations live in adapter packages (`@witkey/crypto-dsa`); core only depends on this tag.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { Context, Schema } from "effect"

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
