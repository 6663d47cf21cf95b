/**
 * @witkey/core: the pure protocol core of Alipay's `alipay.witkey.task.confirm.by.platform`.
 */
export * as Charset from "./Charset.js"
export * as Client from "./Client.js"
export * as ConfirmRequest from "./ConfirmRequest.js"
export * as ErrorCode from "./ErrorCode.js"
export * as GatewayResponse from "./GatewayResponse.js"
export * as Inbox from "./Inbox.js"
export * as Notification from "./Notification.js"
export * as NotificationReceiver from "./NotificationReceiver.js"
export * as NotifyVerify from "./NotifyVerify.js"
export * as Protocol from "./Protocol.js"
export * as SignatureError from "./SignatureError.js"
export * as SignedRequest from "./SignedRequest.js"
export * as Signer from "./Signer.js"
export * as SigningString from "./SigningString.js"
export * as Transport from "./Transport.js"
export * as Verifier from "./Verifier.js"
