/** The handler of `VerifyResponseCommand`, loaded when the command runs. @internal */
import type * as Command from "@effect/cli/Command"
import * as GatewayResponse from "@witkey/core/GatewayResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Output from "../Output.js"
import type * as VerifyResponseCommand from "../VerifyResponseCommand.js"
import { decodeFile } from "./verifyFile.js"

export const run = (options: Command.Command.ParseConfig<typeof VerifyResponseCommand.options>) =>
  Effect.gen(function* () {
    const ok = yield* decodeFile(options, (body) =>
      GatewayResponse.decode(
        { body, contentType: Option.getOrUndefined(options.contentType) },
        options.charset
      )
    )
    const head = { ok: true, is_success: ok.isSuccess, outer_task_id: ok.outerTaskId }
    const rest = Object.entries(ok.signed).filter(([name]) => !(name in head))
    yield* Output.result(options.json, { ...head, ...Object.fromEntries(rest) }, () => [
      "OK: a verified success (is_success=T, signature valid)",
      ...Output.table(Object.entries(ok.signed)).map((row) => `  ${row}`)
    ])
  })
