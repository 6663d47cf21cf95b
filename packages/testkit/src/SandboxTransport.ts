/**
 * Core's `Transport` calling a `Sandbox` in-process: no sockets, the sandbox's answer bytes as they are, and
 * its dropped answers as `TransportError`s. With it a platform's whole payout flow runs inside one test.
 *
 * ```ts
 * const TestLive = SandboxTransport.layerClient().pipe(Layer.provideMerge(Sandbox.layer()))
 * ```
 *
 * @since 0.1.0
 */
import * as Client from "@witkey/core/Client"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Transport from "@witkey/core/Transport"
import { Effect, Layer } from "effect"
import * as Sandbox from "./Sandbox.js"
import * as TestKeys from "./TestKeys.js"

/**
 * The gateway URL in-process clients are configured with. `.invalid` can never resolve: if such a client
 * is ever wired to a real transport by mistake, it fails instead of reaching anyone.
 */
export const GATEWAY_URL = "https://sandbox.witkey.invalid/gateway.do"

export const make = (sandbox: Sandbox.Sandbox): Transport.Transport =>
  Transport.make((url) => sandbox.handle(url))

/** Core `Transport` over the `Sandbox` in context. */
export const layer: Layer.Layer<Transport.Transport, never, Sandbox.Sandbox> = Layer.effect(
  Transport.Transport,
  Effect.map(Sandbox.Sandbox, make)
)

/** `Client.Options` with `partner` and `gateway` optional. */
export type ClientOptions = Omit<Client.Options, "partner" | "gateway"> & {
  readonly partner?: string | undefined
  readonly gateway?: string | undefined
}

/**
 * A core `Client` wired to the sandbox in context: the test partner's signer (`TestKeys.partnerSigner`), a
 * verifier for the sandbox's gateway key, and this transport. Defaults: partner `TestKeys.partnerId`,
 * gateway `GATEWAY_URL`. It provides the client's `NotificationReceiver` too, for the sandbox's notifications.
 */
export const layerClient = (
  options: ClientOptions = {}
): Layer.Layer<Client.Client | NotificationReceiver.NotificationReceiver, never, Sandbox.Sandbox> =>
  NotificationReceiver.layerFromClient.pipe(
    Layer.provideMerge(
      Client.layer({
        ...options,
        partner: options.partner ?? TestKeys.partnerId,
        gateway: options.gateway ?? GATEWAY_URL
      })
    ),
    Layer.provide(Layer.mergeAll(TestKeys.partnerSigner, Sandbox.gatewayVerifier, layer))
  )
