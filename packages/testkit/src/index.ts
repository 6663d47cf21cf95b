/**
 * @witkey/testkit: a sandbox gateway that behaves like Alipay, test keys, arbitraries and conformance suites.
 */
export * as Arbitraries from "./Arbitraries.js"
export * as Fault from "./Fault.js"
export * as GatewayAnswer from "./GatewayAnswer.js"
export * as InboxOperationsSuite from "./InboxOperationsSuite.js"
export * as InboxSuite from "./InboxSuite.js"
export * as MemoryInbox from "./MemoryInbox.js"
export * as NotificationSigner from "./NotificationSigner.js"
export * as Sandbox from "./Sandbox.js"
export * as SandboxServer from "./SandboxServer.js"
export * as SandboxTransport from "./SandboxTransport.js"
export * as SignatureSuite from "./SignatureSuite.js"
export * as TestKeys from "./TestKeys.js"
export * as TransportSuite from "./TransportSuite.js"
