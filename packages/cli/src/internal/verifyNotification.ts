/** The handler of `VerifyNotificationCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as Notification from "@witkey/core/Notification"
import * as Verifier from "@witkey/core/Verifier"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as InputFile from "../InputFile.js"
import * as Keys from "../Keys.js"
import * as Output from "../Output.js"
import * as Verdict from "../Verdict.js"
import type * as VerifyNotificationCommand from "../VerifyNotificationCommand.js"

/** The success object: form ids first, then every payload leaf by wire name, the sub type as `sub_type`. */
export const toJson = (n: Notification.Notification): Record<string, unknown> => {
  const head = { ok: true, notify_id: n.notifyId, notify_time: n.notifyTime, sub_type: n.payload.subType }
  const rest = Object.entries(n.fields).filter(([name]) => name !== "notify_sub_type" && !(name in head))
  return { ...head, ...Object.fromEntries(rest) }
}

export const run = ({
  alipayPublicKey,
  charset,
  contentType,
  file,
  json
}: Command.Command.ParseConfig<typeof VerifyNotificationCommand.options>) =>
  Effect.gen(function* () {
    const verifier = yield* Keys.verifier(alipayPublicKey)
    const body = yield* InputFile.read(file)
    const decoded = yield* Notification.decode(
      { body, contentType: Option.getOrUndefined(contentType) },
      { charset: Option.getOrUndefined(charset) }
    ).pipe(Effect.provideService(Verifier.Verifier, verifier), Effect.either)
    if (decoded._tag === "Left") return yield* Verdict.fail(json, decoded.left)
    const n = decoded.right
    const value = toJson(n)
    yield* Output.result(json, value, () => [
      `OK: a verified notification (${n.charset}, signature valid)`,
      ...Output.table(
        Object.entries(value)
          .filter(([k]) => k !== "ok")
          .map(([k, v]) => [k, String(v)] as const)
      ).map((row) => `  ${row}`)
    ])
  })
