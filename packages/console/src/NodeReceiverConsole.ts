/**
 * The receiver console as a Node `(req, res, next?)` handler, for a receiver on node:http or Express (mounted
 * without a path, `app.use(handler)`, so it sees the whole URL): requests under the prefix are the console's,
 * anything else goes to `next` (Express) or is answered 404 (plain node:http).
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as Inbox from "@witkey/core/Inbox"
import { Effect } from "effect"
import type * as Http from "node:http"
import * as ReceiverConsole from "./ReceiverConsole.js"

export type Handler = (
  request: Http.IncomingMessage,
  response: Http.ServerResponse,
  next?: () => void
) => void

/** The handler, over the `Inbox.Operations` (and the replay handler's services) in context. */
export const make = <E, R>(
  options: ReceiverConsole.Options<E, R>
): Effect.Effect<Handler, ReceiverConsole.ConsoleError, Inbox.Operations | R> =>
  Effect.gen(function* () {
    const prefix = options.prefix ?? ReceiverConsole.DEFAULT_PREFIX
    const app = yield* ReceiverConsole.make(options)
    const handle = yield* NodeHttpServer.makeHandler(app)
    return (request, response, next) => {
      const path = (request.url ?? "/").split("?")[0]!
      if (path.startsWith(prefix) || path === prefix.slice(0, -1)) return handle(request, response)
      if (next !== undefined) return next()
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n")
    }
  })
