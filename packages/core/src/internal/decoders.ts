// Hand-written decoders of the signed payloads, for the hot path: each gives what its schema gives when the
// input passes, field for field, and `undefined` otherwise (the caller then decodes with the schema, which says
// what is wrong). Decoding with the schema cost as much as the rest of a notification; a property test holds
// each decoder equal to its schema (test/Decoders.test.ts).
import { BigDecimal } from "effect"
import type { TaskInfo } from "../GatewayResponse.js"
import type { Assign, PlatformProfit } from "../Notification.js"
import * as Protocol from "../Protocol.js"

/**
 * An own string property of `fields`, as a Schema struct decoded with `exact: true` reads one (without `exact`, a
 * struct also reads a missing key's inherited value); `undefined` when there is none.
 */
const own = (fields: Readonly<Record<string, string>>, name: string): string | undefined => {
  if (!Object.hasOwn(fields, name)) return undefined
  const value: unknown = fields[name]
  return typeof value === "string" ? value : undefined
}

const wireText = (fields: Record<string, string>, name: keyof typeof Protocol.Notify.leaf) => {
  const value = own(fields, Protocol.Notify.leaf[name])
  return value !== undefined && value.length > 0 ? value : undefined
}

const amount = (fields: Record<string, string>, name: keyof typeof Protocol.Notify.leaf) => {
  const value = own(fields, Protocol.Notify.leaf[name])
  if (value === undefined || !Protocol.Notify.amountPattern.test(value)) return undefined
  // What BigDecimal.fromString makes of such a string (digits without the point, scale the places), without
  // its general parsing (exponents, signs).
  const point = value.indexOf(".")
  return BigDecimal.normalize(
    point < 0
      ? BigDecimal.make(BigInt(value), 0)
      : BigDecimal.make(BigInt(value.slice(0, point) + value.slice(point + 1)), value.length - point - 1)
  )
}

const gmtTransfer = (fields: Record<string, string>) => {
  const value = own(fields, Protocol.Notify.leaf.gmtTransfer)
  return value !== undefined && Protocol.Notify.gmtTransferPattern.test(value) ? value : undefined
}

/**
 * Whether `fields` carries `subType` as its own sub type: `payloadOf` has already dispatched on it, but each
 * decoder checks it again so that it equals its schema on any input, not only on what its one caller passes.
 */
const hasSubType = (fields: Record<string, string>, subType: string) =>
  own(fields, Protocol.Notify.subType) === subType

/** `Notification.Assign` by hand. */
export const assign = (fields: Record<string, string>): Assign | undefined => {
  if (!hasSubType(fields, Protocol.Notify.assign)) return undefined
  const outerTaskId = wireText(fields, "outerTaskId")
  const outerTransferNo = wireText(fields, "outerTransferNo")
  const transferAmount = amount(fields, "transferAmount")
  const payeeUserId = wireText(fields, "payeeUserId")
  const gmt = gmtTransfer(fields)
  if (
    outerTaskId === undefined ||
    outerTransferNo === undefined ||
    transferAmount === undefined ||
    payeeUserId === undefined ||
    gmt === undefined
  )
    return undefined
  return {
    subType: Protocol.Notify.assign,
    outerTaskId,
    outerTransferNo,
    transferAmount,
    payeeUserId,
    gmtTransfer: gmt,
    _tag: "Assign"
  }
}

/** `PlatformProfit` by hand, as `assign`. */
export const platformProfit = (fields: Record<string, string>): PlatformProfit | undefined => {
  if (!hasSubType(fields, Protocol.Notify.platformProfit)) return undefined
  const outerTaskId = wireText(fields, "outerTaskId")
  const transferAmount = amount(fields, "transferAmount")
  const serviceCharge = amount(fields, "serviceCharge")
  const payeeUserId = wireText(fields, "payeeUserId")
  const gmt = gmtTransfer(fields)
  if (
    outerTaskId === undefined ||
    transferAmount === undefined ||
    serviceCharge === undefined ||
    payeeUserId === undefined ||
    gmt === undefined
  )
    return undefined
  return {
    subType: Protocol.Notify.platformProfit,
    outerTaskId,
    transferAmount,
    serviceCharge,
    payeeUserId,
    gmtTransfer: gmt,
    _tag: "PlatformProfit"
  }
}

/** `GatewayResponse.TaskInfo` by hand: a non-empty string with no whitespace at either end. */
export const taskInfo = (signed: Readonly<Record<string, string>>): typeof TaskInfo.Type | undefined => {
  const value = own(signed, Protocol.Param.outerTaskId)
  return value !== undefined && value.length > 0 && value.trim() === value
    ? { [Protocol.Param.outerTaskId]: value }
    : undefined
}

/**
 * `Object.fromEntries(pairs)` for a handful of pairs, as a loop of assignments (fromEntries goes through the
 * iterator protocol and costs more). A field named `__proto__` is defined as an own property, as fromEntries
 * does, never assigned (which would set the prototype). A property test holds the two equal.
 */
export const record = (pairs: ReadonlyArray<readonly [string, string]>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!
    if (pair[0] === "__proto__")
      Object.defineProperty(out, pair[0], {
        value: pair[1],
        writable: true,
        enumerable: true,
        configurable: true
      })
    else out[pair[0]] = pair[1]
  }
  return out
}
