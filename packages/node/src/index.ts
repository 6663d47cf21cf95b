/**
 * `@witkey/node`: the Promise API for Node applications. Unlike the Effect packages, whose index re-exports
 * namespaces, this one exports the class and the errors by name: `const { Witkey } = require("@witkey/node")`
 * and `import { Witkey } from "@witkey/node"` are its contract (issue 14).
 *
 * @since 0.1.0
 */
export { Witkey } from "./Witkey.js"
export type { CallOptions, ConfirmInput, ConfirmResult, Options } from "./Witkey.js"
export type { Key } from "./Configuration.js"
export type { Handler, InboxOptions, Notification, NotificationListener } from "./NotificationListener.js"
export type { Options as NotificationListenerOptions } from "./NotificationListener.js"
// Every export of Errors.ts is an error class a caller tests with `instanceof` (or its reason type): all public.
export * from "./Errors.js"
