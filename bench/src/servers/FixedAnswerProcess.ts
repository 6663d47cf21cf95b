// Child process of row 5: a minimal gateway that answers every GET with one fixed, validly signed `T` answer
// for `outerTaskId` (argv[2]), so that it is never the bottleneck (no parsing, no signing per request). Four
// listeners: plain HTTP and TLS (the test-only certificate of fixtures/tls), each keeping connections alive or
// closing them after every answer (`Connection: close`). `GET /__cpu` on any of them answers this process's
// CPU time so far (µs), for the bench to check how busy the server was while it was measured. Prints one JSON
// line `{ http, httpClose, https, httpsClose }` (base URLs) once listening; runs until killed.
import { readFileSync } from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import { responseBody } from "../Inputs.js"

const outerTaskId = process.argv[2] ?? "bench-task"
const body = Buffer.from(responseBody(outerTaskId))
const tls = {
  cert: readFileSync(new URL("../../../fixtures/tls/cert.pem", import.meta.url)),
  key: readFileSync(new URL("../../../fixtures/tls/key.pem", import.meta.url))
}

const keepHeaders = { "content-type": "text/xml; charset=utf-8", "content-length": String(body.length) }
const closeHeaders = { ...keepHeaders, connection: "close" }

const handler =
  (headers: Readonly<Record<string, string>>) => (req: Http.IncomingMessage, res: Http.ServerResponse) => {
    if (req.url === "/__cpu") {
      const usage = process.cpuUsage()
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify(usage.user + usage.system))
      return
    }
    res.writeHead(200, headers).end(body)
  }

const listen = (server: Http.Server | Https.Server, scheme: string) =>
  new Promise<string>((resolve) => {
    // Longer than any pause between the bench's slices: the clients' pools drop idle connections first.
    server.keepAliveTimeout = 30_000
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resolve(`${scheme}://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`)
    })
  })

const [http, httpClose, https, httpsClose] = await Promise.all([
  listen(Http.createServer(handler(keepHeaders)), "http"),
  listen(Http.createServer(handler(closeHeaders)), "http"),
  listen(Https.createServer(tls, handler(keepHeaders)), "https"),
  listen(Https.createServer(tls, handler(closeHeaders)), "https")
])
process.stdout.write(`${JSON.stringify({ http, httpClose, https, httpsClose })}\n`)
process.on("SIGTERM", () => process.exit(0))
