/**
 * A signature from Alipay that is missing, of another type, or does not match (PROTOCOL.md §4, §6).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * `checked` describes what was verified so a person can compare with their own computation: the charset,
 * the canonical string's length in bytes and the first 16 hex digits of its SHA-256. Never key material.
 */
export class SignatureError extends Schema.TaggedError<SignatureError>()("SignatureError", {
  reason: Schema.Literal("missing", "mismatch", "sign_type"),
  source: Schema.Literal("response", "notification"),
  message: Schema.String,
  checked: Schema.optional(
    Schema.Struct({
      charset: Schema.String,
      canonicalBytes: Schema.Number,
      canonicalSha256Prefix: Schema.String
    })
  )
}) {}
