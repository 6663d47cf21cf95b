// Loopback HTTP for tests: a node:http server for the life of a scope, and a GET and a POST that return the
// status and the body as text. Test support only: this folder is outside the package's published `files`.
import { Effect, type Scope } from "effect"
import * as Http from "node:http"

/** A node:http server on 127.0.0.1 running `listener` for the life of the scope; its base URL. */
export const listen = (listener: Http.RequestListener): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(listener)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(
    Effect.map((server) => {
      const address = server.address()
      return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`
    })
  )

export interface Answer {
  readonly status: number
  readonly text: string
}

const answer = (resolve: (a: Answer) => void) => (response: Http.IncomingMessage) => {
  let text = ""
  response.setEncoding("utf8")
  response.on("data", (chunk) => (text += chunk))
  response.on("end", () => resolve({ status: response.statusCode ?? 0, text }))
}

/** GET `url`: the status and the body. */
export const get = (url: string, headers: Record<string, string> = {}): Effect.Effect<Answer> =>
  Effect.promise(
    () =>
      new Promise<Answer>((resolve, reject) => {
        Http.get(url, { headers }, answer(resolve)).on("error", reject)
      })
  )

/** POST a form to `url`: the status and the body. */
export const post = (
  url: string,
  body: string,
  headers: Record<string, string> = {}
): Effect.Effect<Answer> =>
  Effect.promise(
    () =>
      new Promise<Answer>((resolve, reject) => {
        const request = Http.request(
          url,
          { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers } },
          answer(resolve)
        )
        request.on("error", reject)
        request.end(body)
      })
  )
