/**
 * Reading and checking DSA keys (PROTOCOL.md §3): the platform's private key and Alipay's public key, in
 * every form they are handed around in: PEM, the PEM's Base64 body on one line (what is uploaded to Alipay,
 * historically `<partner>.dat`), or DER bytes.
 *
 * Keys are decoded once into a node:crypto `KeyObject`. A key that cannot be used for SHA-1 with DSA is
 * refused here, with a `KeyError` that says what was found and what was expected and never quotes the key.
 *
 * @since 0.1.0
 */
import { Buffer } from "node:buffer"
import type { KeyObject, PrivateKeyInput, PublicKeyInput } from "node:crypto"
import { createHash, createPrivateKey, createPublicKey } from "node:crypto"
import { readFile, stat } from "node:fs/promises"
import { Effect, Either, Redacted } from "effect"
import * as Base64 from "./internal/Base64.js"
import { errorCode } from "./internal/Dsa.js"
import * as Pem from "./internal/Pem.js"
import { KeyError } from "./KeyError.js"

/** Key text (PEM or Base64) or bytes (DER, or the bytes of such text). */
export type KeyInput = string | Uint8Array

export type KeyKind = "private" | "public"

/** How the key was written: PEM armour, bare Base64 (one line or several), or raw DER. */
export type KeyEncoding = "pem" | "base64" | "der"

/** What the DER inside is: PKCS#8, SubjectPublicKeyInfo, or a legacy algorithm-specific structure. */
export type KeyStructure = "pkcs8" | "spki" | "traditional"

/** e.g. `"pem-pkcs8"`, `"base64-spki"`, `"der-pkcs8"`; `"pem-traditional"` is OpenSSL's `BEGIN DSA PRIVATE KEY`. */
export type KeyFormat = `${KeyEncoding}-${KeyStructure}`

/** What `inspect` reports about a usable key. Nothing in it is secret. */
export interface KeyDescription {
  readonly kind: KeyKind
  readonly format: KeyFormat
  readonly type: "dsa"
  /** Bits of p (1024 for Alipay). */
  readonly modulusBits: number
  /** Bits of q (always 160 here: other sizes are refused). */
  readonly divisorBits: number
  /**
   * `SHA256:` and the unpadded Base64 SHA-256 of the public key's DER (SubjectPublicKeyInfo). A private key
   * and its public key have the same fingerprint, so a pair can be matched without showing either.
   */
  readonly fingerprint: string
}

/** The bits the gateway's SHA-1 with DSA needs in q. */
export const DIVISOR_BITS = 160

// ---------------------------------------------------------------------------------------------------------
// Decoding (synchronous, total: every failure is a KeyError value)
// ---------------------------------------------------------------------------------------------------------

interface Decoded {
  readonly key: KeyObject
  readonly kind: KeyKind
  readonly format: KeyFormat
}

type Result<A> = Either.Either<A, KeyError>

const fail = (reason: KeyError["reason"], message: string): Result<never> =>
  Either.left(new KeyError({ reason, message }))

const EXPECTED =
  "a DSA key: PKCS#8 PEM (BEGIN PRIVATE KEY), SubjectPublicKeyInfo PEM (BEGIN PUBLIC KEY), their Base64 body, or DER"

const decodeInput = (input: unknown): Result<Decoded> => {
  if (input === undefined || input === null) return fail("missing", "no key was given")
  if (typeof input === "string") return decodeText(input)
  if (input instanceof Uint8Array) {
    if (input.length === 0) return fail("missing", "the key is empty (0 bytes)")
    const text = asText(input)
    return text === undefined ? decodeDer(Buffer.from(input), "der", undefined) : decodeText(text)
  }
  return fail("malformed", `expected key text or bytes, found a value of type ${typeof input}`)
}

/** Bytes that are all printable ASCII (after an optional UTF-8 BOM) are PEM or Base64 text, not DER. */
const asText = (bytes: Uint8Array): string | undefined => {
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  for (let i = start; i < bytes.length; i++) {
    const b = bytes[i]!
    if (!(b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b <= 0x7e))) return undefined
  }
  return Buffer.from(bytes.subarray(start)).toString("latin1")
}

const decodeText = (raw: string): Result<Decoded> => {
  const text = raw.replace(/^\uFEFF/, "").trim()
  if (text.length === 0) return fail("missing", "the key is empty")
  if (Pem.looksLikePem(text)) return decodePem(Pem.unescapeNewlines(text))
  const der = Base64.decodeStrictIgnoringWhitespace(text)
  if (der === undefined) {
    return fail(
      "malformed",
      `the key text (${text.length} characters) is neither PEM (-----BEGIN …-----) nor valid padded Base64; expected ${EXPECTED}`
    )
  }
  return decodeDer(der, "base64", undefined)
}

const PEM_EXPECTED = "expected PRIVATE KEY (PKCS#8) or PUBLIC KEY (SubjectPublicKeyInfo)"

const decodePem = (text: string): Result<Decoded> => {
  const parsed = Pem.parse(text)
  if (parsed._tag === "Broken") {
    return fail(
      "malformed",
      `the PEM block "${parsed.label}" has no matching END line (truncated or pasted twice?)`
    )
  }
  // `openssl dsaparam -genkey` writes the parameters before the key; they add nothing to it.
  const keys = parsed.blocks.filter((block) => !block.label.endsWith(" PARAMETERS"))
  const labels = parsed.blocks.map((block) => `"${block.label}"`).join(", ")
  if (keys.length === 0) return fail("malformed", `the PEM text holds ${labels} and no key`)
  if (keys.length > 1) {
    return fail("malformed", `the PEM text holds ${keys.length} blocks (${labels}); expected exactly one key`)
  }
  const block = keys[0]!
  const body = (structure: KeyStructure): Result<Decoded> => {
    const der = Base64.decodeStrictIgnoringWhitespace(block.body)
    return der === undefined
      ? fail("malformed", `the Base64 body of the PEM block "${block.label}" is damaged`)
      : decodeDer(der, "pem", structure)
  }
  switch (block.label) {
    case "PRIVATE KEY":
      return body("pkcs8")
    case "PUBLIC KEY":
      return body("spki")
    case "DSA PRIVATE KEY":
      return block.hasHeaders ? encrypted : body("traditional")
    case "ENCRYPTED PRIVATE KEY":
      return encrypted
    case "RSA PRIVATE KEY":
    case "RSA PUBLIC KEY":
    case "EC PRIVATE KEY":
      return fail(
        "unsupported_type",
        `found ${block.label.startsWith("RSA") ? "an RSA" : "an EC"} ${block.label.endsWith("PRIVATE KEY") ? "private" : "public"} key (PEM "${block.label}"); expected a DSA key`
      )
    case "CERTIFICATE":
      return fail(
        "malformed",
        `found an X.509 certificate; expected a public key (BEGIN PUBLIC KEY): extract it with "openssl x509 -pubkey -noout -in cert.pem"`
      )
    default:
      return fail("malformed", `found a PEM block "${block.label}"; ${PEM_EXPECTED}`)
  }
}

const encrypted = fail(
  "encrypted",
  `the key is protected by a passphrase; decrypt it first, e.g. "openssl pkey -in encrypted.pem -out key.pem"`
)

const wrapPem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trim()}\n-----END ${label}-----\n`

type Attempt = () => { readonly key: KeyObject; readonly kind: KeyKind; readonly structure: KeyStructure }

const attemptsFor = (der: Buffer, structure: KeyStructure | undefined): ReadonlyArray<Attempt> => {
  const priv = (input: PrivateKeyInput, structure: KeyStructure) => () => ({
    key: createPrivateKey(input),
    kind: "private" as const,
    structure
  })
  const pub = (input: PublicKeyInput, structure: KeyStructure) => () => ({
    key: createPublicKey(input),
    kind: "public" as const,
    structure
  })
  const pkcs8 = priv({ key: der, format: "der", type: "pkcs8" }, "pkcs8")
  const spki = pub({ key: der, format: "der", type: "spki" }, "spki")
  // Node reads DSA's legacy structure only from PEM, so the DER is re-armoured for it.
  const dsaTraditional = priv({ key: wrapPem("DSA PRIVATE KEY", der), format: "pem" }, "traditional")
  switch (structure) {
    case "pkcs8":
      return [pkcs8]
    case "spki":
      return [spki]
    case "traditional":
      return [dsaTraditional]
    case undefined:
      // Bare Base64 or DER says nothing about what it is. The RSA and EC structures are tried only so that
      // such a key is reported as "RSA" or "EC" rather than as unreadable.
      return [
        pkcs8,
        spki,
        dsaTraditional,
        priv({ key: der, format: "der", type: "pkcs1" }, "traditional"),
        pub({ key: der, format: "der", type: "pkcs1" }, "traditional"),
        priv({ key: der, format: "der", type: "sec1" }, "traditional")
      ]
  }
}

const decodeDer = (
  der: Buffer,
  encoding: KeyEncoding,
  structure: KeyStructure | undefined
): Result<Decoded> => {
  let firstCode: string | undefined
  for (const attempt of attemptsFor(der, structure)) {
    try {
      const found = attempt()
      return Either.right({ key: found.key, kind: found.kind, format: `${encoding}-${found.structure}` })
    } catch (error) {
      const code = errorCode(error)
      if (code === "ERR_MISSING_PASSPHRASE") return encrypted
      firstCode ??= code
    }
  }
  const what =
    structure === "pkcs8"
      ? "a PKCS#8 private key"
      : structure === "spki"
        ? "a SubjectPublicKeyInfo public key"
        : structure === "traditional"
          ? "a DSA private key"
          : "a PKCS#8 private key or a SubjectPublicKeyInfo public key"
  return fail(
    "malformed",
    `the ${der.length} bytes of ${encoding === "der" ? "DER" : `${encoding.toUpperCase()}-encoded DER`} are not ${what} (truncated or corrupted?${firstCode === undefined ? "" : ` ${firstCode}`})`
  )
}

const describeForeign = (key: KeyObject, kind: KeyKind): string => {
  const details = key.asymmetricKeyDetails ?? {}
  switch (key.asymmetricKeyType) {
    case "rsa":
    case "rsa-pss":
      return `an ${key.asymmetricKeyType.toUpperCase()} ${kind} key (${details.modulusLength ?? "?"}-bit modulus)`
    case "ec":
      return `an EC ${kind} key (curve ${details.namedCurve ?? "?"})`
    case "ed25519":
    case "ed448":
      return `an ${key.asymmetricKeyType === "ed25519" ? "Ed25519" : "Ed448"} ${kind} key`
    case undefined:
      return `a ${kind} key of unknown type`
    default:
      return `a ${key.asymmetricKeyType.toUpperCase()} ${kind} key`
  }
}

/** Refuses keys that are not DSA with a 160-bit q. */
const checkDsa = (decoded: Decoded): Result<Decoded> => {
  const { key, kind } = decoded
  if (key.asymmetricKeyType !== "dsa") {
    return fail(
      "unsupported_type",
      `found ${describeForeign(key, kind)}; expected a DSA key (1024-bit p, 160-bit q) for SHA-1 with DSA`
    )
  }
  const modulus = key.asymmetricKeyDetails?.modulusLength
  const divisor = key.asymmetricKeyDetails?.divisorLength
  if (divisor !== DIVISOR_BITS) {
    return fail(
      "q_not_160",
      `found a DSA ${kind} key with a ${modulus ?? "?"}-bit p and a ${divisor ?? "?"}-bit q; SHA-1 with DSA as Alipay uses it needs a 160-bit q (1024-bit p, 160-bit q)`
    )
  }
  return Either.right(decoded)
}

const FORMAT_NAMES: Record<KeyFormat, string> = {
  "pem-pkcs8": "PKCS#8 PEM",
  "pem-spki": "SubjectPublicKeyInfo PEM",
  "pem-traditional": "legacy PEM",
  "base64-pkcs8": "Base64 PKCS#8",
  "base64-spki": "Base64 SubjectPublicKeyInfo",
  "base64-traditional": "legacy Base64",
  "der-pkcs8": "PKCS#8 DER",
  "der-spki": "SubjectPublicKeyInfo DER",
  "der-traditional": "legacy DER"
}

const requireKind = (decoded: Decoded, wanted: KeyKind): Result<Decoded> => {
  if (decoded.kind === wanted) return Either.right(decoded)
  const expected =
    wanted === "private"
      ? "a private key (PKCS#8 PEM, BEGIN PRIVATE KEY, or its Base64 body)"
      : "a public key (SubjectPublicKeyInfo PEM, BEGIN PUBLIC KEY, or its Base64 body)"
  return fail(
    "wrong_kind",
    `found a DSA ${decoded.kind} key (${FORMAT_NAMES[decoded.format]}); expected ${expected}`
  )
}

/** Runs a synchronous decoder as an Effect; anything it throws despite the care above becomes a KeyError. */
const total = <A>(f: () => Result<A>): Effect.Effect<A, KeyError> =>
  Effect.suspend(() => {
    try {
      return f()
    } catch (error) {
      return fail("malformed", `the key could not be read (${errorCode(error)})`)
    }
  })

const reveal = (input: KeyInput | Redacted.Redacted<KeyInput>): unknown =>
  Redacted.isRedacted(input) ? Redacted.value(input) : input

const publicOf = (key: KeyObject): KeyObject => (key.type === "private" ? createPublicKey(key) : key)

const spkiDer = (key: KeyObject): Buffer => publicOf(key).export({ format: "der", type: "spki" })

// ---------------------------------------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------------------------------------

/**
 * `SHA256:` and the unpadded Base64 SHA-256 of the public key's DER (SubjectPublicKeyInfo): what `inspect`
 * reports, and the id of a trusted key that was given none.
 */
export const fingerprint = (key: KeyObject): string =>
  `SHA256:${createHash("sha256").update(spkiDer(key)).digest("base64").replace(/=+$/, "")}`

/**
 * The platform's private key. Only a DSA private key with a 160-bit q is accepted; a public key is refused
 * with `wrong_kind`.
 */
export const parsePrivateKey = (input: Redacted.Redacted<KeyInput>): Effect.Effect<KeyObject, KeyError> =>
  total(() =>
    decodeInput(reveal(input)).pipe(
      Either.flatMap(checkDsa),
      Either.flatMap((decoded) => requireKind(decoded, "private")),
      Either.map((decoded) => decoded.key)
    )
  )

/**
 * Alipay's public key. Only a DSA public key with a 160-bit q is accepted; a private key is refused with
 * `wrong_kind` (a private key in the public-key setting is a misconfiguration, and a leak waiting to happen).
 */
export const parsePublicKey = (
  input: KeyInput | Redacted.Redacted<KeyInput>
): Effect.Effect<KeyObject, KeyError> =>
  total(() =>
    decodeInput(reveal(input)).pipe(
      Either.flatMap(checkDsa),
      Either.flatMap((decoded) => requireKind(decoded, "public")),
      Either.map((decoded) => decoded.key)
    )
  )

/** What a key is (for `witkey key inspect`), or a `KeyError` saying why it cannot be used. */
export const inspect = (
  input: KeyInput | Redacted.Redacted<KeyInput>
): Effect.Effect<KeyDescription, KeyError> =>
  total(() =>
    decodeInput(reveal(input)).pipe(
      Either.flatMap(checkDsa),
      Either.map(({ format, key, kind }): KeyDescription => ({
        kind,
        format,
        type: "dsa",
        modulusBits: key.asymmetricKeyDetails?.modulusLength ?? 0,
        divisorBits: key.asymmetricKeyDetails?.divisorLength ?? 0,
        fingerprint: fingerprint(key)
      }))
    )
  )

/**
 * The public key as the Base64 of its SubjectPublicKeyInfo DER on one line: the form uploaded to Alipay.
 * Given a private key, the public key is derived from it.
 */
export const publicKeyOneLine = (
  key: KeyObject | KeyInput | Redacted.Redacted<KeyInput>
): Effect.Effect<string, KeyError> =>
  total(() => {
    const decoded: Result<Decoded> =
      typeof key === "object" && key !== null && !(key instanceof Uint8Array) && !Redacted.isRedacted(key)
        ? Either.right({ key, kind: key.type === "private" ? "private" : "public", format: "der-spki" })
        : decodeInput(reveal(key))
    return decoded.pipe(
      Either.flatMap(checkDsa),
      Either.map(({ key }) => spkiDer(key).toString("base64"))
    )
  })

/** Bare Base64 this long is a key, never a file name: 1024-bit DSA keys take 450 to 600 characters. */
const MIN_BASE64_KEY_TEXT = 200

const looksLikeKeyText = (text: string): boolean =>
  Pem.looksLikePem(text) ||
  (/^[A-Za-z0-9+/=\s]+$/.test(text) && text.replace(/\s+/g, "").length >= MIN_BASE64_KEY_TEXT)

/**
 * A configured key value: the key itself (PEM or Base64), or the path of a file holding it (PEM, Base64 or
 * DER). The value is taken as a path (relative to the working directory; `~` is not expanded) only if it does
 * not look like key text and such a file exists. The path is named in errors only once it is known to be a
 * path, so a mangled key is never echoed.
 */
export const load = (
  value: Redacted.Redacted<string>
): Effect.Effect<Redacted.Redacted<KeyInput>, KeyError> =>
  Effect.gen(function* () {
    const text = Redacted.value(value)
      .replace(/^\uFEFF/, "")
      .trim()
    if (text.length === 0)
      return yield* Effect.fail(new KeyError({ reason: "missing", message: "the key is empty" }))
    if (looksLikeKeyText(text)) return value
    const path = text
    const entry = yield* Effect.tryPromise(() => stat(path)).pipe(
      Effect.map((stats) => (stats.isFile() ? ("file" as const) : ("not_a_file" as const))),
      Effect.catchAll((error) =>
        Effect.succeed(errorCode(error.error) === "EACCES" ? ("forbidden" as const) : ("absent" as const))
      )
    )
    if (entry === "absent") {
      return yield* Effect.fail(
        new KeyError({
          reason: "malformed",
          message: `the value (${text.length} characters) is neither key text (PEM, or the Base64 body of a key) nor the path of an existing file`
        })
      )
    }
    if (entry !== "file") {
      return yield* Effect.fail(
        new KeyError({
          reason: "unreadable_file",
          message: `cannot read the key file ${path}: ${entry === "not_a_file" ? "not a regular file" : "permission denied"}`
        })
      )
    }
    const bytes = yield* Effect.tryPromise({
      try: () => readFile(path),
      catch: (error) =>
        new KeyError({
          reason: "unreadable_file",
          message: `cannot read the key file ${path} (${errorCode(error)})`
        })
    })
    return Redacted.make<KeyInput>(bytes)
  })
