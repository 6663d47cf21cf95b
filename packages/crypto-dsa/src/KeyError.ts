/**
 * The one error for keys that cannot be used: raised when a key is parsed, which is when a layer or service
 * is built, never when a message is signed.
 *
 * Messages say what was found and what was expected. They never quote the input: a broken key is still
 * (part of) a secret, and Node's own error messages can echo their argument, so only Node's error *codes*
 * are passed on.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

export const Reason = Schema.Literal(
  /** Nothing configured, or an empty value. */
  "missing",
  /** A file path was given but could not be read. */
  "unreadable_file",
  /** Not a key we can decode: broken PEM armour or Base64, truncated DER, a certificate, an unknown block. */
  "malformed",
  /** A passphrase-protected key; decrypt it first. */
  "encrypted",
  /** A readable key of another algorithm (RSA, EC, Ed25519, …). */
  "unsupported_type",
  /** A public key where a private one is needed, or the other way round. */
  "wrong_kind",
  /** A DSA key whose q is not 160 bits, so it does not fit SHA-1 with DSA as the gateway uses it. */
  "q_not_160",
  /** The key decodes but the crypto provider refuses to sign or verify with it (e.g. a SHA-1 ban by policy). */
  "unusable"
)
export type Reason = typeof Reason.Type

export class KeyError extends Schema.TaggedError<KeyError>()("KeyError", {
  reason: Reason,
  message: Schema.String
}) {}
