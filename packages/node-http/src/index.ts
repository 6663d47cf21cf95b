/**
 * @witkey/node-http: the gateway transport and the notification endpoint on `@effect/platform`, and the
 * endpoint as a plain Node listener.
 *
 * @since 0.1.0
 */
export * as HttpTransport from "./HttpTransport.js"
export * as NodeNotificationListener from "./NodeNotificationListener.js"
export * as NotificationEndpoint from "./NotificationEndpoint.js"
