// Test-only: the fixture key pairs (fixtures/vectors/keys) and node:crypto signing with them, so that the fake
// gateway signs like Alipay does, independently of the adapter under test.
import * as crypto from "node:crypto"
import { readFileSync } from "node:fs"

const root = new URL("../../../../fixtures/vectors/keys/", import.meta.url)

export type KeyName =
  | "partner_private"
  | "partner_public"
  | "gateway_private"
  | "gateway_public"
  | "other_private"
  | "other_public"

export const pem = (name: KeyName): string => readFileSync(new URL(`${name}_key.pem`, root), "utf8")

export const PARTNER = "2088101012352995"

/** SHA-1 with DSA, DER, Base64: the signature of PROTOCOL.md §3. */
export const sign = (privateKey: KeyName, message: Uint8Array): string =>
  crypto
    .sign("sha1", message, { key: crypto.createPrivateKey(pem(privateKey)), dsaEncoding: "der" })
    .toString("base64")

export const verify = (publicKey: KeyName, message: Uint8Array, signature: string): boolean => {
  try {
    return crypto.verify(
      "sha1",
      message,
      { key: crypto.createPublicKey(pem(publicKey)), dsaEncoding: "der" },
      Buffer.from(signature, "base64")
    )
  } catch {
    return false
  }
}
