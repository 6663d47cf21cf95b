/**
 * @witkey/testkit: a sandbox gateway that behaves like Alipay, test keys and arbitraries. The conformance suites,
 * which need vitest, are behind `@witkey/testkit/vitest` so that users of the Sandbox (the CLI) do not install it.
 */
export * as Arbitraries from "./Arbitraries.js"
export * as Fault from "./Fault.js"
export * as GatewayAnswer from "./GatewayAnswer.js"
export * as MemoryInbox from "./MemoryInbox.js"
export * as MemoryPayoutJournal from "./MemoryPayoutJournal.js"
export * as NotificationSigner from "./NotificationSigner.js"
export * as Sandbox from "./Sandbox.js"
export * as SandboxServer from "./SandboxServer.js"
export * as SandboxTransport from "./SandboxTransport.js"
export * as TestKeys from "./TestKeys.js"
