/**
 * @witkey/node-http: the gateway transport and the notification endpoint on `@effect/platform`.
 *
 * @since 0.1.0
 */
export * as HttpTransport from "./HttpTransport.js"
export * as NotificationEndpoint from "./NotificationEndpoint.js"
