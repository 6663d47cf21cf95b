/**
 * The service that checks Alipay's signatures with Alipay's public keys (PROTOCOL.md §3, §4, §6).
 *
 * A verifier holds a trust list: one or more keys, each with an id and a status. `active` keys are what Alipay
 * signs with now; a `retired` key is one that was replaced but is kept for Alipay's retry window (24 h 22 min,
 * PROTOCOL.md §6), so notifications already in flight still verify. A retired key that still matches is
 * reported (a log warning, and `Match.status`), so an operator sees when it is safe to drop it.
 *
 * @since 0.1.0
 */
import { Context, Effect, Option } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"

export type KeyStatus = "active" | "retired"

/** Which key of the trust list verified a message. */
export interface Match {
  readonly keyId: string
  readonly status: KeyStatus
}

export interface Verifier {
  /** The algorithm this verifier checks; a message naming another `sign_type` is refused before it is asked. */
  readonly signType: "DSA"
  /**
   * True only when `signature` (Base64 as found on the wire) is a valid signature of `message` by a key on
   * the trust list. Anything malformed (bad Base64, wrong length or form, empty) is `false`, never a failure.
   */
  readonly verify: (message: Uint8Array, signature: string) => Effect.Effect<boolean>
  /**
   * `verify`, saying which key matched. Keys are tried active first, each group in list order, and the first
   * match wins; so a genuine message costs one check, and a forged one costs one per key.
   */
  readonly match: (message: Uint8Array, signature: string) => Effect.Effect<Option.Option<Match>>
}

export const Verifier: Context.Tag<Verifier, Verifier> = Context.GenericTag<Verifier>("@witkey/core/Verifier")

/** The key id of a verifier built from one unnamed check. */
export const DEFAULT_KEY_ID = "default"

/** Builds a single-key Verifier from a function; for adapters and tests. */
export const make = (verify: Verifier["verify"], keyId: string = DEFAULT_KEY_ID): Verifier => {
  const found = Option.some<Match>({ keyId, status: "active" })
  const none = Option.none<Match>()
  return {
    signType: "DSA",
    verify,
    match: (message, signature) => Effect.map(verify(message, signature), (ok) => (ok ? found : none))
  }
}

/** One key of a trust list, as `fromKeys` takes it. */
export interface TrustedKey {
  readonly id: string
  readonly status: KeyStatus
  /** The key's own check: `true` only for a valid signature by this key; total, like `Verifier.verify`. */
  readonly check: (message: Uint8Array, signature: string) => Effect.Effect<boolean>
}

/** Active keys first, each group in the order given: the order `match` tries them in. */
export const order = <K extends { readonly status: KeyStatus }>(keys: ReadonlyArray<K>): ReadonlyArray<K> => [
  ...keys.filter((k) => k.status === "active"),
  ...keys.filter((k) => k.status === "retired")
]

/**
 * A Verifier over a trust list. Ids should be unique (adapters check that when they parse their keys). With
 * one active key, `verify` is that key's check itself: the hot path pays nothing for the list.
 */
export const fromKeys = (keys: NonEmptyReadonlyArray<TrustedKey>): Verifier => {
  const ordered = order(keys)
  const none: Effect.Effect<Option.Option<Match>> = Effect.succeed(Option.none())
  // Built once per key: a match allocates nothing.
  const found = ordered.map((key): Effect.Effect<Option.Option<Match>> => {
    const result = Effect.succeed(Option.some<Match>({ keyId: key.id, status: key.status }))
    return key.status === "active"
      ? result
      : Effect.zipRight(
          Effect.logWarning(
            `a message was verified with the retired Alipay public key "${key.id}": Alipay may still sign with it; keep it on the trust list until no message has matched it for 24 h 22 min`
          ).pipe(Effect.annotateLogs({ "witkey.key_id": key.id })),
          result
        )
  })
  const from = (i: number, message: Uint8Array, signature: string): Effect.Effect<Option.Option<Match>> =>
    i === ordered.length
      ? none
      : Effect.flatMap(ordered[i]!.check(message, signature), (ok) =>
          ok ? found[i]! : from(i + 1, message, signature)
        )
  const match: Verifier["match"] = (message, signature) => from(0, message, signature)
  const only = keys.length === 1 && keys[0].status === "active" ? keys[0] : undefined
  return {
    signType: "DSA",
    verify: only ? only.check : (message, signature) => Effect.map(match(message, signature), Option.isSome),
    match
  }
}
