/**
 * Builds asynchronous notifications byte for byte as Alipay POSTs them (PROTOCOL.md §6), for a platform's own
 * endpoint tests: `{ body, contentType }` to hand to the endpoint as the raw request.
 *
 * - Form fields in this order: `notify_id`, `notify_time`, `xml`, any extra fields, `sign`, `sign_type`.
 * - Encoded like Java's URLEncoder (Alipay's servers): from the bytes in the charset, space as `+`,
 *   letters, digits and `.-*_` as they are, everything else `%XX`.
 * - Signed with the `Signer` in context (the gateway key: `TestKeys.gatewaySigner`, or a sandbox's key) over
 *   the canonical string (§3) of every field but `sign`/`sign_type`, in the charset.
 * - `xml` is `<notify>` with the payload leaves as children, after an XML declaration naming the charset.
 *
 * Hostile variants for negative tests: a wrong key (`signer`), a missing or tampered signature, another
 * `sign_type`, the malformed Content-Type, no Content-Type.
 *
 * ```ts
 * const { body, contentType } = yield* NotificationSigner.sign({
 *   notifyId: "n-1",
 *   notifyTime: "2026-11-25 10:30:00",
 *   payload: NotificationSigner.assign({ outerTaskId: "t-1", outerTransferNo: "s-1", transferAmount: "120.00",
 *     payeeUserId: "2088102122524333", gmtTransfer: "20261125103000" })
 * }).pipe(Effect.provide(TestKeys.gatewaySigner))
 * ```
 *
 * @since 0.1.0
 */
import * as Charset from "@witkey/core/Charset"
import * as Protocol from "@witkey/core/Protocol"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import type { BigDecimal } from "effect"
import { Effect, Either } from "effect"
import { escapeXml, formatAmount, formBody, label, parseAmount } from "./internal/Wire.js"

/** The payload's leaves in order, by wire name (`notify_sub_type` included). */
export type Leaves = ReadonlyArray<readonly [string, string]>

export type ContentTypeStyle =
  /** `application/x-www-form-urlencoded; charset=<label>` */
  | "standard"
  /** `application/x-www-form-urlencoded; text/html; charset=<label>`: what Alipay really sends */
  | "malformed"
  /** no Content-Type at all: the receiver must fall back to its configured charset */
  | "none"
  /** exactly this header value */
  | { readonly exact: string }

export type SignatureStyle =
  /** signed correctly */
  | "valid"
  /** no `sign` field */
  | "missing"
  /** signed, then a signed field changed: the amount when there is one (a `9` prepended), else `notify_id` */
  | "tampered"
  /** exactly this `sign` value */
  | { readonly exact: string }

export interface Options {
  readonly notifyId: string
  /** `yyyy-MM-dd HH:mm:ss`. */
  readonly notifyTime: string
  /** The payload's leaves (see `assign`, `platformProfit`), or the `xml` field's exact text. */
  readonly payload: Leaves | { readonly xml: string }
  /** Default utf-8. */
  readonly charset?: Charset.Charset | undefined
  /** Default "standard". */
  readonly contentType?: ContentTypeStyle | undefined
  /** More form fields, placed after `xml` and signed like the others. */
  readonly extraFields?: ReadonlyArray<readonly [string, string]> | undefined
  /** Default "valid". */
  readonly signature?: SignatureStyle | undefined
  /** Default `DSA`; anything else is a downgrade the receiver must refuse. */
  readonly signType?: string | undefined
  /** Signs with this instead of the Signer in context (e.g. a wrong key). */
  readonly signer?: Signer.Signer | undefined
  /** Start `xml` with `<?xml version="1.0" encoding="…"?>`. Default true. */
  readonly xmlDeclaration?: boolean | undefined
}

export interface Signed {
  /** The exact body bytes to POST. */
  readonly body: Uint8Array
  /** The Content-Type header value to send, if any. */
  readonly contentType: string | undefined
  /** The form fields in body order, decoded (what the receiver should read back). */
  readonly fields: ReadonlyArray<readonly [string, string]>
  /** The canonical string that was signed. */
  readonly canonical: string
}

type Amount = BigDecimal.BigDecimal | string

const amountText = (amount: Amount): string =>
  Either.match(parseAmount(amount), {
    onLeft: () => (typeof amount === "string" ? amount : String(amount)),
    onRight: formatAmount
  })

type LeafName = keyof typeof Protocol.Notify.leaf

/**
 * A sub type's leaves from its typed fields: the names and their order are `Protocol.Notify`'s, the ones core's
 * `Notification.Assign`/`PlatformProfit` decode. Amounts are written with two places (an amount string that is
 * not a valid amount is kept verbatim, to build hostile payloads); not `Schema.encode`, which would write
 * `120` for `120.00` and refuse hostile text.
 */
export const leaves = <K extends LeafName>(
  subType: string,
  names: ReadonlyArray<K>,
  fields: { readonly [P in K]: P extends "transferAmount" | "serviceCharge" ? Amount : string }
): Leaves => [
  [Protocol.Notify.subType, subType],
  ...names.map((name): readonly [string, string] => {
    const value: Amount = fields[name]
    return [Protocol.Notify.leaf[name], isAmountName(name) ? amountText(value) : (value as string)]
  })
]

const isAmountName = (name: LeafName) => name === "transferAmount" || name === "serviceCharge"

/** The ASSIGN_FOR_ANNOUNCE_PAYMENT leaves: one winner's bounty. */
export const assign = (fields: {
  readonly outerTaskId: string
  readonly outerTransferNo: string
  readonly transferAmount: Amount
  readonly payeeUserId: string
  readonly gmtTransfer: string
}): Leaves => leaves(Protocol.Notify.assign, Protocol.Notify.assignLeaves, fields)

/** The PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT leaves: the service fee paid to the platform, and the charge on it. */
export const platformProfit = (fields: {
  readonly outerTaskId: string
  readonly transferAmount: Amount
  readonly serviceCharge: Amount
  readonly payeeUserId: string
  readonly gmtTransfer: string
}): Leaves => leaves(Protocol.Notify.platformProfit, Protocol.Notify.platformProfitLeaves, fields)

/** The `xml` field: `<notify>` with one child per leaf. */
export const payloadXml = (leaves: Leaves, charset: Charset.Charset, declaration = true): string =>
  (declaration ? `<?xml version="1.0" encoding="${label(charset)}"?>` : "") +
  `<${Protocol.Notify.payloadRoot}>${leaves.map(([n, v]) => `<${n}>${escapeXml(v)}</${n}>`).join("")}</${Protocol.Notify.payloadRoot}>`

/** The Content-Type header for a style. */
export const contentTypeFor = (style: ContentTypeStyle, charset: Charset.Charset): string | undefined => {
  if (style === "none") return undefined
  if (style === "standard") return `application/x-www-form-urlencoded; charset=${label(charset)}`
  if (style === "malformed") return `application/x-www-form-urlencoded; text/html; charset=${label(charset)}`
  return style.exact
}

/** The form body for fields in order, encoded as Alipay does. */
export const encodeForm = (
  fields: ReadonlyArray<readonly [string, string]>,
  charset: Charset.Charset
): Uint8Array => formBody(fields, charset)

const tamper = (fields: Array<readonly [string, string]>): Array<readonly [string, string]> => {
  const xmlAt = fields.findIndex(([n]) => n === Protocol.Notify.xml)
  const xml = xmlAt < 0 ? undefined : fields[xmlAt]![1]
  const amountTag = `<${Protocol.Notify.leaf.transferAmount}>`
  if (xml !== undefined && xml.includes(amountTag)) {
    const copy = [...fields]
    copy[xmlAt] = [Protocol.Notify.xml, xml.replace(amountTag, `${amountTag}9`)]
    return copy
  }
  return fields.map(([n, v]) => (n === Protocol.Notify.notifyId ? [n, `${v}-forged`] : [n, v]))
}

/** Builds, signs and encodes one notification. */
export const sign = (options: Options): Effect.Effect<Signed, Signer.SignError, Signer.Signer> =>
  Effect.gen(function* () {
    const signer = options.signer ?? (yield* Signer.Signer)
    const charset = options.charset ?? "utf-8"
    const xml =
      "xml" in options.payload
        ? options.payload.xml
        : payloadXml(options.payload as Leaves, charset, options.xmlDeclaration ?? true)
    const signedFields: Array<readonly [string, string]> = [
      [Protocol.Notify.notifyId, options.notifyId],
      [Protocol.Notify.notifyTime, options.notifyTime],
      [Protocol.Notify.xml, xml],
      ...(options.extraFields ?? [])
    ]
    const canonical = SigningString.make(signedFields)
    const style = options.signature ?? "valid"
    const signature =
      typeof style === "object"
        ? style.exact
        : style === "missing"
          ? undefined
          : yield* signer.sign(Charset.encode(canonical, charset))
    const fields: Array<readonly [string, string]> = [
      ...(style === "tampered" ? tamper(signedFields) : signedFields),
      ...(signature === undefined ? [] : [[Protocol.Notify.sign, signature] as const]),
      [Protocol.Notify.signType, options.signType ?? signer.signType]
    ]
    return {
      body: encodeForm(fields, charset),
      contentType: contentTypeFor(options.contentType ?? "standard", charset),
      fields,
      canonical
    }
  })
