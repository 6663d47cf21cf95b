// testkit's conformance suite for core Transports, against layerNode (node:http directly, with and without its
// pool) and HttpTransport on each platform HttpClient it may run on.
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as TransportSuite from "@witkey/testkit/TransportSuite"
import { Layer } from "effect"
import * as HttpTransport from "../src/HttpTransport.js"

// Generous: a busy machine answers slowly, and the suite's "never answers" test moves a TestClock instead of
// waiting for the timeout.
const options: HttpTransport.Options = { timeout: "20 seconds" }

TransportSuite.suite("HttpTransport.layerNode (node:http, keep-alive)", HttpTransport.layerNode(options))
TransportSuite.suite(
  "HttpTransport.layerNode (node:http, no keep-alive)",
  HttpTransport.layerNode({ ...options, keepAlive: false })
)
TransportSuite.suite(
  "HttpTransport on the platform's NodeHttpClient",
  HttpTransport.layer(options).pipe(Layer.provide(NodeHttpClient.layer))
)
TransportSuite.suite(
  "HttpTransport on undici",
  HttpTransport.layer(options).pipe(Layer.provide(NodeHttpClient.layerUndici))
)
TransportSuite.suite(
  "HttpTransport on fetch",
  HttpTransport.layer(options).pipe(Layer.provide(FetchHttpClient.layer))
)
