/**
 * `notify_verify` (PROTOCOL.md §6): asks the gateway whether a notify_id is one it sent.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as Charset from "./Charset.js"
import * as Protocol from "./Protocol.js"
import * as SignedRequest from "./SignedRequest.js"
import * as Transport from "./Transport.js"
import { withSpanIfTraced } from "./internal/span.js"

export type Answer = "true" | "false" | "invalid"

/** The gateway answered something other than true/false/invalid, or not 200. */
export class NotifyVerifyError extends Schema.TaggedError<NotifyVerifyError>()("NotifyVerifyError", {
  reason: Schema.Literal("unexpected_answer", "transport"),
  message: Schema.String
}) {}

export const url = (gateway: string, partner: string, notifyId: string): string =>
  SignedRequest.toUrl(
    gateway,
    SignedRequest.toQuery(
      [
        [Protocol.NotifyVerify.params.service, Protocol.NotifyVerify.service],
        [Protocol.NotifyVerify.params.partner, partner],
        [Protocol.NotifyVerify.params.notifyId, notifyId]
      ],
      Protocol.NotifyVerify.charset
    )
  )

/** Interprets a raw answer: only the body `true` (surrounding whitespace tolerated) confirms. */
export const interpret = (response: Transport.RawResponse): Answer | undefined => {
  if (response.status !== 200) return undefined
  const text = Charset.decode(response.body, Protocol.NotifyVerify.charset)
  if (text._tag === "Left") return undefined
  const body = text.right.trim()
  return body === "true" || body === "false" || body === "invalid" ? body : undefined
}

export const check = (
  gateway: string,
  partner: string,
  notifyId: string
): Effect.Effect<Answer, NotifyVerifyError, Transport.Transport> =>
  Effect.gen(function* () {
    const transport = yield* Transport.Transport
    const response = yield* transport
      .get(url(gateway, partner, notifyId))
      .pipe(Effect.mapError((e) => new NotifyVerifyError({ reason: "transport", message: e.message })))
    const answer = interpret(response)
    if (answer === undefined)
      return yield* new NotifyVerifyError({
        reason: "unexpected_answer",
        message: `notify_verify answered HTTP ${response.status} with ${response.body.length} bytes that are not true/false/invalid`
      })
    return answer
  }).pipe(withSpanIfTraced("witkey.notify_verify", () => ({ captureStackTrace: false })))
