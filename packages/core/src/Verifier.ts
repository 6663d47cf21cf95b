/**
 * The service that checks Alipay's signatures with Alipay's public key (PROTOCOL.md §3, §4, §6).
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { Context } from "effect"

export interface Verifier {
  /** The algorithm this verifier checks; a message naming another `sign_type` is refused before it is asked. */
  readonly signType: "DSA"
  /**
   * True only when `signature` (Base64 as found on the wire) is a valid signature of `message` by the
   * configured key. Anything malformed (bad Base64, wrong length or form, empty) is `false`, never a failure.
   */
  readonly verify: (message: Uint8Array, signature: string) => Effect.Effect<boolean>
}

export const Verifier: Context.Tag<Verifier, Verifier> = Context.GenericTag<Verifier>("@witkey/core/Verifier")

/** Builds a Verifier from a function; for adapters and tests. */
export const make = (verify: Verifier["verify"]): Verifier => ({ signType: "DSA", verify })
