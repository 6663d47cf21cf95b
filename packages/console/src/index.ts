/**
 * @witkey/console: the receiver's web console, and the HTML template, HTTP rules and assets both consoles (the
 * receiver's here, the sandbox's in `@witkey/testkit`) share. The Node `(req, res, next)` handler is
 * `@witkey/console/NodeReceiverConsole`, not re-exported here: it needs the optional peer `@effect/platform-node`.
 *
 * @since 0.1.0
 */
export * as ConsoleAssets from "./ConsoleAssets.js"
export * as ConsoleHttp from "./ConsoleHttp.js"
export * as Html from "./Html.js"
export * as ReceiverConsole from "./ReceiverConsole.js"
