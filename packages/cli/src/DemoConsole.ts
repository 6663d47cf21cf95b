/**
 * `witkey demo --console`: after the run, both consoles stay up (the sandbox's at `/` of the gateway's port,
 * the receiver's at `/_witkey/` of the receiver's) until Ctrl-C, with a line telling where to open them. Both
 * servers are on loopback, so the receiver's console needs no token.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import * as ReceiverConsole from "@witkey/console/ReceiverConsole"
import * as Effect from "effect/Effect"
import * as Output from "./Output.js"

/** Where the consoles are, and what to do once the run is over (print, then wait). */
export interface Hold {
  readonly after: (where: { readonly sandbox: string; readonly receiver: string }) => Effect.Effect<void>
}

/** Prints `report`, then where the consoles are, then waits for Ctrl-C. */
export const hold = (report: Effect.Effect<void>): Hold => ({
  after: (where) =>
    Effect.gen(function* () {
      yield* report
      yield* Output.diagnostic(
        `witkey demo: the consoles stay up: the sandbox at ${where.sandbox}, the receiver at ${where.receiver}; Ctrl-C to stop`
      )
      return yield* Effect.never
    })
})

/** The receiver's app with its console in front (loopback, so no token), replaying with the demo's handler. */
export const receiverApp = <E, R, E2, R2>(
  port: number,
  handler: (n: Notification.Notification) => Effect.Effect<void, E2, R2>,
  endpoint: HttpApp.Default<E, R>
): Effect.Effect<HttpApp.Default<E, R | R2 | Inbox.Operations>> =>
  ReceiverConsole.serveWith({ host: "127.0.0.1", port, handler }, endpoint).pipe(Effect.orDie)

export const receiverUrl = (port: number): string =>
  `http://127.0.0.1:${port}${ReceiverConsole.DEFAULT_PREFIX}`
