/**
 * Row 6: what GBK costs over UTF-8 (iconv-lite instead of the built-in codec, plus the strict round-trip
 * check on decode), on inputs with Chinese text: a request build, and a notification decode.
 */
import * as Notification from "@witkey/core/Notification"
import { CHINESE_TASK_ID, notification, requestInput, sdkSide } from "../Inputs.js"
import { compare } from "../Measure.js"
import type { Row } from "../Report.js"
import { build } from "./RequestBuild.js"

export const run = async (): Promise<ReadonlyArray<Row>> => {
  const gbkBuild = build(requestInput("gbk", CHINESE_TASK_ID))
  const utf8Build = build(requestInput("utf-8", CHINESE_TASK_ID))
  const request = await compare(sdkSide("sdk", gbkBuild), sdkSide("bare", utf8Build))
  const decode = (charset: "gbk" | "utf-8") => {
    const n = notification(7, charset, CHINESE_TASK_ID)
    // The receiver is configured with the charset: the Content-Type's label alone would be refused.
    return Notification.decode({ body: n.body, contentType: n.contentType }, { charset })
  }
  const gbkDecode = decode("gbk")
  const utf8Decode = decode("utf-8")
  const notify = await compare(sdkSide("sdk", gbkDecode), sdkSide("bare", utf8Decode))
  return [
    {
      id: "6a",
      sdk: "request build, GBK, Chinese task id",
      baseline: "the same request in UTF-8",
      result: request
    },
    {
      id: "6b",
      sdk: "notification decode, GBK, Chinese text",
      baseline: "the same notification in UTF-8",
      result: notify
    }
  ]
}
