/**
 * The error codes the gateway answers with (PROTOCOL.md §5), as a union that keeps any code we do not know
 * verbatim instead of dropping it.
 *
 * @since 0.1.0
 */
import { Data } from "effect"
import { ALREADY_PAID_CODE, GATEWAY_ERROR_CODES, WITKEY_ERROR_CODES } from "./Protocol.js"

export type GatewayCode = (typeof GATEWAY_ERROR_CODES)[number]
export type WitkeyCode = (typeof WITKEY_ERROR_CODES)[number]

/**
 * What kind of failure a code is, so a caller can route it without a table of its own:
 * - `signature`: our signature or key setup (ILLEGAL_SIGN, ILLEGAL_SIGN_TYPE, ...)
 * - `configuration`: partner, service, charset, permissions; nothing a retry fixes
 * - `argument`: the request's values
 * - `business`: the witkey task or transfers
 * - `system`: the gateway's own trouble; a later re-send of the identical request may succeed
 * - `unknown`: a code this SDK does not know, kept verbatim
 */
export type Category = "signature" | "configuration" | "argument" | "business" | "system" | "unknown"

export type ErrorCode = Data.TaggedEnum<{
  Gateway: { readonly code: GatewayCode; readonly category: Category }
  Witkey: { readonly code: WitkeyCode; readonly category: Category }
  Unknown: { readonly code: string; readonly category: "unknown" }
}>

export const { Gateway, Unknown, Witkey, $is: is, $match: match } = Data.taggedEnum<ErrorCode>()

const categories: Record<GatewayCode | WitkeyCode, Category> = {
  ILLEGAL_SIGN: "signature",
  ILLEGAL_DYN_MD5_KEY: "signature",
  ILLEGAL_ENCRYPT: "signature",
  ILLEGAL_SIGN_TYPE: "signature",
  ILLEGAL_SECURITY_PROFILE: "signature",
  ILLEGAL_ARGUMENT: "argument",
  ILLEGAL_NUMBER_FORMAT: "argument",
  ILLEGAL_MONEY_FORMAT: "argument",
  ILLEGAL_DATA_FORMAT: "argument",
  REGEXP_MATCH_FAIL: "argument",
  ILLEGAL_LENGTH: "argument",
  PARAMTER_IS_NULL: "argument",
  ILLEGAL_ENCODING: "argument",
  ILLEGAL_SERVICE: "configuration",
  ILLEGAL_PARTNER: "configuration",
  ILLEGAL_EXTERFACE: "configuration",
  ILLEGAL_PARTNER_EXTERFACE: "configuration",
  ILLEGAL_AGENT: "configuration",
  ILLEGAL_CHARSET: "configuration",
  ILLEGAL_CLIENT_IP: "configuration",
  HAS_NO_PRIVILEGE: "configuration",
  ILLEGAL_TARGET_SERVICE: "configuration",
  EXTERFACE_IS_CLOSED: "configuration",
  ILLEGAL_SERIVCE: "configuration",
  PLATFORM_AUTHORITY_ILLEGAL: "configuration",
  SYSTEM_ERROR: "system",
  SESSION_TIMEOUT: "system",
  WITKEY_TASK_NOT_EXIST: "business",
  WITKEY_TRANSFER_NOT_EXIST: "business",
  WITKEY_TRANSFER_ALREADY_EXIST: "business",
  WITKEY_AMOUNT_NOT_MATCH: "business",
  WITKEY_TASK_LEF_AMOUNT_NOT_ENOUGH: "business",
  WITKEY_COUNT_NOT_MATCH: "business",
  WITKEY_NOT_ALLOW: "business",
  WITKEY_OUTER_TRANSFER_ALREADY_PAID: "business",
  WITKEY_OUTER_TRANSFER_REPEAT: "business",
  WITKEY_DATA_NOT_MATCH: "business",
  WITKEY_DATA_VALIDATE_FAILURE: "business",
  BIDDER_EQUALS_TASK_CREATOR_ERROR: "business",
  ACCOUNT_NOT_EXIST: "business",
  NOT_DONE_OF_TRANSFER_FOUND: "business"
}

const gatewayCodes: ReadonlySet<string> = new Set(GATEWAY_ERROR_CODES)
const witkeyCodes: ReadonlySet<string> = new Set(WITKEY_ERROR_CODES)

/** Classifies a code exactly as received (no trimming or case folding: the wire's spelling is the key). */
export const fromString = (code: string): ErrorCode => {
  if (gatewayCodes.has(code))
    return Gateway({ code: code as GatewayCode, category: categories[code as GatewayCode] })
  if (witkeyCodes.has(code))
    return Witkey({ code: code as WitkeyCode, category: categories[code as WitkeyCode] })
  return Unknown({ code, category: "unknown" })
}

/** True for the code that means an earlier identical confirm went through (PROTOCOL.md §5, §7). */
export const isAlreadyPaid = (code: ErrorCode): boolean => code.code === ALREADY_PAID_CODE
