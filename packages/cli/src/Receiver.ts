/**
 * The notification receiver `witkey serve` and `witkey demo` run: node-http's body reading and answers around
 * core's `NotificationReceiver`, with every result reported to the caller (to print processed notifications,
 * or count them) after the inbox has committed and before Alipay gets its answer.
 *
 * @since 0.1.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import type * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as NotificationEndpoint from "@witkey/node-http/NotificationEndpoint"
import type { Scope } from "effect"
import { Effect } from "effect"

export interface Options<E, R> {
  /** Ask the gateway's notify_verify before handling. */
  readonly notifyVerify: boolean
  /** The platform's business effect; runs at most once per event, inside the inbox. */
  readonly handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
  /** Told about every delivery's result. */
  readonly onResult: (result: NotificationReceiver.Result) => Effect.Effect<void>
  /** Told about a body that could not be read. */
  readonly onBodyError?: ((error: NotificationEndpoint.BodyError) => Effect.Effect<void>) | undefined
}

export const httpApp = <E, R>(
  options: Options<E, R>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  never,
  | HttpServerRequest.HttpServerRequest
  | Scope.Scope
  | NotificationReceiver.NotificationReceiver
  | Inbox.Inbox
  | R
> =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = yield* Effect.either(NotificationEndpoint.readBody(request))
    if (body._tag === "Left") {
      if (options.onBodyError) yield* options.onBodyError(body.left)
      return NotificationEndpoint.bodyErrorResponse(body.left)
    }
    // Once the body is in, the caller hanging up does not cut handling and reporting short.
    return yield* Effect.uninterruptible(
      Effect.gen(function* () {
        const answer = yield* NotificationEndpoint.respond(
          { body: body.right, contentType: request.headers["content-type"] },
          options.handler,
          { notifyVerify: options.notifyVerify }
        )
        if (answer.result._tag === "NotificationBodyError") {
          if (options.onBodyError) yield* options.onBodyError(answer.result)
        } else yield* options.onResult(answer.result)
        return NotificationEndpoint.toHttpResponse(answer)
      })
    )
  })
