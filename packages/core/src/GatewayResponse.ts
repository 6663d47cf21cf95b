/**
 * The gateway's synchronous XML answer (PROTOCOL.md §4): charset detection, hardened parsing, verification of
 * the signed leaves of `<response>`, and decoding of only what was signed.
 *
 * @since 0.1.0
 */
import { Effect, Either, Option, Schema } from "effect"
import * as Charset from "./Charset.js"
import * as ErrorCode from "./ErrorCode.js"
import * as Decoders from "./internal/decoders.js"
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
  [Protocol.Param.outerTaskId]: Schema.NonEmptyTrimmedString
})

// `exact`: a field is read only from the signed set itself, never from a prototype (as the fast decoder reads it).
const decodeTaskInfo = Schema.decodeUnknownEither(TaskInfo, { exact: true })

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
const parseBody = (
  answer: RawAnswer,
  requestCharset: Charset.Charset
): Either.Either<Xml.XmlElement, MalformedResponse> => {
  if (answer.body.length > Protocol.Response.maxBytes)
    return Either.left(malformed("too_large", `body exceeds ${Protocol.Response.maxBytes} bytes`))
  const charset = detectCharset(answer, requestCharset)
  if (Either.isLeft(charset)) return Either.left(charset.left)
  const text = Charset.decode(answer.body, charset.right)
  if (Either.isLeft(text)) return Either.left(malformed("charset", text.left))
  const parsed = Xml.parse(text.right.charCodeAt(0) === 0xfeff ? text.right.slice(1) : text.right, {
    maxDepth: Protocol.Response.maxDepth,
    maxElements: Protocol.Response.maxElements
  })
  if (Either.isLeft(parsed)) return Either.left(malformed(parsed.left.reason, parsed.left.message))
  const root = parsed.right
  if (root.name !== Protocol.Response.root)
    return Either.left(malformed("structure", `root element is <${root.name}>, expected <alipay>`))
  // A second <is_success> or <sign> could make two readers of one answer disagree: refuse it. (A scan: an
  // answer has a handful of children, a set costs more.)
  const children = root.children
  for (let i = 1; i < children.length; i++)
    for (let k = 0; k < i; k++)
      if (children[k]!.name === children[i]!.name)
        return Either.left(malformed("structure", `<${children[i]!.name}> appears twice in <alipay>`))
  return Either.right(root)
}

const decodeTaskInfoFast = (signed: Readonly<Record<string, string>>) => {
  // By hand when it passes; the schema says what is wrong otherwise (internal/decoders.ts).
  const fast = Decoders.taskInfo(signed)
  return fast !== undefined
    ? Either.right(fast)
    : Either.mapLeft(decodeTaskInfo(signed), (e) =>
        malformed("fields", `signed fields are invalid: ${e.message}`)
      )
}

const WHITESPACE = /\s/

/** What `decode` checks before the signature: the flag, the signature, its type and the signed leaves. */
interface Checked {
  readonly sign: string
  readonly inner: Xml.XmlElement
  readonly signedPairs: Array<readonly [string, string]>
  readonly bytes: Uint8Array
}

const check = (
  answer: RawAnswer,
  charset: Charset.Charset,
  signType: string
): Either.Either<Checked, DecodeError> => {
  const parsed = parseBody(answer, charset)
  if (Either.isLeft(parsed)) return Either.left(parsed.left)
  const root = parsed.right
  const flag = textOf(root, Protocol.Response.isSuccess)
  if (flag === Protocol.Response.failure) {
    const code = textOf(root, Protocol.Response.error)
    if (!code) return Either.left(malformed("structure", "is_success=F without an <error> code"))
    return Either.left(new GatewayRejected({ code }))
  }
  if (flag !== Protocol.Response.success)
    return Either.left(
      malformed(
        "structure",
        `<is_success> is ${flag === undefined ? "missing" : `"${flag}"`}, expected T or F`
      )
    )
  const signText = Xml.child(root, Protocol.Response.sign)?.text
  const sign = signText !== undefined && WHITESPACE.test(signText) ? signText.replace(/\s+/g, "") : signText
  if (!sign)
    return Either.left(
      new SignatureError({
        reason: "missing",
        source: "response",
        message: "is_success=T without a <sign>: not a verified success"
      })
    )
  const declaredType = textOf(root, Protocol.Response.signType)
  if (declaredType !== signType)
    return Either.left(
      new SignatureError({
        reason: "sign_type",
        source: "response",
        message: `<sign_type> is ${declaredType === undefined ? "missing" : `"${declaredType}"`}; only ${signType} is accepted`
      })
    )
  const response = Xml.child(root, Protocol.Response.response)
  const inner = response?.children ?? []
  if (inner.length !== 1)
    return Either.left(
      malformed("structure", `<response> must hold exactly one element, found ${inner.length}`)
    )
  const leaves = Xml.leaves(inner[0]!)
  if (Either.isLeft(leaves))
    return Either.left(malformed("structure", `<${leaves.left}> appears twice in <${inner[0]!.name}>`))
  // Exactly the leaves that were signed (a leaf named sign or sign_type, or an empty one, is not) are the
  // ones returned after the check.
  const signedPairs = SigningString.signedPairs(leaves.right)
  const bytes = Charset.encode(SigningString.join(signedPairs), charset)
  return Either.right({ sign, inner: inner[0]!, signedPairs, bytes })
}

/**
 * Decodes and verifies an answer. `charset` is the request's `_input_charset`: the signed leaves are put
 * through the canonical string in it (PROTOCOL.md §4). One Effect step (the Verifier's); everything around it
 * is plain code.
 */
export const decode = (
  answer: RawAnswer,
  charset: Charset.Charset
): Effect.Effect<Confirmed, DecodeError, Verifier.Verifier> =>
  Effect.flatMap(Verifier.Verifier, (verifier) => verifyAndDecode(verifier, answer, charset))

/**
 * `decode` with the Verifier given directly, for callers that hold it already (the Client does): providing it
 * per answer (`Effect.provideService`) copies the fiber's references twice, which cost more than the rest of
 * the decode between network events (BENCHMARKS.md row 5).
 */
export const decodeWith = (
  verifier: Verifier.Verifier,
  answer: RawAnswer,
  charset: Charset.Charset
): Effect.Effect<Confirmed, DecodeError> => Effect.suspend(() => verifyAndDecode(verifier, answer, charset))

/** The work of `decode`, run when the effect runs (inside `flatMap` or `suspend`). */
const verifyAndDecode = (
  verifier: Verifier.Verifier,
  answer: RawAnswer,
  charset: Charset.Charset
): Effect.Effect<Confirmed, DecodeError> => {
  const checked = check(answer, charset, verifier.signType)
  if (Either.isLeft(checked)) return Either.left(checked.left)
  const { bytes, inner, sign, signedPairs } = checked.right
  return Effect.flatMap(verifier.match(bytes, sign), (verifiedBy): Effect.Effect<Confirmed, DecodeError> => {
    if (Option.isNone(verifiedBy))
      return Either.left(
        new SignatureError({
          reason: "mismatch",
          source: "response",
          message: `signature does not match the canonical string of <${inner.name}> (${charset}, ${bytes.length} bytes); check the Alipay public key and charset`,
          checked: SigningString.describe(bytes, charset)
        })
      )
    const signed = Decoders.record(signedPairs)
    const info = decodeTaskInfoFast(signed)
    if (Either.isLeft(info)) return Either.left(info.left)
    return Either.right({
      isSuccess: "T" as const,
      outerTaskId: info.right.outer_task_id,
      signed,
      verifiedBy: verifiedBy.value
    })
  })
}
