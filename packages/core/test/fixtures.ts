// Test-only helpers: the shared vectors (copied byte-identical into fixtures/) and a node:crypto Verifier
// standing in for @witkey/crypto-dsa, so core's tests do not depend on an adapter.
import { Effect, Layer } from "effect"
import * as crypto from "node:crypto"
import { readFileSync } from "node:fs"
import * as Signer from "../src/Signer.js"
import * as Verifier from "../src/Verifier.js"

const root = new URL("../../../fixtures/vectors/", import.meta.url)

export interface Vectors {
  readonly canonical: ReadonlyArray<{
    name: string
    charset: string
    params: Array<[string, string]>
    canonical: string
    bytes_hex: string
  }>
  readonly dsa: ReadonlyArray<{
    name: string
    key: string
    message_hex: string
    sign: string
    valid: boolean
  }>
  readonly responses: ReadonlyArray<{
    name: string
    charset: string
    body_b64: string
    expect: Record<string, unknown>
    signed_string?: string
  }>
  readonly notifications: ReadonlyArray<{
    name: string
    charset: string
    content_type: string
    body_b64: string
    expect: Record<string, unknown>
    signed_string?: string
  }>
}

export const vectors: Vectors = JSON.parse(readFileSync(new URL("vectors.json", root), "utf8"))

export const keyPem = (
  name:
    | "partner_private"
    | "partner_public"
    | "gateway_private"
    | "gateway_public"
    | "other_public"
    | "other_private"
) => readFileSync(new URL(`keys/${name}_key.pem`, root), "utf8")

export const verifierLayer = (publicPem: string) => {
  const key = crypto.createPublicKey(publicPem)
  return Layer.succeed(
    Verifier.Verifier,
    Verifier.make((message, signature) =>
      Effect.sync(() => {
        try {
          return crypto.verify("sha1", message, { key, dsaEncoding: "der" }, Buffer.from(signature, "base64"))
        } catch {
          return false
        }
      })
    )
  )
}

export const signerLayer = (privatePem: string) => {
  const key = crypto.createPrivateKey(privatePem)
  return Layer.succeed(
    Signer.Signer,
    Signer.make((message) =>
      Effect.sync(() => crypto.sign("sha1", message, { key, dsaEncoding: "der" }).toString("base64"))
    )
  )
}

export const gatewayVerifier = verifierLayer(keyPem("gateway_public"))
export const partnerSigner = signerLayer(keyPem("partner_private"))
export const partnerVerifier = verifierLayer(keyPem("partner_public"))

export const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex")
export const b64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"))
