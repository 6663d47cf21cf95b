/**
 * @witkey/testkit/vitest: the conformance suites, run with `@effect/vitest` (an optional peer: only this entry
 * imports it).
 */
export * as InboxSuite from "./InboxSuite.js"
export * as SignatureSuite from "./SignatureSuite.js"
export * as TransportSuite from "./TransportSuite.js"
export * as PayoutJournalSuite from "./PayoutJournalSuite.js"
export * as InboxOperationsSuite from "./InboxOperationsSuite.js"
