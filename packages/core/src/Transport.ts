/**
 * The service that carries a signed GET to the gateway and brings back the raw answer (PROTOCOL.md §2, §6).
 * It never interprets the body: verification happens in core, on the raw bytes.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { Context, Schema } from "effect"

/** The raw answer: whatever status, the body bytes and the Content-Type as received. */
export interface RawResponse {
  readonly status: number
  readonly body: Uint8Array
  readonly contentType: string | undefined
}

/**
 * The request did not produce a complete answer. `mayHaveReached` tells whether the gateway may have acted on
 * it: false only when it provably never left (an invalid URL, a refused connection).
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: Schema.Literal("timeout", "connect", "network", "too_large", "invalid_url"),
  mayHaveReached: Schema.Boolean,
  message: Schema.String
}) {}

export interface Transport {
  /** GETs `url` (a fully signed gateway URL) and returns the raw answer. */
  readonly get: (url: string) => Effect.Effect<RawResponse, TransportError>
}

export const Transport: Context.Tag<Transport, Transport> =
  Context.GenericTag<Transport>("@witkey/core/Transport")

export const make = (get: Transport["get"]): Transport => ({ get })
