// The sandbox console without a browser: the page rendered from a sandbox whose state is full of hostile text
// carries none of it as markup (the template's own laws: packages/console/test/Html.test.ts).
import { assert, describe, it } from "@effect/vitest"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Effect } from "effect"
import * as Html from "@witkey/console/Html"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxConsole from "../src/SandboxConsole.js"
import * as SandboxServer from "../src/SandboxServer.js"
import * as TestKeys from "../src/TestKeys.js"
import { PAYEE_A } from "./Harness.js"

describe("SandboxConsole", () => {
  const get = (url: string, headers: Record<string, string> = {}) =>
    Effect.flatMap(HttpClient.HttpClient, (client) =>
      client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeaders(headers)))
    ).pipe(
      Effect.flatMap((response) =>
        Effect.map(response.text, (text) => ({ status: response.status, text, response }))
      ),
      Effect.scoped,
      Effect.provide(NodeHttpClient.layerUndici),
      Effect.orDie
    )

  it.live("renders hostile state as text, and only for this server's Host", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      const server = yield* SandboxServer.SandboxServer
      const evil = `<script>alert("x")</script>`
      yield* sandbox.registerTask({
        partner: TestKeys.partnerId,
        outerTaskId: "evil-task",
        transfers: [{ serial: "evil-1", payeeUserId: `${PAYEE_A}${evil}`, amount: "1.00" }],
        serviceFee: "0.00",
        platformAccount: `'"><b>`
      })
      // A request the gateway refuses: its decoded parameters are on the page, as text.
      yield* Effect.either(
        sandbox.handle(`/gateway.do?service=${encodeURIComponent(evil)}&_input_charset=utf-8`)
      )
      const page = yield* get(server.consoleUrl!)
      assert.strictEqual(page.status, 200)
      assert.notInclude(page.text, "<script>alert")
      assert.notInclude(page.text, `'"><b>`)
      assert.include(page.text, Html.escape(evil))
      assert.strictEqual(
        page.response.headers["content-security-policy"],
        SandboxConsole.CONTENT_SECURITY_POLICY
      )
      // Scripts only as files from the console itself.
      assert.deepStrictEqual(
        [...page.text.matchAll(/<script([^>]*)>/g)].map((m) => m[1]),
        [' src="/console.js" defer']
      )
      const script = yield* get(`${server.url}/console.js`)
      assert.strictEqual(script.status, 200)
      assert.include(script.response.headers["content-type"] ?? "", "javascript")
      const rebound = yield* get(server.consoleUrl!, { host: "attacker.example" })
      assert.strictEqual(rebound.status, 403)
    }).pipe(Effect.provide(SandboxServer.layerWithSandbox()))
  )

  it.live("lists the newest 200 requests however many came", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      const server = yield* SandboxServer.SandboxServer
      for (let i = 0; i < 230; i++) yield* Effect.either(sandbox.handle(`/gateway.do?service=s${i}`))
      const page = yield* get(server.consoleUrl!)
      assert.include(page.text, "Gateway requests (230, the newest 200)")
      assert.strictEqual([...page.text.matchAll(/<tr class="call">/g)].length, 200)
      assert.include(page.text, "s229")
      assert.notInclude(page.text, "(no service)")
    }).pipe(Effect.provide(SandboxServer.layerWithSandbox()))
  )

  it("accepts the Host names of loopback and of the bound address", () => {
    assert.deepStrictEqual(SandboxConsole.hostsFor("127.0.0.1", 80), [
      "127.0.0.1:80",
      "localhost:80",
      "[::1]:80"
    ])
    assert.deepStrictEqual(SandboxConsole.hostsFor("::1", 80), ["[::1]:80", "127.0.0.1:80", "localhost:80"])
    assert.strictEqual(SandboxConsole.hostsFor("0.0.0.0", 80), "any")
  })
})
