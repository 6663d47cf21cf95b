// Test-only: a node:http POST with full control over framing (declared length, chunks, never ending), for the
// endpoint's body limits. Only ever aimed at 127.0.0.1.
import { Effect } from "effect"
import * as http from "node:http"

export interface Answer {
  readonly status: number
  readonly body: Buffer
  readonly contentType: string | undefined
  readonly headers: http.IncomingHttpHeaders
}

export interface Request {
  readonly url: string
  readonly method?: string
  readonly headers?: Record<string, string | number>
  readonly chunks: ReadonlyArray<Uint8Array>
  /** Leave the body open (a slow sender). Default false. */
  readonly keepOpen?: boolean
}

export const send = (request: Request): Effect.Effect<Answer> =>
  Effect.async<Answer>((resume) => {
    const req = http.request(request.url, {
      method: request.method ?? "POST",
      headers: request.headers ?? {},
      agent: false
    })
    req.on("response", (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      const done = () =>
        resume(
          Effect.succeed({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks),
            contentType: res.headers["content-type"],
            headers: res.headers
          })
        )
      res.on("end", done)
      res.on("error", done)
    })
    // An error before any answer is reported as status 0 (the error code as body), so a test fails, not hangs.
    req.on("error", (e: NodeJS.ErrnoException) =>
      resume(
        Effect.succeed({
          status: 0,
          body: Buffer.from(e.code ?? e.message),
          contentType: undefined,
          headers: {}
        })
      )
    )
    for (const chunk of request.chunks) req.write(chunk)
    if (!request.keepOpen) req.end()
    return Effect.sync(() => req.destroy())
  })

export const post = (url: string, body: Uint8Array, contentType: string): Effect.Effect<Answer> =>
  send({ url, headers: { "content-type": contentType, "content-length": body.length }, chunks: [body] })
