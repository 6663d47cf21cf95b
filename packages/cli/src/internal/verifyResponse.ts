/** The handler of `VerifyResponseCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as Verifier from "@witkey/core/Verifier"
import * as Effect from "effect/Effect"
import * as InputFile from "../InputFile.js"
import * as Keys from "../Keys.js"
import * as Output from "../Output.js"
import * as Verdict from "../Verdict.js"
import type * as VerifyResponseCommand from "../VerifyResponseCommand.js"

export const run = ({
  alipayPublicKey,
  charset,
  contentType,
  file,
  json
}: Command.Command.ParseConfig<typeof VerifyResponseCommand.options>) =>
  Effect.gen(function* () {
    const verifier = yield* Keys.verifier(alipayPublicKey)
    const body = yield* InputFile.read(file)
    const decoded = yield* GatewayResponse.decode(
      { body, contentType: contentType._tag === "Some" ? contentType.value : undefined },
      charset
    ).pipe(Effect.provideService(Verifier.Verifier, verifier), Effect.either)
    if (decoded._tag === "Left") return yield* Verdict.fail(json, decoded.left)
    const ok = decoded.right
    const head = { ok: true, is_success: ok.isSuccess, outer_task_id: ok.outerTaskId }
    const rest = Object.entries(ok.signed).filter(([name]) => !(name in head))
    yield* Output.result(json, { ...head, ...Object.fromEntries(rest) }, () => [
      "OK: a verified success (is_success=T, signature valid)",
      ...Output.table(Object.entries(ok.signed)).map((row) => `  ${row}`)
    ])
  })
