// Errors a user meets on the command line: each is one line on stderr starting `witkey:`, with the reason and
// the exit code of the contract (1 failure, 2 usage), never `internal error` or a stack. And `serve` cuts off
// a client that trickles its headers. In process (see RunCli.ts).
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Net from "node:net"
import { join } from "node:path"
import {
  assertOneErrorLine,
  keyPath,
  removeTempDirs,
  repoRoot,
  run,
  start,
  tempDir,
  TIMEOUT
} from "./RunCli.js"

afterAll(removeTempDirs)

const partner = "2088101012352995"
const serveArgs = ["--alipay-public-key", keyPath("gateway_public"), "--partner", partner]

/** A TCP server holding a port on 127.0.0.1, closed with the scope. */
const occupiedPort = Effect.acquireRelease(
  Effect.async<Net.Server>((resume) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

const requestArgs = (gateway: string) => [
  "request",
  "--gateway",
  gateway,
  "--partner",
  partner,
  "--private-key",
  keyPath("partner_private"),
  "--task",
  "t1",
  "--transfer",
  "s1"
]

describe("errors are one witkey: line with their exit code", () => {
  it.effect("serve --db in a directory that does not exist: exit 2 naming --db", () =>
    Effect.gen(function* () {
      const result = yield* run(["serve", "--port", "0", "--db", "/no/such/dir/x.db", ...serveArgs])
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(result, /^witkey: --db \/no\/such\/dir\/x\.db: .*directory does not exist/)
    })
  )

  it.effect("keygen --out under a regular file: exit 2 naming --out", () =>
    Effect.gen(function* () {
      const out = join(repoRoot, "README.md", "keys")
      const result = yield* run(["keygen", "--out", out])
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(result, /^witkey: --out .*README\.md\/keys: .*(ENOTDIR|not a directory)/)
    })
  )

  it.scoped("serve on a port in use: exit 1 with the reason", () =>
    Effect.gen(function* () {
      const port = yield* occupiedPort
      const db = join(tempDir("errors"), "inbox.db")
      const result = yield* run(["serve", "--port", String(port), "--db", db, ...serveArgs])
      assert.strictEqual(result.code, 1)
      assertOneErrorLine(
        result,
        new RegExp(`^witkey: cannot listen on 127\\.0\\.0\\.1:${port}: \\S.*EADDRINUSE`)
      )
    })
  )

  for (const gateway of ["notaurl", "http://127.0.0.1:99999/gateway.do", "ftp://gw.example/"])
    it.effect(`--gateway ${gateway}: exit 2 before anything is signed`, () =>
      Effect.gen(function* () {
        const request = yield* run(requestArgs(gateway))
        assert.strictEqual(request.code, 2)
        assertOneErrorLine(request, /^witkey: --gateway /)
        const confirm = yield* run([
          "confirm",
          ...requestArgs(gateway).slice(1),
          "--alipay-public-key",
          keyPath("gateway_public"),
          "--json"
        ])
        assert.strictEqual(confirm.code, 2)
        assertOneErrorLine(confirm, /^witkey: --gateway /)
      })
    )

  it.effect("a key file that does not exist: exit 2 naming its flag", () =>
    Effect.gen(function* () {
      const result = yield* run(
        requestArgs("https://gw.example/").map((a) => a.replace(/partner_private_key/, "nope"))
      )
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(result, /^witkey: --private-key \S*nope\.pem: no such file$/)
    })
  )
})

describe("serve bounds the time a client takes to send its headers", () => {
  it.scoped(
    "a connection trickling header bytes is answered 408 and closed (--header-timeout 1)",
    () =>
      Effect.gen(function* () {
        const serve = yield* start([
          "serve",
          "--port",
          "0",
          "--db",
          join(tempDir("slow"), "inbox.db"),
          "--header-timeout",
          "1",
          ...serveArgs
        ])
        const port = yield* serve.waitFor(
          ({ stderr }) => /at http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr)?.[1]
        )
        const answer = yield* Effect.async<string, Error>((resume) => {
          const socket = Net.connect(Number(port), "127.0.0.1")
          let received = ""
          const header = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + "a".repeat(10_000)
          let at = 0
          // One byte every 100 ms: never a full header block, always some progress.
          const timer = setInterval(() => {
            if (at < header.length && !socket.destroyed) socket.write(header[at++]!)
          }, 100)
          // Node's default would hold the connection 60 s or more; a generous bound well below that.
          const bound = setTimeout(() => {
            socket.destroy()
            resume(Effect.fail(new Error(`still open after 40 s; received ${JSON.stringify(received)}`)))
          }, 40_000)
          socket.setEncoding("utf8").on("data", (chunk: string) => (received += chunk))
          socket.on("close", () => {
            clearInterval(timer)
            clearTimeout(bound)
            resume(Effect.succeed(received))
          })
          socket.on("error", () => {})
          return Effect.sync(() => {
            clearInterval(timer)
            clearTimeout(bound)
            socket.destroy()
          })
        })
        assert.match(answer, /^HTTP\/1\.1 408 /)
      }),
    // Above the 40 s bound inside: that bound, not the runner's, decides.
    TIMEOUT
  )
})
