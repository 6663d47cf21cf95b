/**
 * The fixed, test-only DSA keys (copies of `fixtures/vectors/keys/*.pem`, so that testkit works when published)
 * and ready-made layers over them.
 *
 * These keys are PUBLIC: they are in this repository and in every copy of the package. They exist so that the
 * vectors, the sandbox, the CLI demo and users' tests agree on one key set. Never configure them against a
 * real gateway.
 *
 * - partner: the platform's pair (the platform signs requests with the private key; the sandbox verifies them
 *   with the public key it was registered with).
 * - gateway: the pair of Alipay's role (the sandbox signs answers and notifications; the platform verifies with
 *   the public key).
 * - other: an unrelated pair, for "signed with the wrong key" cases.
 *
 * @since 0.1.0
 */
import type { Signer } from "@witkey/core/Signer"
import type { Verifier } from "@witkey/core/Verifier"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import { Layer, Redacted } from "effect"

/** The partner id (PID) the test keys belong to in the vectors and the sandbox's default registration. */
export const partnerId = "2088101012352995"

/** The platform's own Alipay user id in the examples: the payee of the service fee (`platformAccount`). */
export const platformUserId = "2088101012352995"

/** The platform's private key, PKCS#8 PEM. */
export const partnerPrivateKeyPem = `-----BEGIN PRIVATE KEY-----
MIIBSwIBADCCASwGByqGSM44BAEwggEfAoGBAN/Edqun51/J6uuOeKUcvneHF5ie
0+ngqV7JTTz1cihaCJqANyRZbWJVqmSnfp/wSIImkqo3ZUa4Lfoi+zmVi+nMTRL5
5GG7Zxijdch8KUInR7oiWGKC6Wbx5E/FDByASVRqgLVJTX1FmgukTdMyMwKrJmQi
mvq6Ib5XCXVbf73lAhUAtxHYJa5lrDTE81ljrI6o9KeBeTkCgYEAwfF7B/cBc9DN
043ZNQBXnZ25sP5u02Ai/y6LjWXNH+qH8LjlSE6pnt9FcEvLHJEIFI/7Oi/2qB6y
F3NrHiRH8yuY7rfd8rVioewPvMLi+ss+0EBlBsEw2AluHiZP5FapqycKUiT1PwH4
pgdORX3NdRXi6i9vgg4peVvbim/yFJEEFgIUN0NnVZh2z+MWajBY1apTIWaZ2BA=
-----END PRIVATE KEY-----
`

/** The platform's public key, SubjectPublicKeyInfo PEM: what the sandbox registers for `partnerId`. */
export const partnerPublicKeyPem = `-----BEGIN PUBLIC KEY-----
MIIBtzCCASwGByqGSM44BAEwggEfAoGBAN/Edqun51/J6uuOeKUcvneHF5ie0+ng
qV7JTTz1cihaCJqANyRZbWJVqmSnfp/wSIImkqo3ZUa4Lfoi+zmVi+nMTRL55GG7
Zxijdch8KUInR7oiWGKC6Wbx5E/FDByASVRqgLVJTX1FmgukTdMyMwKrJmQimvq6
Ib5XCXVbf73lAhUAtxHYJa5lrDTE81ljrI6o9KeBeTkCgYEAwfF7B/cBc9DN043Z
NQBXnZ25sP5u02Ai/y6LjWXNH+qH8LjlSE6pnt9FcEvLHJEIFI/7Oi/2qB6yF3Nr
HiRH8yuY7rfd8rVioewPvMLi+ss+0EBlBsEw2AluHiZP5FapqycKUiT1PwH4pgdO
RX3NdRXi6i9vgg4peVvbim/yFJEDgYQAAoGARyEZ1iEvtxlqXpoPcFzK5+zjZfF2
6JSl5EzEXkiro6c3KidHoX7lzDA95X3pi7X1ZvyBgThlkIpClYqrat3Uy6zKeww2
4q57whEt3Cl1w40aSQgNIeYrU81kRkhU6ruQp3jFaO2vpAJ8RGkQ+HyPuiyk60v1
kQRNpFK46EYGZSs=
-----END PUBLIC KEY-----
`

/** The gateway's private key, PKCS#8 PEM: the sandbox signs with it by default. */
export const gatewayPrivateKeyPem = `-----BEGIN PRIVATE KEY-----
MIIBSgIBADCCASsGByqGSM44BAEwggEeAoGBAPMYce0bfVfZUnoU1Cz+6TijL1fa
CCKH+xm0S4iAans+j1U/5xN74QpcKatmK/5ASrGIxAHN9NQDGqC86JOznOo2/BAR
NMIpOerhJ31zCuYoRRaPi9U1og1eTxI9ez6eIECrxLeL+3he/jGjkQtexZIoaiyD
ZygxdVFt5weoFSr5AhUAiv65yrcvlUcQ+3PO1AUG17FpiQ0CgYAtFu6geLk2L5Zc
T1Gy/bxd5dm+g7eY8Oi1xbK76uBDITBW3WvfB2608aBGDRilQztJtidS/zbZTAPB
UJT9R9iCCg8TRX98bUuwFfHBWs5Cn/qySWEJQTVvYfM+svn+RugV+9qwC7uU8VLv
ckhTT68MeWfTwtCFWgOJqo+ckEA89AQWAhQuZCIfz52E2BaKwg1JzAIZT8xAPQ==
-----END PRIVATE KEY-----
`

/** The gateway's public key, SubjectPublicKeyInfo PEM: the platform's `WITKEY_ALIPAY_PUBLIC_KEY` in tests. */
export const gatewayPublicKeyPem = `-----BEGIN PUBLIC KEY-----
MIIBtjCCASsGByqGSM44BAEwggEeAoGBAPMYce0bfVfZUnoU1Cz+6TijL1faCCKH
+xm0S4iAans+j1U/5xN74QpcKatmK/5ASrGIxAHN9NQDGqC86JOznOo2/BARNMIp
OerhJ31zCuYoRRaPi9U1og1eTxI9ez6eIECrxLeL+3he/jGjkQtexZIoaiyDZygx
dVFt5weoFSr5AhUAiv65yrcvlUcQ+3PO1AUG17FpiQ0CgYAtFu6geLk2L5ZcT1Gy
/bxd5dm+g7eY8Oi1xbK76uBDITBW3WvfB2608aBGDRilQztJtidS/zbZTAPBUJT9
R9iCCg8TRX98bUuwFfHBWs5Cn/qySWEJQTVvYfM+svn+RugV+9qwC7uU8VLvckhT
T68MeWfTwtCFWgOJqo+ckEA89AOBhAACgYBj5yypx3Go0mOdaPjnqyIYWMnelH/K
nCdDFh4ziP4PiDMufT63yXfTe1GQswfTPzbWPlo+yN7wUVYfKmQUd2X6oD0614HF
KGUXpwbyQrF61L7/BVPzrfNu3azOwF/6+JSk2VNP73N7e+7EKhOGYhdhsor4327o
h5SISKJcrl6LAw==
-----END PUBLIC KEY-----
`

/** An unrelated private key, PKCS#8 PEM. */
export const otherPrivateKeyPem = `-----BEGIN PRIVATE KEY-----
MIIBSwIBADCCASwGByqGSM44BAEwggEfAoGBAOCqy3OXsKAk9MP9YV+ugUkN5873
AChIKySPdtqD8lkGWQVFO/u4b8+J+EvcWqxEKigzHRXUx8dIgGvG01UrE5YArUWD
ExRz0z0fa1Em36LbluHSfRdaAag1uK0EYlvzzf+vMYWQjhayLzdqHKxl2WbuuAIv
QnKvBa0rLH9y+WWvAhUA5+0vbpfwRXreIC1fg4/jGJ2kuwcCgYEAsiDkAp19ohDH
HjpduqhUTJ+7je/x7A3kLT+ogAgxXSClmCckwpxYKej9KAErB2C4s25F6FHw9e+y
q9P11eGceO8ulG3pYqdcrD9hV9WwPM7wIIirPbf6dKPlBeSwHMIC+AH6jtQtEVwm
V9FSoRq1464VHaN3cpqQ5LVYBCtqXwoEFgIUKzfpPc4uRY5FaNxOQ31yNTVdWog=
-----END PRIVATE KEY-----
`

/** An unrelated public key, SubjectPublicKeyInfo PEM. */
export const otherPublicKeyPem = `-----BEGIN PUBLIC KEY-----
MIIBuDCCASwGByqGSM44BAEwggEfAoGBAOCqy3OXsKAk9MP9YV+ugUkN5873AChI
KySPdtqD8lkGWQVFO/u4b8+J+EvcWqxEKigzHRXUx8dIgGvG01UrE5YArUWDExRz
0z0fa1Em36LbluHSfRdaAag1uK0EYlvzzf+vMYWQjhayLzdqHKxl2WbuuAIvQnKv
Ba0rLH9y+WWvAhUA5+0vbpfwRXreIC1fg4/jGJ2kuwcCgYEAsiDkAp19ohDHHjpd
uqhUTJ+7je/x7A3kLT+ogAgxXSClmCckwpxYKej9KAErB2C4s25F6FHw9e+yq9P1
1eGceO8ulG3pYqdcrD9hV9WwPM7wIIirPbf6dKPlBeSwHMIC+AH6jtQtEVwmV9FS
oRq1464VHaN3cpqQ5LVYBCtqXwoDgYUAAoGBAN1O0nK2FsnE2cVl+UBA8oOGl4Lc
eDCcoEu3ywGpssUU9N0rSRFkGf5HsFFBzIHAIaxQsGaF0NH0i3TYh5DhD2NElhFo
RGMxhReEz/W9Hl0Tc/tPP7sXOdvilLTbKVvGwVrltbNuiMA901b/d1fN0LcWrcvX
J5v9R6RIRGQzCOxD
-----END PUBLIC KEY-----
`

/** The Base64 body of a PEM on one line: the form a public key is uploaded to Alipay in (`<partner>.dat`). */
export const oneLine = (pem: string): string =>
  pem
    .split(/\r?\n/)
    .filter((line) => line !== "" && !line.startsWith("-----"))
    .join("")

export const partnerPrivateKey: Redacted.Redacted<string> = Redacted.make(partnerPrivateKeyPem)
export const gatewayPrivateKey: Redacted.Redacted<string> = Redacted.make(gatewayPrivateKeyPem)
export const otherPrivateKey: Redacted.Redacted<string> = Redacted.make(otherPrivateKeyPem)

// The keys are fixed and known to be good: a failure to load them is a broken installation, hence orDie.
const signer = (privateKey: Redacted.Redacted<string>): Layer.Layer<Signer> =>
  Layer.orDie(DsaSigner.layer({ privateKey }))
const verifier = (publicKey: string): Layer.Layer<Verifier> =>
  Layer.orDie(DsaVerifier.layer({ publicKey: Redacted.make(publicKey) }))

/** Core `Signer` with the platform's private key: what a platform's client signs requests with. */
export const partnerSigner: Layer.Layer<Signer> = signer(partnerPrivateKey)
/** Core `Verifier` with the platform's public key. */
export const partnerVerifier: Layer.Layer<Verifier> = verifier(partnerPublicKeyPem)
/** Core `Signer` with the gateway's private key: signs like the sandbox does. */
export const gatewaySigner: Layer.Layer<Signer> = signer(gatewayPrivateKey)
/** Core `Verifier` with the gateway's public key: what a platform verifies the sandbox's answers with. */
export const gatewayVerifier: Layer.Layer<Verifier> = verifier(gatewayPublicKeyPem)
/** Core `Signer` with the unrelated key: a forger, or a misconfigured key. */
export const otherSigner: Layer.Layer<Signer> = signer(otherPrivateKey)
/** Core `Verifier` with the unrelated public key: a platform configured with the wrong Alipay key. */
export const otherVerifier: Layer.Layer<Verifier> = verifier(otherPublicKeyPem)

/** What a platform's `Client` needs besides a `Transport`: the partner signer and the gateway verifier. */
export const clientKeys: Layer.Layer<Signer | Verifier> = Layer.merge(partnerSigner, gatewayVerifier)
