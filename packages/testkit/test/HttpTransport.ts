// A tiny core Transport over @effect/platform's HttpClient (Node's http), for the testkit's own HTTP tests:
// node-http's HttpTransport is another package, and the TransportSuite is checked here against this one.
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Transport from "@witkey/core/Transport"
import type { Duration } from "effect"
import { Effect, Layer } from "effect"

const codeOf = (cause: unknown): string | undefined => {
  let current: unknown = cause
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

const error = (reason: Transport.TransportError["reason"], mayHaveReached: boolean, message: string) =>
  new Transport.TransportError({ reason, mayHaveReached, message })

export const layer = (timeout: Duration.DurationInput): Layer.Layer<Transport.Transport> =>
  Layer.effect(
    Transport.Transport,
    Effect.map(HttpClient.HttpClient, (client) =>
      Transport.make((url) =>
        client.execute(HttpClientRequest.get(url)).pipe(
          Effect.flatMap((response) =>
            Effect.map(response.arrayBuffer, (body) => ({
              status: response.status,
              body: new Uint8Array(body),
              contentType: response.headers["content-type"]
            }))
          ),
          Effect.scoped,
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => error("timeout", true, "no answer in time")
          }),
          Effect.catchTags({
            RequestError: (e) =>
              Effect.fail(
                e.reason === "InvalidUrl"
                  ? error("invalid_url", false, e.message)
                  : codeOf(e.cause) === "ECONNREFUSED"
                    ? error("connect", false, e.message)
                    : error("network", true, e.message)
              ),
            ResponseError: (e) => Effect.fail(error("network", true, e.message))
          })
        )
      )
    )
  ).pipe(
    Layer.provide(NodeHttpClient.layerWithoutAgent),
    Layer.provide(NodeHttpClient.makeAgentLayer({ keepAlive: false }))
  )
