/** The shared test vectors and keys (fixtures/vectors), read relative to this file. */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Redacted, Schema } from "effect"

const vectorsDir = new URL("../../../fixtures/vectors/", import.meta.url)

export const vectorKeyPath = (name: string): string => fileURLToPath(new URL(`keys/${name}`, vectorsDir))
export const localKeyPath = (name: string): string =>
  fileURLToPath(new URL(`fixtures/${name}`, import.meta.url))

const text = (path: string): string => readFileSync(path, "utf8")

export const partnerPrivatePem = text(vectorKeyPath("partner_private_key.pem"))
export const partnerPublicPem = text(vectorKeyPath("partner_public_key.pem"))
export const otherPrivatePem = text(vectorKeyPath("other_private_key.pem"))
export const otherPublicPem = text(vectorKeyPath("other_public_key.pem"))
export const q256PrivatePem = text(localKeyPath("dsa2048_q256_private_key.pem"))
export const q256PublicPem = text(localKeyPath("dsa2048_q256_public_key.pem"))
export const partnerTraditionalPem = text(localKeyPath("partner_private_key_traditional.pem"))

/** The Base64 body of a PEM on one line. */
export const oneLine = (pem: string): string =>
  pem
    .split(/\r?\n/)
    .filter((line) => line.length > 0 && !line.startsWith("-----"))
    .join("")

export const publicKeys = { partner: partnerPublicPem, other: otherPublicPem } as const

export const partnerPrivate = Redacted.make<string | Uint8Array>(partnerPrivatePem)
export const partnerPublic = Redacted.make<string | Uint8Array>(partnerPublicPem)

const Vectors = Schema.Struct({
  canonical: Schema.Array(
    Schema.Struct({ name: Schema.String, canonical: Schema.String, bytes_hex: Schema.String })
  ),
  dsa: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      key: Schema.Literal("partner", "other"),
      message_hex: Schema.String,
      sign: Schema.String,
      valid: Schema.Boolean
    })
  )
})

export const vectors = Schema.decodeUnknownSync(Vectors)(
  JSON.parse(text(fileURLToPath(new URL("vectors.json", vectorsDir))))
)

export const hex = (value: string): Uint8Array => new Uint8Array(Buffer.from(value, "hex"))

/** The OpenSSL CLI, for the interoperability tests; they are skipped, loudly, where it is missing. */
export const hasOpenssl = spawnSync("openssl", ["version"]).status === 0
if (!hasOpenssl) {
  console.warn(
    "\n*** openssl is not on PATH: the OpenSSL interoperability tests of @witkey/crypto-dsa are SKIPPED ***\n"
  )
}
