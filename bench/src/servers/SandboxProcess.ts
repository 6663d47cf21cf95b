// Child process of row 5: the testkit sandbox gateway over HTTP, with `count` one-transfer tasks registered
// (`bench-task-<i>`, serial `s-<i>`). Prints `{ "gateway": url }` once listening; runs until killed.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxServer from "@witkey/testkit/SandboxServer"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Console, Effect } from "effect"

const count = Number(process.argv[2] ?? 1000)

const program = Effect.gen(function* () {
  const sandbox = yield* Sandbox.Sandbox
  for (let i = 0; i < count; i++)
    yield* sandbox.registerTask({
      partner: TestKeys.partnerId,
      outerTaskId: `bench-task-${i}`,
      transfers: [{ serial: `s-${i}`, payeeUserId: "2088102122524333", amount: "120.00" }],
      serviceFee: "0.00",
      platformAccount: TestKeys.platformUserId
    })
  const server = yield* SandboxServer.SandboxServer
  yield* Console.log(JSON.stringify({ gateway: server.gatewayUrl }))
  return yield* Effect.never
}).pipe(Effect.provide(SandboxServer.layerWithSandbox()))

NodeRuntime.runMain(program)
