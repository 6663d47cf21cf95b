import { DsaSigner, DsaVerifier, KeyGen } from "@witkey/crypto-dsa"
import { Effect, Layer, Redacted } from "effect"
import * as SignatureSuite from "../../testkit/src/SignatureSuite.js"
import * as F from "./Fixtures.js"

SignatureSuite.suite(
  "DSA on node:crypto, vector partner keys (PEM)",
  Layer.merge(
    DsaSigner.layer({ privateKey: F.partnerPrivate }),
    DsaVerifier.layer({ publicKey: F.partnerPublic })
  )
)

SignatureSuite.suite(
  "DSA on node:crypto, vector partner keys (one-line Base64)",
  Layer.merge(
    DsaSigner.layer({ privateKey: Redacted.make(F.oneLine(F.partnerPrivatePem)) }),
    DsaVerifier.layer({ publicKey: Redacted.make(F.oneLine(F.partnerPublicPem)) })
  )
)

SignatureSuite.suite(
  "DSA on node:crypto, freshly generated keys",
  Layer.unwrapEffect(
    Effect.map(KeyGen.generate(), (pair) =>
      Layer.merge(
        DsaSigner.layer({ privateKey: pair.privateKeyPem }),
        DsaVerifier.layer({ publicKey: Redacted.make(pair.publicKeyOneLine) })
      )
    )
  )
)

// The signer's key second on a trust list, behind another active key and as a retired one: every message
// is first checked against the wrong key.
SignatureSuite.suite(
  "DSA on node:crypto, a trust list whose matching key is retired and listed last",
  Layer.merge(
    DsaSigner.layer({ privateKey: F.partnerPrivate }),
    DsaVerifier.layer({
      keys: [
        { id: "other", publicKey: Redacted.make(F.otherPublicPem) },
        { id: "partner", publicKey: F.partnerPublic, status: "retired" }
      ]
    })
  )
)
