/**
 * `@witkey/crypto-dsa`: SHA-1 with DSA `Signer` and `Verifier` for `@witkey/core` on node:crypto.
 *
 * @since 0.1.0
 */
export * as DsaKey from "./DsaKey.js"
export * as DsaSigner from "./DsaSigner.js"
export * as DsaVerifier from "./DsaVerifier.js"
export * as KeyError from "./KeyError.js"
export * as KeyGen from "./KeyGen.js"
