/**
 * The gateway's synchronous XML answer (PROTOCOL.md §4): charset detection, hardened parsing, verification of
 * the signed leaves of `<response>`, and decoding of only what was signed.
 *
 * @since 0.1.0
 */
import { Effect, Either, Option, Schema } from "effect"
import * as Charset from "./Charset.js"
import * as ErrorCode from "./ErrorCode.js"
import * as Xml from "./internal/Xml.js"
import * as Protocol from "./Protocol.js"
import { SignatureError } from "./SignatureError.js"
import * as SigningString from "./SigningString.js"
import * as Verifier from "./Verifier.js"

/** The answer could not be read as a gateway answer at all. */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", {
  reason: Schema.Literal(
    "too_large",
    "charset",
    "forbidden_markup",
    "too_deep",
    "not_xml",
    "structure",
    "fields"
  ),
  message: Schema.String
}) {}

/** The gateway answered `is_success=F` with a code (unsigned, as the gateway sends it). */
export class GatewayRejected extends Schema.TaggedError<GatewayRejected>()("GatewayRejected", {
  code: Schema.String
}) {
  /** The code classified: gateway-wide, witkey business, or unknown (kept verbatim). */
  get errorCode(): ErrorCode.ErrorCode {
    return ErrorCode.fromString(this.code)
  }
  get category(): ErrorCode.Category {
    return this.errorCode.category
  }
  override get message(): string {
    return `the gateway rejected the request: ${this.code} (${this.category})`
  }
}

/** The signed content of a success: `task_info`'s leaves. */
export const TaskInfo = Schema.Struct({
  outer_task_id: Schema.NonEmptyTrimmedString
})

const decodeTaskInfo = Schema.decodeUnknownEither(TaskInfo)

/** A verified `is_success=T`, carrying only signed fields. */
export interface Confirmed {
  readonly isSuccess: "T"
  readonly outerTaskId: string
  /** Every signed leaf, by wire name. */
  readonly signed: Readonly<Record<string, string>>
  /** The trusted key whose signature matched. */
  readonly verifiedBy: Verifier.Match
}

export interface RawAnswer {
  readonly body: Uint8Array
  readonly contentType?: string | undefined
}

export type DecodeError = GatewayRejected | SignatureError | MalformedResponse

const textOf = (root: Xml.XmlElement, name: string): string | undefined => {
  const element = Xml.child(root, name)
  return element === undefined ? undefined : Xml.trim(element.text)
}

const malformed = (reason: MalformedResponse["reason"], message: string) =>
  new MalformedResponse({ reason, message })

/** The charset the body is read in: its XML declaration, else the Content-Type, else the request's. */
export const detectCharset = (
  answer: RawAnswer,
  requestCharset: Charset.Charset
): Either.Either<Charset.Charset, MalformedResponse> => {
  const declared = Xml.declaredEncoding(answer.body)
  if (declared !== undefined) {
    const cs = Charset.parse(declared)
    return cs ? Either.right(cs) : Either.left(malformed("charset", `unsupported XML encoding "${declared}"`))
  }
  return Either.right(Charset.fromContentType(answer.contentType) ?? requestCharset)
}

/** Reads the body into an element tree, refusing what is too large, undecodable or dangerous. */
const parseBody = (answer: RawAnswer, requestCharset: Charset.Charset) =>
  Either.gen(function* () {
    if (answer.body.length > Protocol.Response.maxBytes)
      return yield* Either.left(malformed("too_large", `body exceeds ${Protocol.Response.maxBytes} bytes`))
    const charset = yield* detectCharset(answer, requestCharset)
    const text = yield* Either.mapLeft(Charset.decode(answer.body, charset), (m) => malformed("charset", m))
    const root = yield* Either.mapLeft(
      Xml.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, {
        maxDepth: Protocol.Response.maxDepth,
        maxElements: Protocol.Response.maxElements
      }),
      (f) => malformed(f.reason, f.message)
    )
    if (root.name !== Protocol.Response.root)
      return yield* Either.left(malformed("structure", `root element is <${root.name}>, expected <alipay>`))
    // A second <is_success> or <sign> could make two readers of one answer disagree: refuse it.
    const seen = new Set<string>()
    for (const child of root.children) {
      if (seen.has(child.name))
        return yield* Either.left(malformed("structure", `<${child.name}> appears twice in <alipay>`))
      seen.add(child.name)
    }
    return root
  })

/**
 * Decodes and verifies an answer. `charset` is the request's `_input_charset`: the signed leaves are put
 * through the canonical string in it (PROTOCOL.md §4).
 */
export const decode = (
  answer: RawAnswer,
  charset: Charset.Charset
): Effect.Effect<Confirmed, DecodeError, Verifier.Verifier> =>
  Effect.gen(function* () {
    const root = yield* parseBody(answer, charset)
    const flag = textOf(root, Protocol.Response.isSuccess)
    if (flag === Protocol.Response.failure) {
      const code = textOf(root, Protocol.Response.error)
      if (!code) return yield* malformed("structure", "is_success=F without an <error> code")
      return yield* new GatewayRejected({ code })
    }
    if (flag !== Protocol.Response.success)
      return yield* malformed(
        "structure",
        `<is_success> is ${flag === undefined ? "missing" : `"${flag}"`}, expected T or F`
      )
    const sign = Xml.child(root, Protocol.Response.sign)?.text.replace(/\s+/g, "")
    if (!sign)
      return yield* new SignatureError({
        reason: "missing",
        source: "response",
        message: "is_success=T without a <sign>: not a verified success"
      })
    const verifier = yield* Verifier.Verifier
    const signType = textOf(root, Protocol.Response.signType)
    if (signType !== verifier.signType)
      return yield* new SignatureError({
        reason: "sign_type",
        source: "response",
        message: `<sign_type> is ${signType === undefined ? "missing" : `"${signType}"`}; only ${verifier.signType} is accepted`
      })
    const response = Xml.child(root, Protocol.Response.response)
    const inner = response?.children ?? []
    if (inner.length !== 1)
      return yield* malformed("structure", `<response> must hold exactly one element, found ${inner.length}`)
    const leaves = Xml.leaves(inner[0]!)
    if (Either.isLeft(leaves))
      return yield* malformed("structure", `<${leaves.left}> appears twice in <${inner[0]!.name}>`)
    // Exactly the leaves that were signed (a leaf named sign or sign_type, or an empty one, is not) are the
    // ones returned below.
    const signedPairs = SigningString.signedPairs(leaves.right)
    const bytes = Charset.encode(SigningString.join(signedPairs), charset)
    const verifiedBy = yield* verifier.match(bytes, sign)
    if (Option.isNone(verifiedBy))
      return yield* new SignatureError({
        reason: "mismatch",
        source: "response",
        message: `signature does not match the canonical string of <${inner[0]!.name}> (${charset}, ${bytes.length} bytes); check the Alipay public key and charset`,
        checked: SigningString.describe(bytes, charset)
      })
    const signed = Object.fromEntries(signedPairs)
    const info = yield* Either.mapLeft(decodeTaskInfo(signed), (e) =>
      malformed("fields", `signed fields are invalid: ${e.message}`)
    )
    return { isSuccess: "T" as const, outerTaskId: info.outer_task_id, signed, verifiedBy: verifiedBy.value }
  })
