/**
 * The payout request of `alipay.witkey.task.confirm.by.platform` (PROTOCOL.md §2): its input, every rule,
 * and its wire parameters.
 *
 * @since 0.1.0
 */
import { Either, ParseResult, Schema } from "effect"
import { readShape } from "./internal/readInput.js"
import * as Charset from "./Charset.js"
import * as Protocol from "./Protocol.js"

/** One broken rule: the field (wire or input name), a stable rule id, and a sentence a person can act on. */
export interface Issue {
  readonly field: string
  readonly rule: string
  readonly message: string
}

const IssueSchema = Schema.Struct({ field: Schema.String, rule: Schema.String, message: Schema.String })

/** Refused locally: nothing was signed or sent. Names every offending field and the rule it broke. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  issues: Schema.Array(IssueSchema)
}) {
  override get message(): string {
    return `invalid request: ${this.issues.map((i) => `${i.field}: ${i.message} [${i.rule}]`).join("; ")}`
  }
}

const issue = (field: string, rule: string, message: string): Issue => ({ field, rule, message })

const describeChar = (c: string) =>
  /\s|\p{Cc}/u.test(c) ? `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}` : `"${c}"`

/**
 * One request rule, written once: the issue reporter (every row that fails, with its message) reads these rows,
 * the branded schemas use the reporter, and `validate`'s fast check (`quick`: all rows pass) is held equal to
 * them by a property test. `separator` is the configured `transfer_detail` separator (only the serial rules use
 * it).
 */
export interface Rule {
  readonly rule: string
  readonly test: (value: string, separator: string) => boolean
  readonly message: (value: string, separator: string) => string
}

const idRules = (maxLength: number): ReadonlyArray<Rule> => [
  { rule: "required", test: (v) => v.length > 0, message: () => "must not be empty" },
  {
    rule: "max_length",
    test: (v) => v.length <= maxLength,
    message: (v) => `must be at most ${maxLength} characters, got ${v.length}`
  },
  {
    rule: "forbidden_char",
    test: (v) => !Protocol.FORBIDDEN_ID_CHARS.test(v),
    message: (v) => `must not contain ${describeChar(Protocol.FORBIDDEN_ID_CHARS.exec(v)![0])}`
  }
]

const NOTIFY_URL_FORBIDDEN = /[\s\p{Cc}&#]/u
const HTTP_URL = /^https?:\/\/[^/?#]+/i

/** The rules of each field, by the name `validate` reads it under. */
export const rules = {
  partner: [
    {
      rule: "format",
      test: (v) => Protocol.PARTNER_PATTERN.test(v),
      message: () => "must be an Alipay partner id: 16 digits starting with 2088"
    }
  ],
  outerTaskId: idRules(Protocol.MAX_OUTER_TASK_ID_LENGTH),
  transferSerial: [
    ...idRules(Protocol.MAX_TRANSFER_DETAIL_LENGTH),
    {
      rule: "separator",
      test: (v, separator) => !v.includes(separator),
      message: (_, separator) => `must not contain the transfer separator "${separator}"`
    }
  ],
  /**
   * `notify_url`: absolute http(s), at most 190 characters [classic]; no whitespace, control characters, `&`
   * or `#` (project decision: `&` would make the canonical string ambiguous, a fragment is never sent).
   */
  notifyUrl: [
    {
      rule: "max_length",
      test: (v) => v.length <= Protocol.MAX_NOTIFY_URL_LENGTH,
      message: (v) => `must be at most ${Protocol.MAX_NOTIFY_URL_LENGTH} characters, got ${v.length}`
    },
    {
      rule: "format",
      test: (v) => HTTP_URL.test(v),
      message: () => "must be an absolute http(s) URL"
    },
    {
      rule: "forbidden_char",
      test: (v) => !NOTIFY_URL_FORBIDDEN.test(v),
      message: (v) => `must not contain ${describeChar(NOTIFY_URL_FORBIDDEN.exec(v)![0])}`
    }
  ]
} satisfies Record<string, ReadonlyArray<Rule>>

/**
 * The fast check of each field: whether every one of its rows (`rules`) passes, written out. `validate` asks it
 * of every value, where a loop calling each row (each its own function, so none is inlined) cost more than the
 * checks themselves. A property test holds each equal to its rows.
 */
export const quick = {
  partner: (v: string): boolean => Protocol.PARTNER_PATTERN.test(v),
  outerTaskId: (v: string): boolean =>
    v.length > 0 && v.length <= Protocol.MAX_OUTER_TASK_ID_LENGTH && !Protocol.FORBIDDEN_ID_CHARS.test(v),
  transferSerial: (v: string, separator: string): boolean =>
    v.length > 0 &&
    v.length <= Protocol.MAX_TRANSFER_DETAIL_LENGTH &&
    !Protocol.FORBIDDEN_ID_CHARS.test(v) &&
    !v.includes(separator),
  notifyUrl: (v: string): boolean =>
    v.length <= Protocol.MAX_NOTIFY_URL_LENGTH && HTTP_URL.test(v) && !NOTIFY_URL_FORBIDDEN.test(v)
}

/** The issue reporter: one issue per broken rule, in row order. */
const report = (
  rows: ReadonlyArray<Rule>,
  field: string,
  value: string,
  separator: string = Protocol.DEFAULT_TRANSFER_SEPARATOR
): Array<Issue> => {
  const issues: Array<Issue> = []
  for (const row of rows)
    if (!row.test(value, separator)) issues.push(issue(field, row.rule, row.message(value, separator)))
  return issues
}

export const checkPartner = (value: string, field = "partner"): Array<Issue> =>
  report(rules.partner, field, value)

export const checkOuterTaskId = (value: string, field = "outer_task_id"): Array<Issue> =>
  report(rules.outerTaskId, field, value)

export const checkTransferSerial = (
  value: string,
  field = "transfer_detail",
  separator = Protocol.DEFAULT_TRANSFER_SEPARATOR
): Array<Issue> => report(rules.transferSerial, field, value, separator)

/** `notify_url`: see `rules.notifyUrl`. */
export const checkNotifyUrl = (value: string, field = "notify_url"): Array<Issue> =>
  report(rules.notifyUrl, field, value)

const fromChecks = <A extends string>(check: (value: string) => Array<Issue>) =>
  Schema.filter<Schema.Schema<A, A>>((value) => {
    const issues = check(value)
    return issues.length === 0 ? undefined : issues.map((i) => i.message).join("; ")
  })

/** An Alipay partner id (PID), e.g. `2088101012352995`. */
export const PartnerId = Schema.String.pipe(fromChecks(checkPartner), Schema.brand("PartnerId"))
export type PartnerId = typeof PartnerId.Type

/** The platform's task id, `outer_task_id`. */
export const OuterTaskId = Schema.String.pipe(fromChecks(checkOuterTaskId), Schema.brand("OuterTaskId"))
export type OuterTaskId = typeof OuterTaskId.Type

/** One winner's transfer serial number; the gateway's idempotency key (PROTOCOL.md §7). */
export const TransferSerial = Schema.String.pipe(
  fromChecks((s) => checkTransferSerial(s)),
  Schema.brand("TransferSerial")
)
export type TransferSerial = typeof TransferSerial.Type

export const NotifyUrl = Schema.String.pipe(fromChecks(checkNotifyUrl), Schema.brand("NotifyUrl"))
export type NotifyUrl = typeof NotifyUrl.Type

/** A validated request. Build one with `validate`; the only way past the rules. */
export const ConfirmRequest = Schema.Struct({
  partner: PartnerId,
  outerTaskId: OuterTaskId,
  transfers: Schema.NonEmptyArray(TransferSerial),
  notifyUrl: Schema.optionalWith(NotifyUrl, { exact: true }),
  charset: Charset.Charset
})
export type ConfirmRequest = typeof ConfirmRequest.Type

/** What a caller hands in: plain strings; `charset` defaults to the client's (utf-8 unless configured). */
export interface Input {
  readonly partner: string
  readonly outerTaskId: string
  readonly transfers: ReadonlyArray<string>
  readonly notifyUrl?: string | undefined
  readonly charset?: string | undefined
}

export const InputSchema = Schema.Struct({
  partner: Schema.String,
  outerTaskId: Schema.String,
  transfers: Schema.Array(Schema.String),
  notifyUrl: Schema.optional(Schema.String),
  charset: Schema.optional(Schema.String)
})

export interface Options {
  /** Separator of serials in `transfer_detail`; default `~*~` (PROTOCOL.md §2 erratum). */
  readonly separator?: string | undefined
  /** Charset when the input names none; default `utf-8`. */
  readonly defaultCharset?: Charset.Charset | undefined
}

/** The default separator, which is known to pass its check (the configured one is checked each time). */
const acceptedSeparator: string = Protocol.DEFAULT_TRANSFER_SEPARATOR

/** Checks every rule and reports every broken one at once. */
export const validate = (
  input: unknown,
  options: Options = {}
): Either.Either<ConfirmRequest, InvalidRequest> => {
  const separator = options.separator ?? Protocol.DEFAULT_TRANSFER_SEPARATOR
  const shape = readShape(input, InputSchema)
  if (typeof shape === "number")
    return Either.left(
      new InvalidRequest({
        issues: [
          issue(
            "transfer_detail",
            "max_count",
            `must list at most ${Protocol.MAX_TRANSFERS} transfers, got ${shape}`
          )
        ]
      })
    )
  if (Either.isLeft(shape)) {
    return Either.left(
      new InvalidRequest({
        issues: ParseResult.ArrayFormatter.formatErrorSync(shape.left).map((e) =>
          issue(e.path.join(".") || "input", "type", e.message)
        )
      })
    )
  }
  const raw = shape.right
  const issues: Array<Issue> = []
  // The separator is configuration, but it lands in the signed transfer_detail: the same rules apply.
  if (separator !== acceptedSeparator && (separator === "" || Protocol.FORBIDDEN_ID_CHARS.test(separator)))
    issues.push(
      issue(
        "separator",
        "forbidden_char",
        `the configured transfer separator ${JSON.stringify(separator)} is empty or has a forbidden character`
      )
    )
  const charsetName = raw.charset ?? options.defaultCharset ?? "utf-8"
  // A canonical name (nearly always) is itself: no trimming and lower-casing to find that out.
  const canonicalName = charsetName === "utf-8" || charsetName === "gbk" || charsetName === "gb2312"
  const charset = canonicalName ? charsetName : Charset.parse(charsetName)
  if (charset === undefined || (!canonicalName && raw.charset?.trim() !== raw.charset))
    issues.push(
      issue("_input_charset", "enum", `must be one of ${Charset.values.join(", ")}, got "${charsetName}"`)
    )
  // The full checks (each returns a list) only for values that fail the quick ones.
  const partnerOk = quick.partner(raw.partner)
  if (!partnerOk) issues.push(...checkPartner(raw.partner))
  if (!quick.outerTaskId(raw.outerTaskId)) issues.push(...checkOuterTaskId(raw.outerTaskId))
  if (raw.notifyUrl !== undefined && !quick.notifyUrl(raw.notifyUrl))
    issues.push(...checkNotifyUrl(raw.notifyUrl))
  const transfers = raw.transfers
  if (transfers.length === 0)
    issues.push(issue("transfer_detail", "min_count", "must list at least one transfer"))
  if (transfers.length > Protocol.MAX_TRANSFERS)
    issues.push(
      issue(
        "transfer_detail",
        "max_count",
        `must list at most ${Protocol.MAX_TRANSFERS} transfers, got ${transfers.length}`
      )
    )
  // Repeats: a plain scan for the usual handful of serials (no Set to allocate), a Set beyond.
  const seen = transfers.length > 32 ? new Set<string>() : undefined
  let unique = true
  // Whether any serial holds a character of the separator: only then can the joined list split differently.
  // (An empty separator is refused above; it splits every serial apart, so the check must still run.)
  let sharesSeparatorChars = separator === ""
  for (let index = 0; index < transfers.length; index++) {
    const serial = transfers[index]!
    // The full check (and its field name) only for a serial that fails the quick one.
    if (!quick.transferSerial(serial, separator))
      issues.push(...checkTransferSerial(serial, `transfer_detail[${index}]`, separator))
    let repeated = false
    if (seen === undefined) {
      for (let k = 0; k < index; k++)
        if (transfers[k] === serial) {
          repeated = true
          break
        }
    } else {
      repeated = seen.has(serial)
      seen.add(serial)
    }
    if (repeated) {
      unique = false
      issues.push(issue(`transfer_detail[${index}]`, "unique", `repeats serial number "${serial}"`))
    }
    if (!sharesSeparatorChars)
      for (let k = 0; k < separator.length; k++)
        if (serial.includes(separator[k]!)) {
          sharesSeparatorChars = true
          break
        }
  }
  const detail = transfers.join(separator)
  if (detail.length > Protocol.MAX_TRANSFER_DETAIL_LENGTH)
    issues.push(
      issue(
        "transfer_detail",
        "max_length",
        `joined serials must be at most ${Protocol.MAX_TRANSFER_DETAIL_LENGTH} characters, got ${detail.length}`
      )
    )
  else if (
    // Without a separator character inside a serial, every occurrence of the separator in `detail` is one
    // that join put there, so the split gives the list back: the split is only worth doing otherwise.
    sharesSeparatorChars &&
    transfers.length > 0 &&
    unique &&
    !sameSerials(detail.split(separator), transfers)
  )
    issues.push(
      issue(
        "transfer_detail",
        "ambiguous",
        `serials joined by "${separator}" do not split back into the same list`
      )
    )
  if (charset !== undefined) {
    // A well-formed partner id is ASCII digits, which every charset here represents.
    if (!partnerOk) checkEncodable(issues, "partner", raw.partner, charset)
    checkEncodable(issues, "outer_task_id", raw.outerTaskId, charset)
    checkEncodable(issues, "transfer_detail", detail, charset)
    if (raw.notifyUrl !== undefined) checkEncodable(issues, "notify_url", raw.notifyUrl, charset)
  }
  if (issues.length > 0) return Either.left(new InvalidRequest({ issues }))
  const partner = raw.partner as PartnerId
  const outerTaskId = raw.outerTaskId as OuterTaskId
  const serials = transfers as unknown as readonly [TransferSerial, ...Array<TransferSerial>]
  return Either.right(
    raw.notifyUrl === undefined
      ? { partner, outerTaskId, transfers: serials, charset: charset! }
      : { partner, outerTaskId, transfers: serials, notifyUrl: raw.notifyUrl as NotifyUrl, charset: charset! }
  )
}

const checkEncodable = (issues: Array<Issue>, field: string, value: string, charset: Charset.Charset) => {
  if (!Charset.canEncode(value, charset)) {
    const at = Math.max(0, Charset.firstUnencodable(value, charset))
    const character = Charset.describeCharacter(String.fromCodePoint(value.codePointAt(at) ?? 0xfffd))
    issues.push(issue(field, "charset", `has ${character} at index ${at}, which ${charset} cannot represent`))
  }
}

const sameSerials = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && a.every((s, i) => s === b[i])

/** The wire parameters of a request, without `sign` and `sign_type`, in a stable order. */
export const toParams = (
  request: ConfirmRequest,
  separator: string = Protocol.DEFAULT_TRANSFER_SEPARATOR
): Array<readonly [string, string]> => {
  const params: Array<readonly [string, string]> = [
    [Protocol.Param.service, Protocol.SERVICE],
    [Protocol.Param.partner, request.partner],
    [Protocol.Param.inputCharset, request.charset],
    [Protocol.Param.outerTaskId, request.outerTaskId],
    [Protocol.Param.transferDetail, request.transfers.join(separator)]
  ]
  if (request.notifyUrl !== undefined) params.push([Protocol.Param.notifyUrl, request.notifyUrl])
  return params
}

/**
 * Reads wire parameters back into a request (the inverse of `toParams`), with every rule checked; what the
 * sandbox gateway uses, and the other half of the encode/decode round trip.
 */
export const fromParams = (
  params: ReadonlyMap<string, string>,
  separator: string = Protocol.DEFAULT_TRANSFER_SEPARATOR
): Either.Either<ConfirmRequest, InvalidRequest> => {
  const missing: Array<Issue> = []
  for (const name of [
    Protocol.Param.service,
    Protocol.Param.partner,
    Protocol.Param.inputCharset,
    Protocol.Param.outerTaskId,
    Protocol.Param.transferDetail
  ])
    if (!params.get(name)) missing.push(issue(name, "required", "is missing"))
  const service = params.get(Protocol.Param.service)
  if (service && service !== Protocol.SERVICE)
    missing.push(issue(Protocol.Param.service, "enum", `must be ${Protocol.SERVICE}`))
  if (missing.length > 0) return Either.left(new InvalidRequest({ issues: missing }))
  const notifyUrl = params.get(Protocol.Param.notifyUrl)
  return validate(
    {
      partner: params.get(Protocol.Param.partner)!,
      outerTaskId: params.get(Protocol.Param.outerTaskId)!,
      transfers: params.get(Protocol.Param.transferDetail)!.split(separator),
      ...(notifyUrl ? { notifyUrl } : {}),
      charset: params.get(Protocol.Param.inputCharset)!
    },
    { separator }
  )
}
