/**
 * The gateway's synchronous answers exactly as the sandbox writes them (PROTOCOL.md §4): signed successes,
 * unsigned failures, and the broken variants of the fault catalogue. Useful on its own to feed a decoder or a
 * stubbed transport with realistic bytes.
 *
 * - Success: `<alipay><is_success>T</is_success><request>…</request><response><task_info>…</task_info>
 *   </response><sign>…</sign><sign_type>DSA</sign_type></alipay>`; the leaves of `task_info` go through the
 *   canonical string in the request charset and are signed with the injected `Signer` (the gateway key).
 * - Failure: `<alipay><is_success>F</is_success><error>CODE</error></alipay>`, unsigned.
 * - Bytes in the charset, with an XML declaration naming it (`utf-8`, `GBK`, `GB2312`) and a Content-Type
 *   `text/xml; charset=…` naming it too.
 *
 * @since 0.1.0
 */
import * as Charset from "@witkey/core/Charset"
import * as Protocol from "@witkey/core/Protocol"
import * as Signer from "@witkey/core/Signer"
import * as SigningString from "@witkey/core/SigningString"
import type { RawResponse } from "@witkey/core/Transport"
import { Effect } from "effect"
import { escapeXml, label } from "./internal/Wire.js"

export interface SuccessOptions {
  readonly outerTaskId: string
  readonly charset: Charset.Charset
  /** The request's parameters, echoed in `<request>` in this order (unsigned, as the gateway does). */
  readonly request?: ReadonlyArray<readonly [string, string]> | undefined
  /** More signed leaves of `task_info` besides `outer_task_id`. */
  readonly extraLeaves?: ReadonlyArray<readonly [string, string]> | undefined
}

/** `text/xml; charset=<label>`. */
export const contentType = (charset: Charset.Charset): string => `text/xml; charset=${label(charset)}`

const declaration = (charset: Charset.Charset) => `<?xml version="1.0" encoding="${label(charset)}"?>`

const element = (name: string, text: string) => `<${name}>${escapeXml(text)}</${name}>`

const leavesOf = (options: SuccessOptions): Array<readonly [string, string]> => [
  ["outer_task_id", options.outerTaskId],
  ...(options.extraLeaves ?? [])
]

const successXml = (options: SuccessOptions, signature: { sign: string; signType: string } | undefined) => {
  const R = Protocol.Response
  const echo = (options.request ?? [])
    .map(([name, value]) => `<param name="${escapeXml(name)}">${escapeXml(value)}</param>`)
    .join("")
  const leaves = leavesOf(options)
    .map(([n, v]) => element(n, v))
    .join("")
  return (
    `${declaration(options.charset)}<${R.root}>${element(R.isSuccess, R.success)}<request>${echo}</request>` +
    `<${R.response}><${R.taskInfo}>${leaves}</${R.taskInfo}></${R.response}>` +
    (signature === undefined
      ? ""
      : element(R.sign, signature.sign) + element(R.signType, signature.signType)) +
    `</${R.root}>`
  )
}

const respond = (xml: string, charset: Charset.Charset, status = 200): RawResponse => ({
  status,
  body: Charset.encode(xml, charset),
  contentType: contentType(charset)
})

/** The canonical string the success answer's signature covers. */
export const signedString = (options: SuccessOptions): string => SigningString.make(leavesOf(options))

/** A success signed with the `Signer` in context. */
export const success = (
  options: SuccessOptions
): Effect.Effect<RawResponse, Signer.SignError, Signer.Signer> =>
  Effect.gen(function* () {
    const signer = yield* Signer.Signer
    const sign = yield* signer.sign(SigningString.bytes(leavesOf(options), options.charset))
    return respond(successXml(options, { sign, signType: signer.signType }), options.charset)
  })

/** A success without `<sign>` and `<sign_type>`: not a verified success, whatever it says. */
export const unsigned = (options: SuccessOptions): RawResponse =>
  respond(successXml(options, undefined), options.charset)

/** A failure with `code` (unsigned, as the gateway sends it). */
export const failure = (code: string, charset: Charset.Charset = "utf-8"): RawResponse => {
  const R = Protocol.Response
  return respond(
    `${declaration(charset)}<${R.root}>${element(R.isSuccess, R.failure)}${element(R.error, code)}</${R.root}>`,
    charset
  )
}

/** The first half of an answer's bytes: a connection cut mid-body. */
export const truncate = (response: RawResponse): RawResponse => ({
  ...response,
  body: response.body.slice(0, Math.floor(response.body.length / 2))
})

/** An HTML error page with `status`, as a reverse proxy in front of the gateway answers. */
export const serverError = (status: number): RawResponse => ({
  status,
  body: new TextEncoder().encode(
    `<html><head><title>${status}</title></head><body><h1>${status} Server Error</h1></body></html>`
  ),
  contentType: "text/html; charset=utf-8"
})
