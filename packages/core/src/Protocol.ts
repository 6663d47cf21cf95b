/**
 * Every wire detail of `alipay.witkey.task.confirm.by.platform` in one place, each with its provenance
 * (PROTOCOL.md): [seed] the interface document, [classic] the classic partner gateway's published rules,
 * [reconstructed] our reading where no public document exists. A correction to the wire format is a change to
 * this file.
 *
 * @since 0.1.0
 */

/** [seed] The service name. */
export const SERVICE = "alipay.witkey.task.confirm.by.platform"

/** [seed] The only signature type; upper case. */
export const SIGN_TYPE = "DSA"

/** [seed] Separator of the serial numbers in `transfer_detail` (the parameter table; the seed's URL sample disagrees). */
export const DEFAULT_TRANSFER_SEPARATOR = "~*~"

/** [seed] Limits. */
export const MAX_PARTNER_LENGTH = 20
export const MAX_OUTER_TASK_ID_LENGTH = 50
export const MAX_TRANSFER_DETAIL_LENGTH = 1000
export const MAX_TRANSFERS = 30
/** [classic] `notify_url` is String(190) on the classic gateway. */
export const MAX_NOTIFY_URL_LENGTH = 190

/** [classic] Partner ids are 16 digits starting with 2088. */
export const PARTNER_PATTERN = /^2088\d{12}$/

/** Parameter names. [seed] except `notify_url` [classic]. */
export const Param = {
  service: "service",
  partner: "partner",
  inputCharset: "_input_charset",
  sign: "sign",
  signType: "sign_type",
  outerTaskId: "outer_task_id",
  transferDetail: "transfer_detail",
  notifyUrl: "notify_url"
} as const

/** [seed][classic] Never part of the canonical string. */
export const UNSIGNED_PARAMS: ReadonlySet<string> = new Set([Param.sign, Param.signType])

/**
 * Characters a transfer serial number or task id must not contain (project decision, PROTOCOL.md §2): they
 * either break the canonical string's unambiguous split or are refused by the gateway [classic].
 */
export const FORBIDDEN_ID_CHARS = /[\s\p{Cc}&=%+#]/u

/** The synchronous response (PROTOCOL.md §4). */
export const Response = {
  root: "alipay",
  isSuccess: "is_success",
  error: "error",
  response: "response",
  sign: "sign",
  signType: "sign_type",
  /** [seed] the element inside `<response>` whose leaf children are signed [classic] */
  taskInfo: "task_info",
  success: "T",
  failure: "F",
  /** bounds against hostile bodies */
  maxBytes: 64 * 1024,
  maxDepth: 16,
  maxElements: 512
} as const

/** The asynchronous notification (PROTOCOL.md §6). */
export const Notify = {
  /** [seed] `xml`, `notify_id`; [classic] the rest */
  notifyId: "notify_id",
  notifyTime: "notify_time",
  xml: "xml",
  sign: "sign",
  signType: "sign_type",
  /** [reconstructed] the payload's root and the sub type field */
  payloadRoot: "notify",
  subType: "notify_sub_type",
  /** [seed] the two sub types */
  assign: "ASSIGN_FOR_ANNOUNCE_PAYMENT",
  platformProfit: "PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT",
  /** [reconstructed] the payload's leaves: each field's wire name (core decodes, testkit writes these) */
  leaf: {
    outerTaskId: "outer_task_id",
    outerTransferNo: "outer_transfer_no",
    transferAmount: "transfer_amount",
    serviceCharge: "service_charge",
    payeeUserId: "payee_user_id",
    gmtTransfer: "gmt_transfer"
  },
  /** [reconstructed] each sub type's leaves after `notify_sub_type`, in the order they are written */
  assignLeaves: ["outerTaskId", "outerTransferNo", "transferAmount", "payeeUserId", "gmtTransfer"],
  platformProfitLeaves: ["outerTaskId", "transferAmount", "serviceCharge", "payeeUserId", "gmtTransfer"],
  /** [classic] `yyyy-MM-dd HH:mm:ss` */
  notifyTimePattern: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/,
  /** [reconstructed] `yyyyMMddHHmmss` */
  gmtTransferPattern: /^\d{14}$/,
  /** [reconstructed] decimal strings, at most two places; never floats */
  amountPattern: /^(0|[1-9]\d{0,15})(\.\d{1,2})?$/,
  /** [seed] the exact acknowledgement: 7 bytes, no BOM, no newline */
  ack: "success",
  /** what the endpoint answers when it has not durably handled the notification, so that Alipay retries */
  nack: "fail",
  maxBodyBytes: 64 * 1024,
  maxFields: 32,
  maxPayloadDepth: 8,
  maxPayloadElements: 256
} as const

/**
 * How a notification's charset is decided (PROTOCOL.md §6). The `charset` of the Content-Type labels the body
 * [classic], but the header is not signed: relabelled, the same signed bytes decode to other text. So
 * [project decision] the charsets come from the receiver's configuration, like the signature algorithm, and
 * the label never chooses one:
 *
 * - every `charset` parameter of the Content-Type must name a configured charset (`gbk` and `gb2312` are one
 *   decoding, §3); any other label, an unknown one included, is refused;
 * - the body is decoded strictly in every configured charset; those that fail drop out; if the rest do not
 *   all give the same fields, the body is refused as ambiguous (only a signed source could say which was
 *   meant); else those fields are verified and used. With one configured charset (the default) this is
 *   simply: decode in it.
 *
 * A missing label, or a Content-Type without one, is therefore no different from a configured one.
 */
export const NotifyCharset = {
  /**
   * [classic] A `charset` parameter anywhere in the Content-Type, tolerant of the malformed values Alipay
   * sends (`application/x-www-form-urlencoded; text/html; charset=utf-8`). The value runs to the next
   * separator, so that an unknown label is read whole and refused, not cut to a known prefix.
   */
  parameter: /(?:^|[;\s,])charset\s*=\s*("?)([^;,\s"]*)\1/gi
} as const

/**
 * [classic] Alipay's delivery schedule: the first delivery, then retries after these delays (7 retries,
 * 24h22m in all), so one notification can arrive up to 8 times.
 */
export const NOTIFY_RETRY_DELAYS_MINUTES: ReadonlyArray<number> = [2, 10, 10, 60, 120, 360, 900]

/** [classic] From a notification's first delivery to Alipay's last retry: 24 h 22 min. */
export const NOTIFY_RETRY_WINDOW_MILLIS: number =
  NOTIFY_RETRY_DELAYS_MINUTES.reduce((sum, minutes) => sum + minutes, 0) * 60_000

/** [classic] `notify_verify`: `GET <gateway>?service=notify_verify&partner=<partner>&notify_id=<id>`. */
export const NotifyVerify = {
  service: "notify_verify",
  /** the query's parameters: `service` and `partner` as in `Param`, and the notification's `notify_id` */
  params: { service: "service", partner: "partner", notifyId: "notify_id" },
  /** the charset of the query and of the answer (every byte of them is ASCII in practice) */
  charset: "utf-8",
  /** only this body confirms; `false` and `invalid` do not */
  confirmed: "true",
  denied: "false",
  invalid: "invalid"
} as const

/** [classic] Gateway-wide error codes (PROTOCOL.md §5). */
export const GATEWAY_ERROR_CODES = [
  "ILLEGAL_SIGN",
  "ILLEGAL_DYN_MD5_KEY",
  "ILLEGAL_ENCRYPT",
  "ILLEGAL_ARGUMENT",
  "ILLEGAL_SERVICE",
  "ILLEGAL_PARTNER",
  "ILLEGAL_EXTERFACE",
  "ILLEGAL_PARTNER_EXTERFACE",
  "ILLEGAL_SECURITY_PROFILE",
  "ILLEGAL_AGENT",
  "ILLEGAL_SIGN_TYPE",
  "ILLEGAL_CHARSET",
  "ILLEGAL_CLIENT_IP",
  "HAS_NO_PRIVILEGE",
  "SYSTEM_ERROR",
  "SESSION_TIMEOUT",
  "ILLEGAL_TARGET_SERVICE",
  "ILLEGAL_ENCODING",
  "EXTERFACE_IS_CLOSED",
  "ILLEGAL_NUMBER_FORMAT",
  "ILLEGAL_MONEY_FORMAT",
  "ILLEGAL_DATA_FORMAT",
  "REGEXP_MATCH_FAIL",
  "ILLEGAL_LENGTH",
  "PARAMTER_IS_NULL"
] as const

/** [reconstructed, from KPPW] Witkey business error codes (PROTOCOL.md §5); misspellings are the wire's. */
export const WITKEY_ERROR_CODES = [
  "WITKEY_TASK_NOT_EXIST",
  "WITKEY_TRANSFER_NOT_EXIST",
  "WITKEY_TRANSFER_ALREADY_EXIST",
  "WITKEY_AMOUNT_NOT_MATCH",
  "WITKEY_TASK_LEF_AMOUNT_NOT_ENOUGH",
  "WITKEY_COUNT_NOT_MATCH",
  "WITKEY_NOT_ALLOW",
  "WITKEY_OUTER_TRANSFER_ALREADY_PAID",
  "WITKEY_OUTER_TRANSFER_REPEAT",
  "WITKEY_DATA_NOT_MATCH",
  "WITKEY_DATA_VALIDATE_FAILURE",
  "BIDDER_EQUALS_TASK_CREATOR_ERROR",
  "PLATFORM_AUTHORITY_ILLEGAL",
  "ACCOUNT_NOT_EXIST",
  "NOT_DONE_OF_TRANSFER_FOUND",
  "ILLEGAL_SERIVCE"
] as const

/** [reconstructed] A repeated confirm whose earlier call went through (PROTOCOL.md §5, §7). */
export const ALREADY_PAID_CODE = "WITKEY_OUTER_TRANSFER_ALREADY_PAID"
