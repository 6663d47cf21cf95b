// `witkey demo --console`: after the run both consoles stay up, and a line says where (in process, RunCli.ts).
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { start } from "./RunCli.js"
import { get } from "../../testkit/test/support/Http.js"

describe("demo --console", () => {
  it.scoped("leaves the sandbox's and the receiver's consoles up after the run", () =>
    Effect.gen(function* () {
      const demo = yield* start(["demo", "--tasks", "2", "--time-scale", "1000000", "--console"])
      const [sandbox, receiver] = yield* demo.waitFor(({ stderr }) => {
        const m = /the sandbox at (http:\S+), the receiver at (http:\S+);/.exec(stderr)
        return m === null ? undefined : [m[1]!, m[2]!]
      })
      assert.include(demo.stdout(), "ledger, inbox and journal agree")
      const sandboxPage = yield* get(sandbox!)
      assert.strictEqual(sandboxPage.status, 200)
      assert.include(sandboxPage.text, "demo-n-")
      const receiverPage = yield* get(receiver!)
      assert.strictEqual(receiverPage.status, 200)
      assert.include(receiverPage.text, "demo-n-")
      assert.match(receiver!, /\/_witkey\/$/)
    })
  )
})
