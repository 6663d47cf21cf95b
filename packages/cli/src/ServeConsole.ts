/**
 * `witkey serve --console`: the receiver console (`@witkey/console`) at `/_witkey/` of the receiver's port,
 * in front of the notification endpoint. Off loopback it needs `--console-token` (the server refuses to start
 * without it); the page is then opened once with `?token=…`, which sets a cookie.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as Inbox from "@witkey/core/Inbox"
import type * as Charset from "@witkey/core/Charset"
import type * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as CliError from "./CliError.js"

export const options = {
  console: Options.boolean("console").pipe(
    Options.withDescription("Also serve the receiver console at /_witkey/ on the same port.")
  ),
  consoleToken: Options.redacted("console-token").pipe(
    Options.withDescription(
      "The console's access token (16+ letters, digits, -._~): required when --host is not loopback."
    ),
    Options.optional
  )
}

export interface Values {
  readonly console: boolean
  readonly consoleToken: Option.Option<Redacted.Redacted<string>>
  readonly host: string
}

/** The usage check, before anything listens: a console off loopback without a token is refused. */
export const check = (values: Values): Effect.Effect<void, CliError.CliError> => {
  if (!values.console)
    return Option.isSome(values.consoleToken)
      ? Effect.fail(CliError.usage("--console-token needs --console"))
      : Effect.void
  return Effect.promise(() => import("@witkey/console/ReceiverConsole")).pipe(
    Effect.flatMap((ReceiverConsole) => {
      const unsafe = ReceiverConsole.checkAccess(values.host, Option.getOrUndefined(values.consoleToken))
      return unsafe === undefined
        ? Effect.void
        : Effect.fail(
            CliError.usage(
              unsafe.reason === "token_required"
                ? `${unsafe.message}: give --console-token`
                : `--console-token: ${unsafe.message}`
            )
          )
    })
  )
}

/**
 * `endpoint` with the console in front when `--console` was given, and the line telling where to open it;
 * `endpoint` alone otherwise.
 */
export const wrap = <E, R>(
  values: Values & {
    readonly port: number
    readonly charset: Charset.Charset
    /** The payout journal on the receiver's database, shown with its reconciliation. */
    readonly journal?: PayoutJournal.PayoutJournal | undefined
  },
  endpoint: HttpApp.Default<E, R>
): Effect.Effect<
  { readonly app: HttpApp.Default<E, R | Inbox.Operations>; readonly line: string | undefined },
  CliError.CliError
> =>
  !values.console
    ? Effect.succeed({ app: endpoint, line: undefined })
    : Effect.gen(function* () {
        const ReceiverConsole = yield* Effect.promise(() => import("@witkey/console/ReceiverConsole"))
        const token = Option.getOrUndefined(values.consoleToken)
        const app = yield* ReceiverConsole.serveWith(
          {
            host: values.host,
            port: values.port,
            token,
            charset: values.charset,
            handler: () => Effect.void,
            journal: values.journal
          },
          endpoint
        ).pipe(Effect.mapError((e) => CliError.usage(`--console: ${e.message}`)))
        const host = values.host.includes(":") ? `[${values.host}]` : values.host
        return {
          app,
          line: `witkey serve: the receiver console is at http://${host}:${values.port}${ReceiverConsole.DEFAULT_PREFIX}${token === undefined ? "" : "?token=<your --console-token>"}`
        }
      })
