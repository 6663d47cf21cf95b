/**
 * `witkey verify-notification`: checks a raw asynchronous notification body (PROTOCOL.md §6) with Alipay's
 * public key, exactly as the receiver does, and prints what was signed.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Notification from "@witkey/core/Notification"
import * as Verifier from "@witkey/core/Verifier"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CommonOptions from "./CommonOptions.js"
import * as InputFile from "./InputFile.js"
import * as Keys from "./Keys.js"
import * as Output from "./Output.js"
import * as Verdict from "./Verdict.js"

/** The success object: form ids first, then every payload leaf by wire name, the sub type as `sub_type`. */
export const toJson = (n: Notification.Notification): Record<string, unknown> => {
  const head = { ok: true, notify_id: n.notifyId, notify_time: n.notifyTime, sub_type: n.payload.subType }
  const rest = Object.entries(n.fields).filter(([name]) => name !== "notify_sub_type" && !(name in head))
  return { ...head, ...Object.fromEntries(rest) }
}

export const command = Command.make(
  "verify-notification",
  {
    alipayPublicKey: CommonOptions.alipayPublicKey,
    contentType: Options.text("content-type").pipe(
      Options.withDescription(
        "The HTTP Content-Type the notification came with; a charset in it other than --charset is refused."
      ),
      Options.optional
    ),
    charset: CommonOptions.charsetOptional(
      "The charset the notification is decoded in (default utf-8), as a receiver is configured."
    ),
    json: CommonOptions.json,
    file: CommonOptions.inputFile("The raw POST body, byte for byte.")
  },
  ({ alipayPublicKey, charset, contentType, file, json }) =>
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
).pipe(
  Command.withDescription(
    "Verify a raw notification POST body with Alipay's public key and print its signed fields."
  )
)
