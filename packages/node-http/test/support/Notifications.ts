// Test-only: notification bodies signed like Alipay signs them (PROTOCOL.md §6), with knobs to forge them.
import * as Protocol from "@witkey/core/Protocol"
import * as SignedRequest from "@witkey/core/SignedRequest"
import * as SigningString from "@witkey/core/SigningString"
import * as Keys from "./Keys.js"

export const CONTENT_TYPE = "application/x-www-form-urlencoded; text/html; charset=utf-8"

export const assignXml = (outerTaskId: string, outerTransferNo: string, amount = "120.00") =>
  `<notify><notify_sub_type>${Protocol.Notify.assign}</notify_sub_type><outer_task_id>${outerTaskId}</outer_task_id>` +
  `<outer_transfer_no>${outerTransferNo}</outer_transfer_no><transfer_amount>${amount}</transfer_amount>` +
  `<payee_user_id>2088002000000001</payee_user_id><gmt_transfer>20240101120000</gmt_transfer></notify>`

export interface Options {
  readonly notifyId: string
  readonly xml: string
  readonly notifyTime?: string
  /** who signs: the gateway by default; `other` forges */
  readonly key?: Keys.KeyName
  readonly signType?: string
}

/** A form-encoded, signed notification body. */
export const body = (options: Options): Uint8Array => {
  const fields: Array<readonly [string, string]> = [
    ["notify_id", options.notifyId],
    ["notify_time", options.notifyTime ?? "2024-01-01 12:00:00"],
    ["xml", options.xml]
  ]
  const sign = Keys.sign(options.key ?? "gateway_private", SigningString.bytes(fields, "utf-8"))
  const all = [...fields, ["sign", sign] as const, ["sign_type", options.signType ?? "DSA"] as const]
  return new TextEncoder().encode(SignedRequest.toQuery(all, "utf-8"))
}

export const assign = (notifyId: string, outerTaskId = "task-1", outerTransferNo = "serial-1"): Uint8Array =>
  body({ notifyId, xml: assignXml(outerTaskId, outerTransferNo) })
