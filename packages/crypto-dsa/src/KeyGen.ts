/**
 * A new platform key pair of the size Alipay's DSA interface uses: 1024-bit p, 160-bit q.
 *
 * @since 0.1.0
 */
import { generateKeyPair } from "node:crypto"
import { Effect, Redacted, Schema } from "effect"
import { errorCode } from "./internal/Dsa.js"

export class KeyGenError extends Schema.TaggedError<KeyGenError>()("KeyGenError", {
  message: Schema.String
}) {}

export interface GeneratedKeyPair {
  /** PKCS#8 PEM (`BEGIN PRIVATE KEY`): the platform's `WITKEY_PRIVATE_KEY`. */
  readonly privateKeyPem: Redacted.Redacted<string>
  /** SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`). */
  readonly publicKeyPem: string
  /** The public key's Base64 body on one line: what is uploaded to Alipay. */
  readonly publicKeyOneLine: string
}

export const MODULUS_BITS = 1024
export const DIVISOR_BITS = 160

/** Generates a DSA 1024/160 key pair (on libuv's thread pool: parameter generation takes a moment). */
export const generate = (): Effect.Effect<GeneratedKeyPair, KeyGenError> =>
  Effect.async<GeneratedKeyPair, KeyGenError>((resume) => {
    generateKeyPair(
      "dsa",
      { modulusLength: MODULUS_BITS, divisorLength: DIVISOR_BITS },
      (error, publicKey, privateKey) => {
        if (error !== null) {
          resume(Effect.fail(new KeyGenError({ message: `DSA key generation failed (${errorCode(error)})` })))
          return
        }
        try {
          resume(
            Effect.succeed({
              privateKeyPem: Redacted.make(privateKey.export({ format: "pem", type: "pkcs8" }).toString()),
              publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
              publicKeyOneLine: publicKey.export({ format: "der", type: "spki" }).toString("base64")
            })
          )
        } catch (exportError) {
          resume(
            Effect.fail(
              new KeyGenError({ message: `exporting the new DSA key failed (${errorCode(exportError)})` })
            )
          )
        }
      }
    )
  })
