// `witkey serve --console`: the receiver console at /_witkey/ of the receiver's port, in process (RunCli.ts).
// Off loopback it does not start without --console-token; with it, the page needs the token.
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import { assertOneErrorLine, keyPath, removeTempDirs, run, start, tempDir } from "./RunCli.js"
import { get } from "../../testkit/test/support/Http.js"

afterAll(removeTempDirs)

const serveArgs = (host: string) => [
  "serve",
  "--port",
  "0",
  "--host",
  host,
  "--db",
  join(tempDir("serve-console"), "inbox.db"),
  "--alipay-public-key",
  keyPath("gateway_public"),
  "--partner",
  "2088101122136241",
  "--console"
]

describe("serve --console", () => {
  it.effect("refuses to start off loopback without --console-token (exit 2)", () =>
    Effect.gen(function* () {
      const result = yield* run(serveArgs("0.0.0.0"))
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(result, /--console-token/)
      const short = yield* run([...serveArgs("127.0.0.1"), "--console-token", "short"])
      assert.strictEqual(short.code, 2)
      assertOneErrorLine(short, /--console-token: .*16 or more/)
    })
  )

  it.scoped("serves the console at /_witkey/ next to the endpoint; off loopback the token is needed", () =>
    Effect.gen(function* () {
      const local = yield* start(serveArgs("127.0.0.1"))
      const url = yield* local.waitFor(
        ({ stderr }) => /console is at (http:\/\/\S+\/_witkey\/)/.exec(stderr)?.[1]
      )
      const page = yield* get(url)
      assert.strictEqual(page.status, 200)
      assert.include(page.text, "witkey receiver console")
      // The payout journal on serve's database (`confirm --journal`) is shown, with its reconciliation.
      assert.notInclude(page.text, "No payout journal is configured")

      const token = "serve-console-token-0123"
      const open = yield* start([...serveArgs("0.0.0.0"), "--console-token", token])
      const at = yield* open.waitFor(
        ({ stderr }) => /console is at http:\/\/\S+:(\d+)\/_witkey\//.exec(stderr)?.[1]
      )
      const base = `http://127.0.0.1:${at}/_witkey/`
      assert.strictEqual((yield* get(base)).status, 401)
      const authorized = yield* get(base, { authorization: `Bearer ${token}` })
      assert.strictEqual(authorized.status, 200)
      assert.notInclude(open.stderr(), token, "the token is never printed")
    })
  )
})
