// Test support: the testkit sandbox over HTTP, a loopback node:http server, and settling a Promise as data.
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxServer from "@witkey/testkit/SandboxServer"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Effect, Either } from "effect"
import * as http from "node:http"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Options } from "../src/Witkey.js"

/** `task-<n>` with serials `<id>-a`, `<id>-b`. */
export const task = (outerTaskId: string): Sandbox.TaskRegistration => ({
  partner: TestKeys.partnerId,
  outerTaskId,
  transfers: [
    { serial: `${outerTaskId}-a`, payeeUserId: "2088102122524333", amount: "120.00" },
    { serial: `${outerTaskId}-b`, payeeUserId: "2088102122524334", amount: "80.50" }
  ],
  serviceFee: "30.00",
  platformAccount: TestKeys.platformUserId
})

/** The sandbox gateway on a free loopback port, on the live clock, for the life of the scope. */
export const sandbox = (tasks: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const sandbox = yield* Sandbox.make({ tasks: tasks.map(task) })
    const server = yield* SandboxServer.make().pipe(Effect.provideService(Sandbox.Sandbox, sandbox))
    return { sandbox, server }
  })

/** The options of a `Witkey` against `gateway`, with the test keys as PEM text. */
export const options = (gateway: string, extra: Partial<Options> = {}): Options => ({
  partner: TestKeys.partnerId,
  gateway,
  privateKey: TestKeys.partnerPrivateKeyPem,
  alipayPublicKey: TestKeys.gatewayPublicKeyPem,
  charset: "utf-8",
  retries: 0,
  ...extra
})

/** Listens on 127.0.0.1 for the life of the scope; the base URL. */
export { listen } from "../../testkit/test/support/Http.js"

/** A free port nobody listens on (bound, then released). */
export const closedPort = Effect.async<number>((resume) => {
  const server = http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A Promise as an Either: what it resolved with, or what it rejected with (untouched). */
export const settle = <A>(promise: () => Promise<A>): Effect.Effect<Either.Either<A, unknown>> =>
  Effect.promise(() =>
    promise().then(
      (value) => Either.right(value),
      (error: unknown) => Either.left(error)
    )
  )

/** A fresh directory, removed with the scope. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "witkey-node-test-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Polls `check` every 10 ms until it holds (bounded generously: the machine is loaded). */
export const eventually = (check: Effect.Effect<boolean>, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 3000; i++) {
      if (yield* check) return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

/** POSTs a body to `url`; status and body text. */
export const post = (url: string, body: string) =>
  Effect.promise(() =>
    fetch(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/x-www-form-urlencoded" }
    }).then(async (res) => ({ status: res.status, body: await res.text() }))
  )
