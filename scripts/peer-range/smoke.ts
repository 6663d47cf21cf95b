// Consumer smoke test for scripts/peer-range.sh: compiled from a scratch project (as .mts and .cts), against the
// installed tarballs and the Effect versions under test. It pays a task over HTTP through the installed
// packages: the sandbox server (testkit), the HTTP transport (node-http), DSA keys (crypto-dsa), the client (core).
import { Client } from "@witkey/core"
import { DsaSigner, DsaVerifier } from "@witkey/crypto-dsa"
import * as PgInbox from "@witkey/inbox-sql/PgInbox"
import { HttpTransport } from "@witkey/node-http"
import { Sandbox, SandboxServer, TestKeys } from "@witkey/testkit"
import { Effect, Layer, Redacted } from "effect"

// Type-checked only (the PostgreSQL inbox is not opened here).
export const inbox: typeof PgInbox.layer = PgInbox.layer

const program = Effect.gen(function* () {
  const sandbox = yield* Sandbox.Sandbox
  const server = yield* SandboxServer.SandboxServer
  yield* sandbox.registerTask({
    partner: TestKeys.partnerId,
    outerTaskId: "smoke-1",
    transfers: [{ serial: "s-1", payeeUserId: "2088102122524333", amount: "1.00" }],
    serviceFee: "0.10",
    platformAccount: TestKeys.platformUserId
  })
  const client = Client.layer({
    partner: TestKeys.partnerId,
    gateway: server.gatewayUrl,
    charset: "utf-8"
  }).pipe(
    Layer.provide(
      Layer.mergeAll(
        DsaSigner.layer({ privateKey: TestKeys.partnerPrivateKey }),
        DsaVerifier.layer({ publicKey: Redacted.make(TestKeys.gatewayPublicKeyPem) }),
        HttpTransport.layerNode({})
      )
    )
  )
  const pay = Effect.flatMap(Client.Client, (c) =>
    c.confirmByPlatform({ outerTaskId: "smoke-1", transfers: ["s-1"] })
  )
  const first = yield* pay.pipe(Effect.provide(client))
  const second = yield* pay.pipe(Effect.provide(client))
  return `${first._tag} ${second._tag}`
}).pipe(Effect.provide(SandboxServer.layerWithSandbox()), Effect.scoped)

Effect.runPromise(program).then(
  (result) => {
    if (result !== "Confirmed AlreadyConfirmed") throw new Error(`unexpected: ${result}`)
    console.log(`smoke ok: ${result}`)
  },
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
