/**
 * fast-check arbitraries (effect's `FastCheck`) for every input and wire value of `@witkey/core`: valid
 * requests in every charset, hostile requests that must be refused (each with the field and rule core must
 * name), notification payloads of each sub type, gateway answers, transport answers and errors.
 *
 * ```ts
 * it.prop("every valid input validates", [Arbitraries.confirmInput], ([input]) => ...)
 * ```
 *
 * Text is drawn per charset: gbk and gb2312 values mix ASCII with Chinese characters GB2312 has (so they
 * survive every codec), utf-8 values add Latin, Cyrillic, emoji and characters outside the BMP. Ids never
 * contain whitespace, control characters, `&`, `=`, `%`, `+`, `#` or `~` (the last keeps the `~*~` separator
 * unambiguous), exactly as core requires.
 *
 * @since 0.1.0
 */
import * as Charset from "@witkey/core/Charset"
import * as Client from "@witkey/core/Client"
import * as ConfirmRequest from "@witkey/core/ConfirmRequest"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as Protocol from "@witkey/core/Protocol"
import * as SignatureError from "@witkey/core/SignatureError"
import * as Transport from "@witkey/core/Transport"
import { Arbitrary, BigDecimal, Either, FastCheck as fc, Option } from "effect"
import * as NotificationSigner from "./NotificationSigner.js"

// ---------------------------------------------------------------------------------------------------------
// Characters and text
// ---------------------------------------------------------------------------------------------------------

const ASCII_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:@!$()*,;^"
/** Common Chinese characters, all in GB2312 (hence in GBK). */
export const HANZI = "任务转账奖金悬赏平台网络中文测试用户支付宝一二三四五六七八九十百千万元设计标志竞标稿件"
const UNICODE_EXTRA = ["é", "ü", "ß", "Ж", "ñ", "€", "😀", "𠀀", "한", "ä"]

const charsOf = (text: string) => Array.from(text)

/** One character allowed in an id and encodable in `charset`. */
export const idChar = (charset: Charset.Charset): fc.Arbitrary<string> =>
  charset === "utf-8"
    ? fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...charsOf(ASCII_SAFE)) },
        { weight: 2, arbitrary: fc.constantFrom(...charsOf(HANZI)) },
        { weight: 1, arbitrary: fc.constantFrom(...UNICODE_EXTRA) }
      )
    : fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...charsOf(ASCII_SAFE)) },
        { weight: 2, arbitrary: fc.constantFrom(...charsOf(HANZI)) }
      )

const text = (charset: Charset.Charset, minLength: number, maxLength: number, maxCodeUnits = maxLength) =>
  fc
    .array(idChar(charset), { minLength, maxLength })
    .map((chars) => chars.join(""))
    .filter((s) => s.length <= maxCodeUnits)

// ---------------------------------------------------------------------------------------------------------
// Core schemas
// ---------------------------------------------------------------------------------------------------------

/** A charset, canonical (lower case). */
export const charset: fc.Arbitrary<Charset.Charset> = fc.constantFrom(...Charset.values)

/** A charset name as it may appear on the wire, in any letter case (the encoded side of `Charset.Charset`). */
export const charsetName: fc.Arbitrary<string> = fc
  .tuple(charset, fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }))
  .map(([cs, upper]) =>
    Array.from(cs)
      .map((c, i) => (upper[i] ? c.toUpperCase() : c))
      .join("")
  )

/** A 16-digit Alipay id starting with 2088: partner ids (`ConfirmRequest.PartnerId`) and user ids. */
export const userId: fc.Arbitrary<string> = fc
  .array(fc.constantFrom(..."0123456789"), { minLength: 12, maxLength: 12 })
  .map((digits) => `2088${digits.join("")}`)

export const partnerId: fc.Arbitrary<ConfirmRequest.PartnerId> =
  userId as fc.Arbitrary<ConfirmRequest.PartnerId>

/** `outer_task_id` (`ConfirmRequest.OuterTaskId`): 1 to 50 code units. */
export const outerTaskId = (cs: Charset.Charset = "utf-8"): fc.Arbitrary<ConfirmRequest.OuterTaskId> =>
  text(cs, 1, 50, Protocol.MAX_OUTER_TASK_ID_LENGTH) as fc.Arbitrary<ConfirmRequest.OuterTaskId>

/** A transfer serial (`ConfirmRequest.TransferSerial`): 1 to 30 characters. */
export const transferSerial = (cs: Charset.Charset = "utf-8"): fc.Arbitrary<ConfirmRequest.TransferSerial> =>
  text(cs, 1, 30) as fc.Arbitrary<ConfirmRequest.TransferSerial>

/** An absolute http(s) `notify_url` (`ConfirmRequest.NotifyUrl`), at most 190 characters, ASCII. */
export const notifyUrl: fc.Arbitrary<ConfirmRequest.NotifyUrl> = fc
  .tuple(
    fc.constantFrom("http", "https", "HTTP"),
    fc.constantFrom("platform.example", "127.0.0.1:8080", "shop.test", "[::1]:9000"),
    fc.array(fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/), { maxLength: 4 }),
    fc.option(fc.stringMatching(/^[a-z]{1,8}=[A-Za-z0-9]{0,12}$/), { nil: undefined })
  )
  .map(
    ([scheme, host, path, query]) =>
      `${scheme}://${host}/${path.join("/")}${query === undefined ? "" : `?${query}`}`
  )
  .filter((u) => u.length <= Protocol.MAX_NOTIFY_URL_LENGTH) as fc.Arbitrary<ConfirmRequest.NotifyUrl>

/** The joined serials stay within `transfer_detail`'s 1000 characters: drop serials from the end until they do. */
const fitDetail = (serials: Array<string>): Array<string> => {
  const kept = [...serials]
  while (
    kept.length > 1 &&
    kept.join(Protocol.DEFAULT_TRANSFER_SEPARATOR).length > Protocol.MAX_TRANSFER_DETAIL_LENGTH
  )
    kept.pop()
  return kept
}

/** A valid caller input (`ConfirmRequest.Input`) in `cs`: 1 to 30 unique serials, at most 1000 characters joined. */
export const confirmInputIn = (
  cs: Charset.Charset
): fc.Arbitrary<ConfirmRequest.Input & { readonly charset: string }> =>
  fc
    .record(
      {
        partner: partnerId,
        outerTaskId: outerTaskId(cs),
        transfers: fc
          .uniqueArray(transferSerial(cs), { minLength: 1, maxLength: Protocol.MAX_TRANSFERS })
          .map(fitDetail),
        notifyUrl,
        charset: fc.constant(cs as string)
      },
      { requiredKeys: ["partner", "outerTaskId", "transfers", "charset"] }
    )
    .filter((input) => Either.isRight(ConfirmRequest.validate(input)))

/** A valid caller input in any charset. */
export const confirmInput: fc.Arbitrary<ConfirmRequest.Input & { readonly charset: string }> = fc.oneof(
  ...Charset.values.map(confirmInputIn)
)

/** A validated request (`ConfirmRequest.ConfirmRequest`). */
export const confirmRequest: fc.Arbitrary<ConfirmRequest.ConfirmRequest> = confirmInput.map((input) =>
  Either.getOrThrow(ConfirmRequest.validate(input))
)

// ---------------------------------------------------------------------------------------------------------
// Hostile requests
// ---------------------------------------------------------------------------------------------------------

/** An input core must refuse, with one `field`/`rule` pair its `InvalidRequest` must contain. */
export interface Hostile {
  readonly input: ConfirmRequest.Input
  readonly field: string
  readonly rule: string
  readonly description: string
}

/** Characters an id must not contain. */
export const FORBIDDEN_CHARS: ReadonlyArray<string> = [
  " ",
  "\t",
  "\n",
  "\r",
  "\u0000",
  "\u007f",
  "\u3000",
  "&",
  "=",
  "%",
  "+",
  "#"
]

const insertAt = (s: string, at: number, piece: string) => {
  const i = at % (s.length + 1)
  return s.slice(0, i) + piece + s.slice(i)
}

const hostileCases: ReadonlyArray<fc.Arbitrary<Hostile>> = [
  fc.tuple(confirmInput, fc.constantFrom(...FORBIDDEN_CHARS), fc.nat()).map(([input, c, at]) => ({
    input: { ...input, outerTaskId: insertAt(input.outerTaskId, at, c) },
    field: "outer_task_id",
    rule: "forbidden_char",
    description: `outer_task_id contains ${JSON.stringify(c)}`
  })),
  fc
    .tuple(confirmInput, fc.constantFrom(...FORBIDDEN_CHARS), fc.nat(), fc.nat())
    .map(([input, c, which, at]) => {
      const i = which % input.transfers.length
      const transfers = input.transfers.map((s, j) => (j === i ? insertAt(s, at, c) : s))
      return {
        input: { ...input, transfers },
        field: `transfer_detail[${i}]`,
        rule: "forbidden_char",
        description: `serial ${i} contains ${JSON.stringify(c)}`
      }
    }),
  fc.tuple(confirmInput, fc.integer({ min: 51, max: 120 })).map(([input, n]) => ({
    input: { ...input, outerTaskId: "T".repeat(n) },
    field: "outer_task_id",
    rule: "max_length",
    description: `outer_task_id of ${n} characters`
  })),
  fc.tuple(confirmInput, fc.integer({ min: 31, max: 45 })).map(([input, n]) => ({
    input: { ...input, transfers: Array.from({ length: n }, (_, i) => `s${i}`) },
    field: "transfer_detail",
    rule: "max_count",
    description: `${n} transfers`
  })),
  fc.tuple(confirmInput, fc.integer({ min: 34, max: 40 })).map(([input, width]) => ({
    input: { ...input, transfers: Array.from({ length: 30 }, (_, i) => `${i}`.padStart(width, "x")) },
    field: "transfer_detail",
    rule: "max_length",
    description: `30 serials of ${width} characters`
  })),
  fc.tuple(confirmInput, fc.nat()).map(([input, at]) => {
    const source = at % input.transfers.length
    return {
      input: { ...input, transfers: [...input.transfers, input.transfers[source]!] },
      field: `transfer_detail[${input.transfers.length}]`,
      rule: "unique",
      description: `serial ${source} repeated`
    }
  }),
  fc.tuple(confirmInput, fc.nat(), fc.nat()).map(([input, which, at]) => {
    const i = which % input.transfers.length
    return {
      input: {
        ...input,
        transfers: input.transfers.map((s, j) =>
          j === i ? insertAt(s, at, Protocol.DEFAULT_TRANSFER_SEPARATOR) : s
        )
      },
      field: `transfer_detail[${i}]`,
      rule: "separator",
      description: `serial ${i} contains the separator`
    }
  }),
  fc.tuple(confirmInputIn("gbk"), fc.constantFrom("😀", "𠀀", "한", "ẞ"), fc.nat()).map(([input, c, at]) => ({
    input: { ...input, outerTaskId: insertAt(input.outerTaskId, at, c).slice(-50) },
    field: "outer_task_id",
    rule: "charset",
    description: `${JSON.stringify(c)} in a gbk outer_task_id`
  })),
  fc.tuple(confirmInputIn("gb2312"), fc.constantFrom("😀", "한")).map(([input, c]) => ({
    input: { ...input, transfers: [...input.transfers.slice(0, 29), `unencodable-${c}`] },
    field: "transfer_detail",
    rule: "charset",
    description: `${JSON.stringify(c)} in a gb2312 serial`
  })),
  fc
    .tuple(
      confirmInput,
      fc.constantFrom("", "2088", "1088101012352995", "20881010123529951", "2088abcdefghijkl")
    )
    .map(([input, partner]) => ({
      input: { ...input, partner },
      field: "partner",
      rule: "format",
      description: `partner ${JSON.stringify(partner)}`
    })),
  fc
    .tuple(
      confirmInput,
      fc.constantFrom("ftp://x.test/n", "/relative/notify", "platform.test/notify", "javascript:alert(1)")
    )
    .map(([input, url]) => ({
      input: { ...input, notifyUrl: url },
      field: "notify_url",
      rule: "format",
      description: `notify_url ${JSON.stringify(url)}`
    })),
  fc.tuple(confirmInput, fc.constantFrom("latin1", "utf-16", "big5", " utf-8", "")).map(([input, cs]) => ({
    input: { ...input, charset: cs },
    field: "_input_charset",
    rule: "enum",
    description: `charset ${JSON.stringify(cs)}`
  })),
  confirmInput.map((input) => ({
    input: { ...input, transfers: [] },
    field: "transfer_detail",
    rule: "min_count",
    description: "no transfers"
  })),
  fc.tuple(confirmInput, fc.nat()).map(([input, which]) => {
    const i = which % input.transfers.length
    return {
      input: { ...input, transfers: input.transfers.map((s, j) => (j === i ? "" : s)) },
      field: `transfer_detail[${i}]`,
      rule: "required",
      description: `serial ${i} is empty`
    }
  })
]

/** A hostile input of any kind. */
export const hostileInput: fc.Arbitrary<Hostile> = fc.oneof(...hostileCases)

// ---------------------------------------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------------------------------------

/** An amount as Alipay writes it: two decimal places, from 0.01 to 99 999 999.99 (`Notification.Amount`). */
export const amount: fc.Arbitrary<string> = fc
  .bigInt({ min: 1n, max: 9_999_999_999n })
  .map((cents) => `${cents / 100n}.${(cents % 100n).toString().padStart(2, "0")}`)

/** The same amounts as BigDecimal. */
export const amountBigDecimal: fc.Arbitrary<BigDecimal.BigDecimal> = amount.map((a) =>
  Option.getOrThrow(BigDecimal.fromString(a))
)

const pad = (n: number, w = 2) => n.toString().padStart(w, "0")
const dateParts = fc.date({
  min: new Date("2000-01-01T00:00:00Z"),
  max: new Date("2099-12-31T23:59:59Z"),
  noInvalidDate: true
})

/** `notify_time`: `yyyy-MM-dd HH:mm:ss`. */
export const notifyTime: fc.Arbitrary<string> = dateParts.map(
  (d) =>
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
)

/** `gmt_transfer`: `yyyyMMddHHmmss`. */
export const gmtTransfer: fc.Arbitrary<string> = dateParts.map(
  (d) =>
    `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`
)

/** A notify_id, including the `+`, `/` and `=` real ids carry. */
export const notifyId: fc.Arbitrary<string> = fc.stringMatching(/^[A-Za-z0-9+/=_-]{1,40}$/)

/** ASSIGN_FOR_ANNOUNCE_PAYMENT leaves (the wire side of `Notification.Assign`). */
export const assignLeaves = (cs: Charset.Charset = "utf-8"): fc.Arbitrary<NotificationSigner.Leaves> =>
  fc
    .record({
      outerTaskId: outerTaskId(cs),
      outerTransferNo: transferSerial(cs),
      transferAmount: amount,
      payeeUserId: userId,
      gmtTransfer
    })
    .map(NotificationSigner.assign)

/** PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT leaves (the wire side of `Notification.PlatformProfit`). */
export const platformProfitLeaves = (
  cs: Charset.Charset = "utf-8"
): fc.Arbitrary<NotificationSigner.Leaves> =>
  fc
    .record({
      outerTaskId: outerTaskId(cs),
      transferAmount: amount,
      serviceCharge: amount,
      payeeUserId: userId,
      gmtTransfer
    })
    .map(NotificationSigner.platformProfit)

/** A sub type core does not know, with some fields: it must be delivered as such. */
const unknownSubType = fc
  .stringMatching(/^[A-Z][A-Z_]{2,30}$/)
  .filter((s) => s !== Protocol.Notify.assign && s !== Protocol.Notify.platformProfit)
const extraFieldName = fc.stringMatching(/^x_[a-z_]{1,12}$/)

export const unknownSubTypeLeaves = (
  cs: Charset.Charset = "utf-8"
): fc.Arbitrary<NotificationSigner.Leaves> =>
  fc
    .tuple(
      unknownSubType,
      outerTaskId(cs),
      fc.uniqueArray(fc.tuple(extraFieldName, text(cs, 0, 20)), {
        maxLength: 4,
        selector: ([name]) => name
      })
    )
    .map(([subType, task, extra]) => [[Protocol.Notify.subType, subType], ["outer_task_id", task], ...extra])

/** Payload leaves of any sub type. */
export const notificationPayload = (cs: Charset.Charset = "utf-8"): fc.Arbitrary<NotificationSigner.Leaves> =>
  fc.oneof(assignLeaves(cs), platformProfitLeaves(cs), unknownSubTypeLeaves(cs))

/** A complete notification for `NotificationSigner.sign`: any charset, sub type and Content-Type style. */
export const notification: fc.Arbitrary<NotificationSigner.Options> = fc.oneof(
  ...Charset.values.map((cs) =>
    fc.record({
      notifyId,
      notifyTime,
      payload: notificationPayload(cs),
      charset: fc.constant(cs),
      contentType: fc.constantFrom<NotificationSigner.ContentTypeStyle>("standard", "malformed")
    })
  )
)

// ---------------------------------------------------------------------------------------------------------
// Gateway answers and transport
// ---------------------------------------------------------------------------------------------------------

/** An error code: every known one, plus unknown ones (kept verbatim by core). */
export const errorCode: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...Protocol.GATEWAY_ERROR_CODES, ...Protocol.WITKEY_ERROR_CODES),
  fc.stringMatching(/^[A-Z][A-Z_]{3,40}$/)
)

/** The signed content of a success (`GatewayResponse.TaskInfo`). */
export const taskInfo = (cs: Charset.Charset = "utf-8"): fc.Arbitrary<typeof GatewayResponse.TaskInfo.Type> =>
  outerTaskId(cs).map((id) => ({ outer_task_id: id }))

/** What an answer should say; build its bytes with `GatewayAnswer.success` / `GatewayAnswer.failure`. */
export type ResponseSpec =
  | {
      readonly _tag: "Success"
      readonly outerTaskId: string
      readonly charset: Charset.Charset
      readonly request: ReadonlyArray<readonly [string, string]>
    }
  | { readonly _tag: "Failure"; readonly code: string; readonly charset: Charset.Charset }

const paramName = fc.stringMatching(/^[a-z_]{1,16}$/)

export const responseSpec: fc.Arbitrary<ResponseSpec> = fc.oneof(
  ...Charset.values.map((cs) =>
    fc.oneof(
      fc
        .tuple(outerTaskId(cs), fc.array(fc.tuple(paramName, text(cs, 0, 20)), { maxLength: 6 }))
        .map(([id, request]): ResponseSpec => ({ _tag: "Success", outerTaskId: id, charset: cs, request })),
      errorCode.map((code): ResponseSpec => ({ _tag: "Failure", code, charset: cs }))
    )
  )
)

/** Any raw transport answer: status, arbitrary bytes, a Content-Type or none. */
export const rawResponse: fc.Arbitrary<Transport.RawResponse> = fc.record({
  status: fc.integer({ min: 100, max: 599 }),
  body: fc.uint8Array({ maxLength: 2048 }),
  contentType: fc.option(
    fc.constantFrom("text/xml; charset=utf-8", "text/xml;charset=GBK", "text/html", ""),
    {
      nil: undefined
    }
  )
})

/** `Transport.TransportError`, from its schema. */
export const transportError: fc.Arbitrary<Transport.TransportError> = Arbitrary.make(Transport.TransportError)

/** `GatewayResponse.GatewayRejected` with any code. */
export const gatewayRejected: fc.Arbitrary<GatewayResponse.GatewayRejected> = errorCode.map(
  (code) => new GatewayResponse.GatewayRejected({ code })
)

/** `ConfirmRequest.InvalidRequest`, as core builds it from a hostile input. */
export const invalidRequest: fc.Arbitrary<ConfirmRequest.InvalidRequest> = hostileInput.map((h) =>
  Either.getLeft(ConfirmRequest.validate(h.input)).pipe(Option.getOrThrow)
)

/** The other typed errors of core, from their schemas. */
export const signatureError: fc.Arbitrary<SignatureError.SignatureError> = Arbitrary.make(
  SignatureError.SignatureError
)
export const malformedResponse: fc.Arbitrary<GatewayResponse.MalformedResponse> = Arbitrary.make(
  GatewayResponse.MalformedResponse
)
export const unknownOutcome: fc.Arbitrary<Client.UnknownOutcome> = Arbitrary.make(Client.UnknownOutcome)
