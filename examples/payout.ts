/**
 * The README's example: pay a task's winners, telling every outcome apart (PROTOCOL.md §7).
 *
 * Run against the sandbox: `pnpm witkey sandbox --port 8080` in one terminal prints the gateway URL and key
 * files; then set WITKEY_GATEWAY, WITKEY_PRIVATE_KEY and WITKEY_ALIPAY_PUBLIC_KEY (PEM, one-line Base64 or a
 * file path) and run `npx tsx examples/payout.ts TASK SERIAL...`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Client } from "@witkey/core"
import { DsaSigner, DsaVerifier } from "@witkey/crypto-dsa"
import { HttpTransport } from "@witkey/node-http"
import { Config, Effect, Layer } from "effect"

const WitkeyLive = Client.layerConfig(
  Config.all({
    partner: Config.string("WITKEY_PARTNER").pipe(Config.withDefault("2088101012352995")),
    gateway: Config.string("WITKEY_GATEWAY")
  })
).pipe(
  Layer.provide(Layer.mergeAll(DsaSigner.layerConfig(), DsaVerifier.layerConfig(), HttpTransport.layerNode()))
)

const [outerTaskId = "wf301111010000977", ...transfers] = process.argv.slice(2)

const payout = Effect.gen(function* () {
  const client = yield* Client.Client
  const outcome = yield* client.confirmByPlatform({
    outerTaskId,
    transfers: transfers.length > 0 ? transfers : ["89944ID1", "89943ID1"]
  })
  switch (outcome._tag) {
    case "Confirmed":
      return yield* Effect.log(`confirmed ${outcome.outerTaskId} after ${outcome.attempts} attempt(s)`)
    case "AlreadyConfirmed":
      return yield* Effect.log(
        `already confirmed (${outcome.code})${outcome.afterResend ? ": a lost answer, resolved by a re-send" : ""}`
      )
  }
}).pipe(
  Effect.catchTags({
    InvalidRequest: (e) => Effect.logError(e.message),
    GatewayRejected: (e) => Effect.logError(`rejected: ${e.code} (${e.category})`),
    UnknownOutcome: (e) =>
      Effect.logWarning(`unknown outcome (${e.reason}); reconcile with the notifications: ${e.message}`),
    SignError: (e) => Effect.logError(e.message)
  })
)

payout.pipe(Effect.provide(WitkeyLive), NodeRuntime.runMain)
