/**
 * The sandbox console: one web page at `/` of the sandbox server showing the sandbox's own state (tasks and
 * their serials, every gateway request with its decoded parameters, signature check, fault and answer, the
 * ledger, every notification with its delivery timeline) and three actions: resend a notification now, inject
 * the next fault, register a task. The live part refreshes itself every second (`/console.js`).
 *
 * Security: the HTML is rendered with every value escaped; a strict Content-Security-Policy allows scripts and
 * styles from the console itself only (no inline script); the Host header must name this server (a page on
 * another site that rebinds its name to loopback reads nothing); each action is a POST that must carry this
 * process's random token from the page's hidden field and an Origin that is this server. Nothing of a key is
 * shown.
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import { Clock, Effect, Option } from "effect"
import * as Assets from "@witkey/console/ConsoleAssets"
import * as ConsoleHttp from "@witkey/console/ConsoleHttp"
import * as Page from "./internal/ConsolePage.js"
import * as Html from "@witkey/console/Html"
import * as Sandbox from "./Sandbox.js"
import * as TestKeys from "./TestKeys.js"

export const CONTENT_SECURITY_POLICY = ConsoleHttp.CONTENT_SECURITY_POLICY

export interface Options {
  /** The gateway's URL, shown on the page. */
  readonly gatewayUrl: string
  /** The `Host` headers this console answers (`host:port`, lower case); `"any"` when bound to every address. */
  readonly hosts: ReadonlyArray<string> | "any"
  /** The CSRF token; default 32 random bytes, hex. */
  readonly token?: string | undefined
}

/** The `Host` values a server on `host:port` is reached by: the address itself, and loopback's names. */
export const hostsFor = ConsoleHttp.hostsFor

const headers = ConsoleHttp.headers

const refused = (why: string) => ConsoleHttp.refused("sandbox", why)

/** The console's routes over the `Sandbox` in context. Build it where the server's Clock is the sandbox's. */
export const router = (options: Options): Effect.Effect<HttpRouter.HttpRouter<never, Sandbox.Sandbox>> =>
  Effect.gen(function* () {
    const token = options.token ?? ConsoleHttp.randomToken()
    const started = { wall: Date.now(), clock: yield* Clock.currentTimeMillis }
    const actions: Array<Page.Action> = []

    const hostAllowed = (request: HttpServerRequest.HttpServerRequest) =>
      ConsoleHttp.hostAllowed(options.hosts, request)

    const snapshot = Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      const now = yield* Clock.currentTimeMillis
      const wall = Date.now() - started.wall
      const tasks = yield* sandbox.tasks
      return {
        now,
        // Measured, so it is right for any Clock: live, scaled, or a TestClock that only moves when told.
        speed: wall < 500 ? undefined : Math.max(0, (now - started.clock) / wall),
        gatewayUrl: options.gatewayUrl,
        csrf: token,
        tasks,
        calls: yield* sandbox.calls,
        ledger: yield* sandbox.ledger,
        notifications: yield* sandbox.notifications,
        queued: yield* sandbox.queuedFaults,
        actions: actions.slice(-8),
        defaultPartner: tasks[0]?.partner ?? TestKeys.partnerId,
        defaultPlatformAccount: tasks[0]?.platformAccount ?? TestKeys.platformUserId
      } satisfies Page.Snapshot
    })

    const view = (render: (s: Page.Snapshot) => string, contentType: string) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (!hostAllowed(request)) return refused("this console is not served under that Host name")
        return HttpServerResponse.text(render(yield* snapshot), { contentType, headers })
      })

    const asset = (text: string, contentType: string) =>
      Effect.succeed(HttpServerResponse.text(text, { contentType, headers }))

    const record = (ok: boolean, text: string) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        actions.push({ at, ok, text })
        if (actions.length > 50) actions.shift()
      })

    /** A POST that passed the Host, Origin and token checks runs `act` on its form, then goes back to `/`. */
    const action = <E>(
      act: (form: UrlParams.UrlParams, sandbox: Sandbox.Sandbox) => Effect.Effect<string, E>
    ) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (!hostAllowed(request)) return refused("this console is not served under that Host name")
        if (!ConsoleHttp.sameOrigin(request))
          return refused("the request's Origin is missing or is not this console")
        const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => UrlParams.empty)
        if (
          !ConsoleHttp.sameText(
            Option.getOrElse(UrlParams.getFirst(form, "csrf"), () => ""),
            token
          )
        )
          return refused("the form's CSRF token is missing or wrong")
        const sandbox = yield* Sandbox.Sandbox
        yield* act(form, sandbox).pipe(
          Effect.matchEffect({
            onFailure: (e) => record(false, String((e as { message?: unknown }).message ?? e)),
            onSuccess: (text) => record(true, text)
          })
        )
        return HttpServerResponse.empty({ status: 303, headers: { ...headers, location: "/" } })
      })

    const field = (form: UrlParams.UrlParams, name: string) =>
      Option.getOrElse(UrlParams.getFirst(form, name), () => "").trim()

    const resend = action((form, sandbox) => {
      const notifyId = field(form, "notify_id")
      return Effect.map(sandbox.resend(notifyId), (a) =>
        a.result._tag === "Answered"
          ? `resent ${notifyId}: HTTP ${a.result.status}${a.acknowledged ? ", acknowledged" : ", not acknowledged"}`
          : `resent ${notifyId}: ${a.result.message}`
      )
    })

    const inject = action((form, sandbox) => {
      const value = field(form, "fault")
      const choice = Page.FAULT_CHOICES.find((c) => c.value === value)
      if (choice === undefined) return Effect.fail({ message: `no fault "${value}"` })
      return Effect.as(
        choice.kind === "answer"
          ? sandbox.queueAnswerFaults(choice.fault)
          : sandbox.queueNotifyFaults(choice.fault),
        `queued ${Page.describeFault(choice.fault)} for the ${choice.kind === "answer" ? "next confirm call" : "next paid call's notifications"}`
      )
    })

    const register = action((form, sandbox) => {
      const outerTaskId = field(form, "outer_task_id")
      const lines = field(form, "transfers")
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== "")
      const transfers = lines.map((line) => {
        const [serial = "", payeeUserId = "", amount = ""] = line.split(/\s+/)
        return { serial, payeeUserId, amount }
      })
      return Effect.as(
        sandbox.registerTask({
          partner: field(form, "partner"),
          outerTaskId,
          transfers,
          serviceFee: field(form, "service_fee") || "0.00",
          platformAccount: field(form, "platform_account")
        }),
        `registered task ${outerTaskId} (${transfers.map((t) => t.serial).join(", ")})`
      )
    })

    return HttpRouter.empty.pipe(
      HttpRouter.get(
        "/",
        view((s) => Html.document(Page.page(s)), "text/html; charset=utf-8")
      ),
      HttpRouter.get(
        "/console/live",
        view((s) => Page.live(s).text, "text/html; charset=utf-8")
      ),
      HttpRouter.get("/console.js", asset(Assets.script, "text/javascript; charset=utf-8")),
      HttpRouter.get("/console.css", asset(Assets.style, "text/css; charset=utf-8")),
      HttpRouter.get("/favicon.svg", asset(Assets.icon, "image/svg+xml")),
      HttpRouter.post("/console/resend", resend),
      HttpRouter.post("/console/fault", inject),
      HttpRouter.post("/console/task", register)
    )
  })
