/** The handler of `VerifyNotificationCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as Notification from "@witkey/core/Notification"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Output from "../Output.js"
import type * as VerifyNotificationCommand from "../VerifyNotificationCommand.js"
import { decodeFile } from "./verifyFile.js"

/** The success object: form ids first, then every payload leaf by wire name, the sub type as `sub_type`. */
export const toJson = (n: Notification.Notification): Record<string, unknown> => {
  const head = { ok: true, notify_id: n.notifyId, notify_time: n.notifyTime, sub_type: n.payload.subType }
  const rest = Object.entries(n.fields).filter(([name]) => name !== "notify_sub_type" && !(name in head))
  return { ...head, ...Object.fromEntries(rest) }
}

export const run = (options: Command.Command.ParseConfig<typeof VerifyNotificationCommand.options>) =>
  Effect.gen(function* () {
    const n = yield* decodeFile(options, (body) =>
      Notification.decode(
        { body, contentType: Option.getOrUndefined(options.contentType) },
        { charset: Option.getOrUndefined(options.charset) }
      )
    )
    const value = toJson(n)
    yield* Output.result(options.json, value, () => [
      `OK: a verified notification (${n.charset}, signature valid)`,
      ...Output.table(
        Object.entries(value)
          .filter(([k]) => k !== "ok")
          .map(([k, v]) => [k, String(v)] as const)
      ).map((row) => `  ${row}`)
    ])
  })
