/**
 * The receiver console: a web page for a live receiver, served at a path prefix (default `/_witkey/`) of the
 * receiver's own port. It shows the inbox's entries by state, each entry's attempts (time, source,
 * verification, the key that verified it, notify_verify, outcome, error, duration) and its body decoded in the
 * receiver's charset; the payout journal and its reconciliation when a journal is given; all refreshing every
 * second. Replay and resolve are buttons.
 *
 * Security:
 * - Bound to loopback unless told otherwise; any other binding needs an access token (`make` fails without
 *   one). A request then carries it as `Authorization: Bearer <token>` or as the cookie a `?token=` link sets
 *   (the link redirects to the same page without the token, so it stays out of the history).
 * - The Host header must name this server (DNS rebinding).
 * - Replay and resolve are POSTs that must carry this process's random CSRF token from the page's hidden field
 *   and an Origin that is this server.
 * - Every value is escaped (`Html`); a strict Content-Security-Policy allows scripts and styles from the
 *   console only, no inline script.
 * - Payee ids are masked unless asked for (`?unmask=1`, or the header's toggle); nothing of a key is served
 *   (the inbox holds none: only the id of the key that verified a delivery).
 *
 * @since 0.1.0
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import type * as Charset from "@witkey/core/Charset"
import * as CharsetCodec from "@witkey/core/Charset"
import * as Inbox from "@witkey/core/Inbox"
import type * as Notification from "@witkey/core/Notification"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import { Cause, Clock, Duration, Effect, Either, Option, Redacted, Schema } from "effect"
import * as Assets from "./ConsoleAssets.js"
import * as ConsoleHttp from "./ConsoleHttp.js"
import * as Html from "./Html.js"
import * as Page from "./internal/ReceiverPage.js"

export const DEFAULT_PREFIX = "/_witkey/"

const EMPTY = new Uint8Array(0)

/** The cookie a `?token=` link sets. */
export const COOKIE = "witkey_console"

export class ConsoleError extends Schema.TaggedError<ConsoleError>()("ConsoleError", {
  reason: Schema.Literal("token_required", "bad_token", "bad_prefix"),
  message: Schema.String
}) {}

export interface Options<E, R> {
  /** Where the console is served; starts and ends with `/`. Default `/_witkey/`. */
  readonly prefix?: string | undefined
  /** The address the server listens on (`--host`): anything but loopback needs `token`. */
  readonly host: string
  /** The port it listens on (for the Host check). */
  readonly port: number
  /** The access token (letters, digits, `-._~`, 16 or more): required off loopback, checked when given. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** What a replay runs: the receiver's own handler. */
  readonly handler: (notification: Notification.Notification) => Effect.Effect<void, E, R>
  /** The receiver's charset, for replays and for showing bodies; default utf-8. */
  readonly charset?: Charset.Charset | undefined
  /** The payout journal, to show it and its reconciliation with the inbox. */
  readonly journal?: PayoutJournal.PayoutJournal | undefined
  /**
   * How long the notifications of a journal task whose paid serials are all notified are kept before they are
   * read again (each task's own time is drawn between half this and this, so the reads spread out); default
   * one minute. A late ASSIGN of such a task (perhaps unrequested, an alarm) shows at once while it is among
   * the newest entries, and at the latest after this long otherwise.
   */
  readonly settledRecheck?: Duration.DurationInput | undefined
  /** The CSRF token; default 32 random bytes, hex. */
  readonly csrf?: string | undefined
}

const TOKEN = /^[A-Za-z0-9._~-]{16,}$/

/**
 * What is unsafe about serving the console on `host` with `token`, if anything: a host that is not loopback
 * without a token, or a token a cookie cannot carry. `make` fails with it; a CLI checks it before listening.
 */
export const checkAccess = (
  host: string,
  token: Redacted.Redacted<string> | undefined
): ConsoleError | undefined =>
  token === undefined
    ? ConsoleHttp.isLoopback(host)
      ? undefined
      : new ConsoleError({
          reason: "token_required",
          message: `the console on ${host} (not loopback) needs an access token`
        })
    : TOKEN.test(Redacted.value(token))
      ? undefined
      : new ConsoleError({
          reason: "bad_token",
          message: "the console token must be 16 or more letters, digits or -._~"
        })

/**
 * The console as an `HttpApp` answering every path under the prefix (anything else is 404). Fails when the
 * options are unsafe: a non-loopback host without a token, or a token a cookie cannot carry.
 */
export const make = <E, R>(
  options: Options<E, R>
): Effect.Effect<HttpApp.Default<never, Inbox.Operations | R>, ConsoleError> =>
  Effect.gen(function* () {
    const prefix = options.prefix ?? DEFAULT_PREFIX
    if (!/^\/([A-Za-z0-9._~-]+\/)*$/.test(prefix))
      return yield* new ConsoleError({
        reason: "bad_prefix",
        message: `console prefix "${prefix}" must be a path that starts and ends with /`
      })
    const unsafe = checkAccess(options.host, options.token)
    if (unsafe !== undefined) return yield* unsafe
    const access = options.token === undefined ? undefined : Redacted.value(options.token)
    const hosts = ConsoleHttp.hostsFor(options.host, options.port)
    const csrf = options.csrf ?? ConsoleHttp.randomToken()
    const charset = options.charset ?? "utf-8"
    const actions: Array<Page.Action> = []

    const record = (ok: boolean, text: string) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        actions.push({ at, ok, text })
        if (actions.length > 20) actions.shift()
      })

    const urlOf = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://console")

    /** The Host and access checks every request passes; a response when it does not. */
    const gate = (
      request: HttpServerRequest.HttpServerRequest
    ): HttpServerResponse.HttpServerResponse | undefined => {
      if (!ConsoleHttp.hostAllowed(hosts, request))
        return ConsoleHttp.refused("receiver", "this console is not served under that Host name")
      if (access === undefined) return undefined
      const authorization = request.headers.authorization ?? ""
      const bearer = authorization.startsWith("Bearer ") ? authorization.slice(7).trim() : ""
      if (ConsoleHttp.sameText(bearer, access) || ConsoleHttp.sameText(request.cookies[COOKIE] ?? "", access))
        return undefined
      const url = urlOf(request)
      const given = url.searchParams.get("token")
      if (request.method === "GET" && given !== null && ConsoleHttp.sameText(given, access)) {
        url.searchParams.delete("token")
        return HttpServerResponse.empty({
          status: 303,
          headers: {
            ...ConsoleHttp.headers,
            location: `${url.pathname}${url.search}`,
            "set-cookie": `${COOKIE}=${access}; Path=${prefix}; HttpOnly; SameSite=Strict`
          }
        })
      }
      return HttpServerResponse.text(
        "witkey receiver console: this console needs its token (open it with ?token=…, or send Authorization: Bearer …)\n",
        { status: 401, headers: ConsoleHttp.headers }
      )
    }

    const statusOf = (url: URL): Inbox.Status | undefined => {
      const s = url.searchParams.get("status")
      return Page.STATUSES.find((x) => x === s)
    }
    const unmaskOf = (url: URL) => url.searchParams.get("unmask") === "1"

    /**
     * Each journal task's notifications as last read, kept while they settle every serial its payouts name:
     * an inbox never deletes a row, so a settled serial stays settled, and such a task is not read again on
     * every refresh (one query per task per second per open page, on SQLite the connection deliveries need).
     * Read again when the task's paid serials change, when one of the newest entries is of the task and not
     * among those kept (a late ASSIGN, perhaps unrequested), and after `settledRecheck` in any case: a late
     * ASSIGN no longer among the newest when a page is drawn would otherwise stay hidden. Kept without bodies,
     * errors or notes: the reconciliation reads only ids, types and times.
     */
    const settledTasks = new Map<
      string,
      {
        readonly serials: string
        readonly ids: ReadonlySet<string>
        readonly entries: ReadonlyArray<Inbox.Entry>
        /** Clock millis after which the task is read again. */
        readonly until: number
      }
    >()
    const recheckMillis = Duration.toMillis(Duration.decode(options.settledRecheck ?? "1 minute"))

    /**
     * The journal, its unreadable rows (shown too: left out, a damaged payout would be invisible here) and the
     * notifications to reconcile it with: every notification of every task in the journal, read by task (an
     * inbox only grows: a payout's notification may be far older than the newest entries, and matched against
     * those alone it would read `notification_overdue`, an alarm; `settledTasks` spares most of the reads), and
     * the newest entries, where an ASSIGN of a task the journal does not know shows as `unrequested`.
     */
    const journalView = (
      journal: PayoutJournal.PayoutJournal,
      operations: Inbox.Operations,
      newest: ReadonlyArray<Inbox.Entry>
    ) =>
      Effect.gen(function* () {
        const [payouts, unreadable] = yield* Effect.all([journal.all, journal.unreadable])
        const now = yield* Clock.currentTimeMillis
        const serialsOf = new Map<string, Set<string>>()
        for (const p of unreadable) if (!serialsOf.has(p.outerTaskId)) serialsOf.set(p.outerTaskId, new Set())
        for (const p of payouts) {
          const set = serialsOf.get(p.outerTaskId) ?? new Set<string>()
          for (const serial of p.transfers) set.add(serial)
          serialsOf.set(p.outerTaskId, set)
        }
        const newestOf = new Map<string, Array<string>>()
        for (const e of newest) {
          if (e.outerTaskId === undefined) continue
          const ids = newestOf.get(e.outerTaskId)
          if (ids === undefined) newestOf.set(e.outerTaskId, [e.notifyId])
          else ids.push(e.notifyId)
        }
        const signature = (serials: ReadonlySet<string>) => [...serials].sort().join("\n")
        const kept = (task: string) => {
          const cached = settledTasks.get(task)
          return cached !== undefined &&
            now < cached.until &&
            cached.serials === signature(serialsOf.get(task)!) &&
            (newestOf.get(task) ?? []).every((id) => cached.ids.has(id))
            ? cached.entries
            : undefined
        }
        const inbox = yield* Effect.serviceOption(Inbox.Inbox)
        const read = (task: string) =>
          Effect.map(
            Option.isSome(inbox)
              ? inbox.value.byTask(task)
              : operations.list({ outerTaskId: task, limit: Number.MAX_SAFE_INTEGER }),
            (entries) => {
              const serials = serialsOf.get(task)!
              const notified = new Set(
                entries.filter((e) => e.subType === Protocol.Notify.assign).map((e) => e.outerTransferNo)
              )
              if ([...serials].every((serial) => notified.has(serial)))
                settledTasks.set(task, {
                  serials: signature(serials),
                  ids: new Set(entries.map((e) => e.notifyId)),
                  entries: entries.map((e) => ({
                    ...e,
                    body: EMPTY,
                    lastError: undefined,
                    resolution: undefined
                  })),
                  until: now + recheckMillis * (0.5 + Math.random() / 2)
                })
              else settledTasks.delete(task)
              return entries
            }
          )
        const byTask = yield* Effect.forEach(
          [...serialsOf.keys()],
          (task) => {
            const entries = kept(task)
            return entries === undefined ? read(task) : Effect.succeed(entries)
          },
          { concurrency: 4 }
        )
        // Nothing kept past its time, or for a task the journal no longer names.
        for (const [task, cached] of settledTasks)
          if (now >= cached.until || !serialsOf.has(task)) settledTasks.delete(task)
        const seen = new Set<string>()
        const notifications: Array<Inbox.Entry> = []
        for (const entry of [...byTask.flat(), ...newest])
          if (!seen.has(entry.notifyId)) {
            seen.add(entry.notifyId)
            notifications.push(entry)
          }
        return { payouts, unreadable, notifications }
      })

    const inboxView = (url: URL) =>
      Effect.gen(function* () {
        const operations = yield* Inbox.Operations
        // The newest entries (an inbox only grows: the first ones ever received are not what an operator looks
        // for), for the page and the reconciliation, and each status's newest, for its count (at most
        // `Page.LIMIT`, shown as "1000+") and its tab: a count taken from the newest entries of every status
        // would say "exhausted (0)" for a tab that lists old exhausted entries.
        const status = statusOf(url)
        // Not read for a status tab without a journal: nothing would use it.
        const all =
          status === undefined || options.journal !== undefined
            ? yield* operations.list({ order: "newest", limit: Page.LIMIT })
            : []
        const byStatus = yield* Effect.forEach(Page.STATUSES, (s) =>
          operations.list({ status: s, order: "newest", limit: Page.LIMIT })
        )
        const counts = Object.fromEntries(Page.STATUSES.map((s, i) => [s, byStatus[i]!.length])) as Record<
          Inbox.Status,
          number
        >
        const chosen = status === undefined ? all : byStatus[Page.STATUSES.indexOf(status)]!
        const journal =
          options.journal === undefined ? undefined : yield* journalView(options.journal, operations, all)
        const now = yield* Clock.currentTimeMillis
        return {
          prefix,
          now,
          csrf,
          status,
          unmask: unmaskOf(url),
          // Newest first.
          entries: chosen,
          counts,
          actions: actions.slice(-8),
          journal:
            journal === undefined
              ? undefined
              : {
                  payouts: journal.payouts,
                  unreadable: journal.unreadable,
                  reconciliation: PayoutJournal.reconcile({ ...journal, now })
                }
        } satisfies Page.View
      })

    const entryView = (url: URL) =>
      Effect.gen(function* () {
        const operations = yield* Inbox.Operations
        const id = url.searchParams.get("id") ?? ""
        // By its key where the inbox is in context (as with the SDK's layers, which provide both), else among
        // the newest entries.
        const inbox = yield* Effect.serviceOption(Inbox.Inbox)
        const found = Option.isSome(inbox)
          ? Option.getOrUndefined(yield* inbox.value.get(id))
          : (yield* operations.list({ order: "newest" })).find((e) => e.notifyId === id)
        if (found === undefined) return Option.none()
        const attempts = yield* operations.attempts(id)
        const removed = found.bodyRemovedAt !== undefined || found.body.length === 0
        const decoded: Page.EntryView["decoded"] = removed
          ? { _tag: "Removed" }
          : yield* Inbox.decodeStored(found, charset).pipe(
              Effect.match({
                onFailure: (e) => ({ _tag: "Failed" as const, message: e.message }),
                onSuccess: (n) => ({
                  _tag: "Fields" as const,
                  charset: n.charset,
                  form: n.form,
                  payees: Object.hasOwn(n.fields, "payee_user_id") ? [n.fields.payee_user_id!] : []
                })
              })
            )
        return Option.some({
          prefix,
          csrf,
          unmask: unmaskOf(url),
          entry: found,
          attempts,
          decoded,
          raw: Either.getOrElse(CharsetCodec.decode(found.body, charset), (e) => `(${e})`),
          actions: actions.slice(-8)
        } satisfies Page.EntryView)
      })

    const html = (text: string) =>
      HttpServerResponse.text(text, { contentType: "text/html; charset=utf-8", headers: ConsoleHttp.headers })

    const view = <A, E2, R2>(build: (url: URL) => Effect.Effect<A, E2, R2>, render: (a: A) => string) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const stop = gate(request)
        if (stop !== undefined) return stop
        return yield* build(urlOf(request)).pipe(
          Effect.map((a) => html(render(a))),
          Effect.catchAll((e) =>
            Effect.succeed(
              HttpServerResponse.text(
                `witkey receiver console: ${String((e as { message?: unknown }).message ?? e)}\n`,
                {
                  status: 500,
                  headers: ConsoleHttp.headers
                }
              )
            )
          )
        )
      })

    const entry = (render: (v: Page.EntryView) => Html.Html, wrap: (h: Html.Html) => string) =>
      view(entryView, (found) =>
        Option.match(found, {
          onNone: () => wrap(Html.html`<p class="bad">No such entry.</p>`),
          onSome: (v) => wrap(render(v))
        })
      )

    const asset = (text: string, contentType: string) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        return gate(request) ?? HttpServerResponse.text(text, { contentType, headers: ConsoleHttp.headers })
      })

    /** A POST that passed the Host, access, Origin and CSRF checks runs `act`, records what it did, and goes back. */
    const action = <E2, R2>(
      act: (notifyId: string, form: UrlParams.UrlParams) => Effect.Effect<string, E2, R2>
    ) =>
      Effect.gen(function* () {
        const request = yield* HttpServerRequest.HttpServerRequest
        const stop = gate(request)
        if (stop !== undefined) return stop
        if (!ConsoleHttp.sameOrigin(request))
          return ConsoleHttp.refused("receiver", "the request's Origin is missing or is not this console")
        const form = yield* Effect.orElseSucceed(request.urlParamsBody, () => UrlParams.empty)
        const field = (name: string) => Option.getOrElse(UrlParams.getFirst(form, name), () => "").trim()
        if (!ConsoleHttp.sameText(field("csrf"), csrf))
          return ConsoleHttp.refused("receiver", "the form's CSRF token is missing or wrong")
        yield* act(field("notify_id"), form).pipe(
          Effect.matchEffect({
            onFailure: (e) => record(false, `failed: ${String((e as { message?: unknown }).message ?? e)}`),
            onSuccess: (text) => record(true, text)
          })
        )
        // Back to the page the form was on, only within the console.
        const back = field("back")
        const location = back.startsWith(prefix) && !back.startsWith("//") ? back : prefix
        return HttpServerResponse.empty({ status: 303, headers: { ...ConsoleHttp.headers, location } })
      })

    const replay = action((notifyId) =>
      Effect.flatMap(Inbox.Operations, (operations) =>
        operations.replay(notifyId, options.handler, { charset }).pipe(
          Effect.map((outcome) => {
            switch (outcome._tag) {
              case "Processed":
                return `replayed ${notifyId}: processed`
              case "Duplicate":
                return `replayed ${notifyId}: a duplicate of ${outcome.processedNotifyId} (by ${outcome.by})`
              case "Parked":
                return `replayed ${notifyId}: failed permanently, parked: ${outcome.error}`
              case "AlreadyProcessed":
                return `${notifyId} is already processed (as ${outcome.processedNotifyId}): nothing replayed`
              case "NotFound":
                return `${notifyId}: no such entry`
              case "BodyRemoved":
                return `${notifyId}: its body was erased; nothing to replay`
            }
          }),
          Effect.mapError((e) => ({
            message: `replay of ${notifyId}: ${Inbox.describeFailure(Cause.fail(e))}`
          }))
        )
      )
    )

    const resolve = action((notifyId, form) =>
      Effect.flatMap(Inbox.Operations, (operations) => {
        const note =
          Option.getOrElse(UrlParams.getFirst(form, "note"), () => "").trim() || "resolved in the console"
        return Effect.map(operations.resolve(notifyId, note), (outcome) =>
          outcome._tag === "Resolved"
            ? `resolved ${notifyId}: ${note}`
            : outcome._tag === "AlreadyProcessed"
              ? `${notifyId} is already processed (as ${outcome.processedNotifyId}): nothing resolved`
              : `${notifyId}: no such entry`
        )
      })
    )

    const p = prefix as `/${string}`
    const router = HttpRouter.empty.pipe(
      HttpRouter.get(
        p,
        view(inboxView, (v) => Html.document(Page.page(v)))
      ),
      HttpRouter.get(
        `${p}live`,
        view(inboxView, (v) => Page.live(v).text)
      ),
      HttpRouter.get(
        `${p}entry`,
        entry(Page.entryPage, (h) => Html.document(h))
      ),
      HttpRouter.get(
        `${p}entry/live`,
        entry(Page.entryLive, (h) => h.text)
      ),
      HttpRouter.get(
        `${p}console.js`,
        asset(Assets.refreshScript(`${p}live`), "text/javascript; charset=utf-8")
      ),
      HttpRouter.get(`${p}console.css`, asset(Assets.style, "text/css; charset=utf-8")),
      HttpRouter.get(`${p}favicon.svg`, asset(Assets.icon, "image/svg+xml")),
      HttpRouter.post(`${p}replay`, replay),
      HttpRouter.post(`${p}resolve`, resolve)
    )
    return router.pipe(
      Effect.catchTag("RouteNotFound", () =>
        Effect.succeed(
          HttpServerResponse.text("witkey receiver console: not found\n", {
            status: 404,
            headers: ConsoleHttp.headers
          })
        )
      )
    )
  })

/**
 * `app` with the console in front: requests under the prefix go to the console, everything else to `app`
 * (the notification endpoint at `/`).
 */
export const serveWith = <E, R, E2, R2>(
  options: Options<E, R>,
  app: HttpApp.Default<E2, R2>
): Effect.Effect<HttpApp.Default<E2, Inbox.Operations | R | R2>, ConsoleError> =>
  Effect.map(make(options), (console) => {
    const prefix = options.prefix ?? DEFAULT_PREFIX
    const bare = prefix.slice(0, -1)
    return Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request): HttpApp.Default<E2, Inbox.Operations | R | R2> => {
        const path = request.url.split("?")[0]!
        return path.startsWith(prefix) || path === bare ? console : app
      }
    )
  })
