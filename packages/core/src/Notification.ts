/**
 * Alipay's asynchronous notification (PROTOCOL.md §6): the raw form body verified first, then only the signed
 * fields decoded, with the `xml` payload read into a union by sub type.
 *
 * @since 0.1.0
 */
import { Effect, Either, Option, Schema } from "effect"
import * as Charset from "./Charset.js"
import * as Decoders from "./internal/decoders.js"
import * as Form from "./internal/Form.js"
import * as Xml from "./internal/Xml.js"
import * as Protocol from "./Protocol.js"
import { SignatureError } from "./SignatureError.js"
import * as SigningString from "./SigningString.js"
import * as Verifier from "./Verifier.js"

export class MalformedNotification extends Schema.TaggedError<MalformedNotification>()(
  "MalformedNotification",
  {
    reason: Schema.Literal(
      "not_bytes",
      "too_large",
      "charset",
      "charset_not_allowed",
      "charset_ambiguous",
      "form",
      "duplicate_field",
      "fields",
      "payload"
    ),
    message: Schema.String
  }
) {}

/** An amount: a decimal string with at most two places, never a float; decoded to BigDecimal. */
export const Amount = Schema.compose(
  Schema.String.pipe(
    Schema.pattern(Protocol.Notify.amountPattern, {
      message: () => "must be a decimal amount with at most two places"
    })
  ),
  Schema.BigDecimal
)

const WireText = Schema.String.pipe(Schema.minLength(1, { message: () => "is required" }))
const GmtTransfer = Schema.String.pipe(
  Schema.pattern(Protocol.Notify.gmtTransferPattern, { message: () => "must be yyyyMMddHHmmss" })
)

/** A payload field read from its wire name (`Protocol.Notify.leaf`): the names live in Protocol.ts only. */
const leaf = <S extends Schema.Schema.All>(schema: S, name: keyof typeof Protocol.Notify.leaf) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(Protocol.Notify.leaf[name]))

/**
 * [reconstructed] The bounty paid to one winner: decodes the payload's leaves (by wire name) to the typed
 * payload. Its fields are `Protocol.Notify.assignLeaves`.
 */
export const Assign = Schema.Struct({
  subType: Schema.propertySignature(Schema.Literal(Protocol.Notify.assign)).pipe(
    Schema.fromKey(Protocol.Notify.subType)
  ),
  outerTaskId: leaf(WireText, "outerTaskId"),
  outerTransferNo: leaf(WireText, "outerTransferNo"),
  transferAmount: leaf(Amount, "transferAmount"),
  payeeUserId: leaf(WireText, "payeeUserId"),
  gmtTransfer: leaf(GmtTransfer, "gmtTransfer")
}).pipe(Schema.attachPropertySignature("_tag", "Assign"))

export interface Assign extends Schema.Schema.Type<typeof Assign> {}

/** [reconstructed] The service fee paid to the platform. Its fields are `Protocol.Notify.platformProfitLeaves`. */
export const PlatformProfit = Schema.Struct({
  subType: Schema.propertySignature(Schema.Literal(Protocol.Notify.platformProfit)).pipe(
    Schema.fromKey(Protocol.Notify.subType)
  ),
  outerTaskId: leaf(WireText, "outerTaskId"),
  transferAmount: leaf(Amount, "transferAmount"),
  serviceCharge: leaf(Amount, "serviceCharge"),
  payeeUserId: leaf(WireText, "payeeUserId"),
  gmtTransfer: leaf(GmtTransfer, "gmtTransfer")
}).pipe(Schema.attachPropertySignature("_tag", "PlatformProfit"))

export interface PlatformProfit extends Schema.Schema.Type<typeof PlatformProfit> {}

// Compiled once: building a decoder per call would dominate the cost of a notification.
// `exact`: a leaf is read only from the payload itself, never from a prototype (as the fast decoders read it).
const decodeAssign = Schema.decodeUnknownEither(Assign, { exact: true })
const decodePlatformProfit = Schema.decodeUnknownEither(PlatformProfit, { exact: true })

/**
 * A sub type this SDK does not know, delivered as such: its sub type and task id (when it names one). Its
 * leaves are all in `Notification.fields`, as wire text.
 */
export interface UnknownSubType {
  readonly _tag: "UnknownSubType"
  readonly subType: string
  readonly outerTaskId: string | undefined
}

export type Payload = Assign | PlatformProfit | UnknownSubType

export interface Notification {
  readonly notifyId: string
  readonly notifyTime: string
  readonly payload: Payload
  /** Every leaf of the `xml` payload by wire name, as the exact wire text (amounts too: `"120.00"`). */
  readonly fields: Readonly<Record<string, string>>
  /** Every signed form field (all but `sign` and `sign_type`), decoded once. */
  readonly form: Readonly<Record<string, string>>
  readonly charset: Charset.Charset
  /** The trusted key whose signature matched; a retired one means the trust list still needs it. */
  readonly verifiedBy: Verifier.Match
}

/** What the endpoint received, untouched. */
export interface RawNotification {
  /** The raw body bytes. Anything else (a parsed object, a string) is refused: verification needs the bytes. */
  readonly body: unknown
  readonly contentType?: string | undefined
}

export interface Options {
  /** The charset notifications are in, when `charsets` is not given; default utf-8. */
  readonly charset?: Charset.Charset | undefined
  /**
   * The charsets this receiver accepts (PROTOCOL.md §6): configuration, like the signature algorithm, never
   * the unsigned Content-Type. Default `[charset]`; an empty list means the default too. A Content-Type
   * `charset` outside them is refused; with several, a body that decodes to different fields in two of them
   * is refused as ambiguous. Run one endpoint per charset (a `notify_url` each) to take several without it.
   */
  readonly charsets?: ReadonlyArray<Charset.Charset> | undefined
}

export type DecodeError = SignatureError | MalformedNotification

const malformed = (reason: MalformedNotification["reason"], message: string) =>
  new MalformedNotification({ reason, message })

interface Prepared {
  readonly charset: Charset.Charset
  readonly sign: string
  /** Exactly the pairs that were signed (no sign, sign_type or empty values): the only ones decoded later. */
  readonly signedPairs: ReadonlyArray<readonly [string, string]>
  readonly bytes: Uint8Array
}

const names = (charsets: ReadonlyArray<Charset.Charset>) => charsets.join(", ")

/**
 * Every `charset` label of the Content-Type must name an accepted charset (PROTOCOL.md §6): the header is not
 * signed, so it may only narrow what configuration allows, never choose. `undefined` when it passes.
 */
const checkLabels = (
  contentType: string | undefined,
  accepted: ReadonlyArray<Charset.Charset>
): MalformedNotification | undefined => {
  if (typeof contentType !== "string") return undefined
  // A sender sends the same Content-Type every time: the last one that passed, with the same accepted
  // charsets, passes again without the regex (a string comparison).
  if (contentType === passed.contentType && sameCharsets(accepted, passed.accepted)) return undefined
  for (const match of contentType.matchAll(Protocol.NotifyCharset.parameter)) {
    const label = match[2]!
    const charset = Charset.parse(label)
    if (charset === undefined || !accepted.some((a) => Charset.sameDecoding(a, charset)))
      return malformed(
        "charset_not_allowed",
        `Content-Type charset ${JSON.stringify(label)} is not one this receiver accepts (${names(accepted)}): the label is not signed, so configuration chooses the charset`
      )
  }
  passed = { contentType, accepted: accepted.slice() }
  return undefined
}

let passed: { readonly contentType: string; readonly accepted: ReadonlyArray<Charset.Charset> } = {
  contentType: "",
  accepted: []
}

const sameCharsets = (a: ReadonlyArray<Charset.Charset>, b: ReadonlyArray<Charset.Charset>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const firstDifference = (
  a: ReadonlyArray<readonly [string, string]>,
  b: ReadonlyArray<readonly [string, string]>
): number => {
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i]?.[0] !== b[i]?.[0] || a[i]?.[1] !== b[i]?.[1]) return i
  return -1
}

/**
 * The form decoded strictly in each accepted charset (PROTOCOL.md §6): the first that decodes is used, but
 * only when every other that decodes gives the same fields. Nothing here reads the Content-Type.
 */
const decodeForm = (
  body: Uint8Array,
  accepted: ReadonlyArray<Charset.Charset>
): Either.Either<
  { readonly charset: Charset.Charset; readonly parsed: Form.Parsed },
  MalformedNotification
> => {
  let chosen: Charset.Charset | undefined
  let chosenForm: Form.Parsed | undefined
  let firstError: string | undefined
  for (let i = 0; i < accepted.length; i++) {
    const charset = accepted[i]!
    // gbk and gb2312 decode alike: one pass for both.
    if (i > 0 && accepted.slice(0, i).some((earlier) => Charset.sameDecoding(earlier, charset))) continue
    const parsed = Form.parse(body, charset, Protocol.Notify.maxFields)
    if (Either.isLeft(parsed)) {
      firstError ??= parsed.left
      continue
    }
    if (chosen === undefined || chosenForm === undefined) {
      chosen = charset
      chosenForm = parsed.right
      continue
    }
    const chosenPairs = chosenForm.pairs
    const pairs = parsed.right.pairs
    const differs = firstDifference(chosenPairs, pairs)
    if (differs >= 0) {
      const field = (chosenPairs[differs] ?? pairs[differs])![0]
      return Either.left(
        malformed(
          "charset_ambiguous",
          `field ${JSON.stringify(field)} decodes differently in ${chosen} and ${charset}, both accepted: the Content-Type charset is not signed, so which was meant cannot be told`
        )
      )
    }
  }
  if (chosen !== undefined && chosenForm !== undefined)
    return Either.right({ charset: chosen, parsed: chosenForm })
  const m = firstError ?? "no charset to decode in"
  return Either.left(malformed(m.includes("invalid") && m.includes("byte sequence") ? "charset" : "form", m))
}

/** Everything before the signature check: the form read from the raw bytes, and the canonical bytes. */
const prepare = (
  raw: RawNotification,
  options: Options,
  signType: string
): Either.Either<Prepared, DecodeError> => {
  const body = raw.body
  if (!(body instanceof Uint8Array))
    return Either.left(
      malformed(
        "not_bytes",
        `expected the raw body bytes, got ${body === null ? "null" : typeof body}: mount the endpoint before any body parser`
      )
    )
  if (body.length > Protocol.Notify.maxBodyBytes)
    return Either.left(malformed("too_large", `body exceeds ${Protocol.Notify.maxBodyBytes} bytes`))
  const accepted =
    options.charsets !== undefined && options.charsets.length > 0
      ? options.charsets
      : [options.charset ?? "utf-8"]
  const refusedLabel = checkLabels(raw.contentType, accepted)
  if (refusedLabel !== undefined) return Either.left(refusedLabel)
  const decoded = decodeForm(body, accepted)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const { charset, parsed } = decoded.right
  const pairs = parsed.pairs
  // At most 32 fields: a scan for repeats, no map to build.
  let sign: string | undefined
  let declaredType: string | undefined
  for (let i = 0; i < pairs.length; i++) {
    const name = pairs[i]![0]
    for (let k = 0; k < i; k++)
      if (pairs[k]![0] === name)
        return Either.left(malformed("duplicate_field", `field "${name}" appears more than once`))
    if (name === Protocol.Notify.sign) sign = pairs[i]![1]
    else if (name === Protocol.Notify.signType) declaredType = pairs[i]![1]
  }
  if (!sign)
    return Either.left(
      new SignatureError({ reason: "missing", source: "notification", message: "notification has no sign" })
    )
  if (declaredType !== signType)
    return Either.left(
      new SignatureError({
        reason: "sign_type",
        source: "notification",
        message: `sign_type is ${declaredType === undefined ? "missing" : `"${declaredType}"`}; only ${signType} is accepted`
      })
    )
  const order = Form.signedOrder(pairs)
  const signedPairs: Array<readonly [string, string]> = []
  for (let k = 0; k < order.length; k++) signedPairs.push(pairs[order[k]!]!)
  // The bytes that came in, not the decoded text encoded again: the same bytes, since decoding is strict.
  return Either.right({ charset, sign, signedPairs, bytes: Form.canonicalBytes(parsed, order) })
}

const noOptions: Options = {}

/**
 * Verifies the raw body, then decodes what was signed. One Effect step (the Verifier's); everything around it
 * is plain code, which keeps a decode cheap next to the signature check it cannot avoid.
 */
export const decode = (
  raw: RawNotification,
  options: Options = noOptions
): Effect.Effect<Notification, DecodeError, Verifier.Verifier> =>
  Effect.flatMap(Verifier.Verifier, (verifier) => verifyAndDecode(verifier, raw, options))

/** `decode` with the Verifier given directly: for callers that hold it already (the Client does). */
export const decodeWith = (
  verifier: Verifier.Verifier,
  raw: RawNotification,
  options: Options = noOptions
): Effect.Effect<Notification, DecodeError> => Effect.suspend(() => verifyAndDecode(verifier, raw, options))

/** The work of `decode`, run when the effect runs (inside `flatMap` or `suspend`). */
const verifyAndDecode = (
  verifier: Verifier.Verifier,
  raw: RawNotification,
  options: Options
): Effect.Effect<Notification, DecodeError> => {
  const prepared = prepare(raw, options, verifier.signType)
  if (Either.isLeft(prepared)) return Either.left(prepared.left)
  const { bytes, charset, sign, signedPairs } = prepared.right
  return Effect.flatMap(
    verifier.match(bytes, sign),
    (verifiedBy): Effect.Effect<Notification, DecodeError> =>
      Option.isSome(verifiedBy)
        ? decodeSigned(signedPairs, charset, verifiedBy.value)
        : Either.left(
            new SignatureError({
              reason: "mismatch",
              source: "notification",
              message: `signature does not match the canonical string of the form fields (${charset}, ${bytes.length} bytes); check the Alipay public key and charset`,
              checked: SigningString.describe(bytes, charset)
            })
          )
  )
}

// Verified: from here on, only signed content is read.
const decodeSigned = (
  signedPairs: ReadonlyArray<readonly [string, string]>,
  charset: Charset.Charset,
  verifiedBy: Verifier.Match
): Either.Either<Notification, MalformedNotification> => {
  // Own properties: a field named `__proto__` stays a field.
  const form: Record<string, string> = Decoders.record(signedPairs)
  const notifyId = Object.hasOwn(form, Protocol.Notify.notifyId) ? form[Protocol.Notify.notifyId] : undefined
  const notifyTime = Object.hasOwn(form, Protocol.Notify.notifyTime)
    ? form[Protocol.Notify.notifyTime]
    : undefined
  const xml = Object.hasOwn(form, Protocol.Notify.xml) ? form[Protocol.Notify.xml] : undefined
  if (!notifyId) return Either.left(malformed("fields", "notify_id is required"))
  if (!notifyTime || !Protocol.Notify.notifyTimePattern.test(notifyTime))
    return Either.left(
      malformed(
        "fields",
        `notify_time must be yyyy-MM-dd HH:mm:ss, got ${JSON.stringify(notifyTime ?? null)}`
      )
    )
  if (!xml) return Either.left(malformed("fields", "xml is required"))
  const fields = payloadFields(xml)
  if (Either.isLeft(fields)) return Either.left(fields.left)
  const payload = payloadOf(fields.right)
  if (Either.isLeft(payload)) return Either.left(payload.left)
  return Either.right({
    notifyId,
    notifyTime,
    payload: payload.right,
    fields: fields.right,
    form,
    charset,
    verifiedBy
  })
}

/** The payload's leaves, wire text; `<notify>` must be the root. */
export const payloadFields = (xml: string): Either.Either<Record<string, string>, MalformedNotification> => {
  // A byte-order mark before the document is an encoding signature, not text (as for gateway answers).
  const root = Xml.parse(xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml, {
    maxDepth: Protocol.Notify.maxPayloadDepth,
    maxElements: Protocol.Notify.maxPayloadElements
  })
  if (Either.isLeft(root)) return Either.left(malformed("payload", `xml: ${root.left.message}`))
  if (root.right.name !== Protocol.Notify.payloadRoot)
    return Either.left(malformed("payload", `xml root is <${root.right.name}>, expected <notify>`))
  const leaves = Xml.leafRecord(root.right)
  return Either.isLeft(leaves)
    ? Either.left(malformed("payload", `xml: <${leaves.left}> appears twice`))
    : Either.right(leaves.right)
}

const fieldError = (subType: string) => (e: { readonly message: string }) =>
  malformed("payload", `${subType} payload: ${e.message}`)

/** The typed payload of the `xml` leaves, by sub type. */
export const payloadOf = (fields: Record<string, string>): Either.Either<Payload, MalformedNotification> => {
  const subType = Object.hasOwn(fields, Protocol.Notify.subType) ? fields[Protocol.Notify.subType] : undefined
  if (!subType) return Either.left(malformed("payload", "xml has no notify_sub_type"))
  if (subType === Protocol.Notify.assign) {
    const fast = Decoders.assign(fields)
    return fast !== undefined
      ? Either.right(fast)
      : Either.mapLeft(decodeAssign(fields, { errors: "all" }), fieldError(subType))
  }
  if (subType === Protocol.Notify.platformProfit) {
    const fast = Decoders.platformProfit(fields)
    return fast !== undefined
      ? Either.right(fast)
      : Either.mapLeft(decodePlatformProfit(fields, { errors: "all" }), fieldError(subType))
  }
  const taskId = Protocol.Notify.leaf.outerTaskId
  return Either.right({
    _tag: "UnknownSubType",
    subType,
    outerTaskId: Object.hasOwn(fields, taskId) ? fields[taskId] : undefined
  })
}

/** Escapes one business-key component: a backslash before every backslash and `|` in it. */
const escapeKeyPart = (part: string): string => part.replace(/[\\|]/g, "\\$&")

/**
 * The business key of an event from its parts: `sub_type|outer_task_id|outer_transfer_no` (empty for a fee),
 * each part with backslash and `|` escaped by a backslash. The request rules allow both characters in ids,
 * and a plain join made task `X|Y` serial `Z` and task `X` serial `Y|Z` one key (issue 13: a payout taken for
 * a duplicate). Escaped, an unescaped `|` can only be a separator, so a key splits back into exactly its
 * parts: distinct events, distinct keys. Escaping rather than length prefixes because it leaves every key
 * whose ids hold neither character as it was: stored keys, and rows users keyed on them, stay valid.
 */
export const businessKeyOf = (subType: string, outerTaskId: string, outerTransferNo = ""): string =>
  `${escapeKeyPart(subType)}|${escapeKeyPart(outerTaskId)}|${escapeKeyPart(outerTransferNo)}`

/**
 * The event a notification reports, independent of its `notify_id`: the same event redelivered under a new
 * id is still a duplicate. `undefined` for unknown sub types, whose identity we cannot know.
 */
export const businessKey = (n: Notification): string | undefined => {
  switch (n.payload._tag) {
    case "Assign":
      return businessKeyOf(n.payload.subType, n.payload.outerTaskId, n.payload.outerTransferNo)
    case "PlatformProfit":
      // One service-fee payment per task, as the sandbox models it. If Alipay ever sends a second fee
      // notification for a task confirmed in several calls, it would be taken for a duplicate: see the note in
      // PROTOCOL.md §6 (one notification per transfer) — the fee's identity is not documented.
      return businessKeyOf(n.payload.subType, n.payload.outerTaskId)
    case "UnknownSubType":
      return undefined
  }
}

/**
 * The key an inbox de-duplicates a notification on: its business key, or `notify_id:<id>` for an unknown
 * sub type (a business key starts with a known sub type, so the two forms never meet).
 */
export const eventKey = (n: Notification): string => businessKey(n) ?? `notify_id:${n.notifyId}`
