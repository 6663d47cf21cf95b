// Small wire helpers shared by the sandbox, the answer and notification builders: XML escaping, charset labels,
// two-place amounts, Alipay's timestamps and Java-URLEncoder-style form encoding.
import type { Charset } from "@witkey/core/Charset"
import * as CoreCharset from "@witkey/core/Charset"
import { BigDecimal, Either, Option } from "effect"

/** The label Alipay writes in XML declarations and Content-Types: `utf-8`, `GBK`, `GB2312`. */
export const label = (charset: Charset): string => (charset === "utf-8" ? "utf-8" : charset.toUpperCase())

/** Escapes text content and attribute values (the five predefined entities). */
export const escapeXml = (text: string): string =>
  text.replace(/[<>&"']/g, (c) =>
    c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : c === '"' ? "&quot;" : "&apos;"
  )

const AMOUNT = /^(0|[1-9]\d{0,15})(\.\d{1,2})?$/

/**
 * An amount as BigDecimal from a BigDecimal or a decimal string; at most two decimal places, never negative.
 * Numbers are refused by type: money is never a float.
 */
export const parseAmount = (
  input: BigDecimal.BigDecimal | string
): Either.Either<BigDecimal.BigDecimal, string> => {
  if (typeof input === "string") {
    if (!AMOUNT.test(input)) return Either.left(`"${input}" is not a decimal amount with at most two places`)
    return Either.right(BigDecimal.normalize(Option.getOrThrow(BigDecimal.fromString(input))))
  }
  const normalized = BigDecimal.normalize(input)
  if (BigDecimal.isNegative(normalized)) return Either.left(`${BigDecimal.format(input)} is negative`)
  if (normalized.scale > 2) return Either.left(`${BigDecimal.format(input)} has more than two decimal places`)
  return Either.right(normalized)
}

/** Two-place decimal text, as Alipay writes amounts: `120.00`, `0.05`. The value must have at most 2 places. */
export const formatAmount = (amount: BigDecimal.BigDecimal): string => {
  const scaled = BigDecimal.scale(BigDecimal.normalize(amount), 2)
  const negative = scaled.value < 0n
  const digits = (negative ? -scaled.value : scaled.value).toString().padStart(3, "0")
  return `${negative ? "-" : ""}${digits.slice(0, -2)}.${digits.slice(-2)}`
}

/** Rounds half away from zero to two places (service charges). */
export const roundAmount = (amount: BigDecimal.BigDecimal): BigDecimal.BigDecimal =>
  BigDecimal.normalize(BigDecimal.round(amount, { scale: 2, mode: "half-from-zero" }))

const pad = (n: number, width = 2) => n.toString().padStart(width, "0")

const shifted = (epochMillis: number, utcOffsetMinutes: number) =>
  new Date(epochMillis + utcOffsetMinutes * 60_000)

/** `yyyy-MM-dd HH:mm:ss` in the given UTC offset (China: +480, no daylight saving). */
export const notifyTime = (epochMillis: number, utcOffsetMinutes: number): string => {
  const d = shifted(epochMillis, utcOffsetMinutes)
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
}

/** `yyyyMMddHHmmss` in the given UTC offset. */
export const gmtTransfer = (epochMillis: number, utcOffsetMinutes: number): string => {
  const d = shifted(epochMillis, utcOffsetMinutes)
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
}

const HEX = "0123456789ABCDEF"

/** Java's URLEncoder, which Alipay's servers use: letters, digits and `.-*_` stay, space is `+`, the rest `%XX`. */
export const formEscape = (text: string, charset: Charset): string => {
  let out = ""
  for (const byte of CoreCharset.encode(text, charset)) {
    if (
      (byte >= 0x30 && byte <= 0x39) ||
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      byte === 0x2e ||
      byte === 0x2d ||
      byte === 0x2a ||
      byte === 0x5f
    )
      out += String.fromCharCode(byte)
    else if (byte === 0x20) out += "+"
    else out += `%${HEX[byte >> 4]}${HEX[byte & 15]}`
  }
  return out
}

/** A form body: `name=value` pairs joined by `&`, each escaped from its bytes in `charset`. */
export const formBody = (pairs: ReadonlyArray<readonly [string, string]>, charset: Charset): Uint8Array =>
  new TextEncoder().encode(
    pairs.map(([n, v]) => `${formEscape(n, charset)}=${formEscape(v, charset)}`).join("&")
  )
