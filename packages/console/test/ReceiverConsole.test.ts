// The receiver console over HTTP (no browser): the access token off loopback, the Host, Origin and CSRF
// checks, escaping, masking of payee ids, the CSP, and that the endpoint still answers outside the prefix.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as Http from "node:http"
import { LIMIT } from "../src/internal/ReceiverPage.js"
import * as ReceiverConsole from "../src/ReceiverConsole.js"
import { assign, received } from "@witkey/testkit/InboxSuite"
import { PAYEE, serve } from "./Harness.js"

const request = (
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {}
) =>
  Effect.promise(
    () =>
      new Promise<{ status: number; headers: Http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
        const r = Http.request(
          url,
          { method: options.method ?? "GET", headers: options.headers ?? {} },
          (res) => {
            let text = ""
            res.setEncoding("utf8")
            res.on("data", (c) => (text += c))
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
          }
        )
        r.on("error", reject)
        r.end(options.body)
      })
  )

const csrfOf = (page: string) => /name="csrf" value="([0-9a-f]+)"/.exec(page)?.[1] ?? ""

describe("ReceiverConsole", () => {
  it.effect("refuses to serve off loopback without a token", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        ReceiverConsole.make({ host: "0.0.0.0", port: 1, handler: () => Effect.void })
      )
      assert.strictEqual(error.reason, "token_required")
      const other = yield* Effect.flip(
        ReceiverConsole.make({ host: "192.168.1.10", port: 1, handler: () => Effect.void })
      )
      assert.strictEqual(other.reason, "token_required")
      assert.isUndefined(ReceiverConsole.checkAccess("127.0.0.1", undefined))
      assert.isUndefined(ReceiverConsole.checkAccess("::1", undefined))
      assert.isUndefined(ReceiverConsole.checkAccess("localhost", undefined))
      assert.strictEqual(ReceiverConsole.checkAccess("0.0.0.0", undefined)?.reason, "token_required")
      assert.strictEqual(ReceiverConsole.checkAccess("127.evil.example", undefined)?.reason, "token_required")
      const short = yield* Effect.flip(
        ReceiverConsole.make({
          host: "0.0.0.0",
          port: 1,
          handler: () => Effect.void,
          token: Redacted.make("short")
        })
      )
      assert.strictEqual(short.reason, "bad_token")
    })
  )

  it.live("with a token, every request needs it: Bearer, or the cookie a ?token= link sets", () =>
    Effect.gen(function* () {
      const token = "a-console-token-0123456789"
      const s = yield* serve({ host: "0.0.0.0", token })
      const bare = yield* request(s.url)
      assert.strictEqual(bare.status, 401)
      assert.notInclude(bare.text, s.exhausted)
      assert.strictEqual((yield* request(`${s.url}console.js`)).status, 401)
      const wrong = yield* request(s.url, { headers: { authorization: "Bearer wrong-token-0123456789" } })
      assert.strictEqual(wrong.status, 401)
      const bearer = yield* request(s.url, { headers: { authorization: `Bearer ${token}` } })
      assert.strictEqual(bearer.status, 200)
      assert.include(bearer.text, s.exhausted)
      const link = yield* request(`${s.url}?status=exhausted&token=${token}`)
      assert.strictEqual(link.status, 303)
      assert.strictEqual(link.headers.location, "/_witkey/?status=exhausted")
      const cookie = (link.headers["set-cookie"] ?? [])[0] ?? ""
      assert.include(cookie, "HttpOnly")
      assert.include(cookie, "SameSite=Strict")
      const withCookie = yield* request(`${s.origin}/_witkey/?status=exhausted`, {
        headers: { cookie: cookie.split(";")[0]! }
      })
      assert.strictEqual(withCookie.status, 200)
      assert.include(withCookie.text, s.exhausted)
      // Resolve, with the token, the Origin and the page's CSRF token: the entry is settled by hand.
      const resolved = yield* request(`${s.url}resolve`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          origin: s.origin,
          "content-type": "application/x-www-form-urlencoded"
        },
        body: `csrf=${csrfOf(bearer.text)}&notify_id=${s.exhausted}`
      })
      assert.strictEqual(resolved.status, 303)
      const after = yield* request(`${s.url}entry?id=${s.exhausted}`, {
        headers: { authorization: `Bearer ${token}` }
      })
      assert.include(after.text, `resolved ${s.exhausted}: resolved in the console`)
      assert.match(after.text, /class="ok status">resolved</)
      assert.deepStrictEqual(yield* s.runs.get, [], "resolving runs no handler")
      // The endpoint outside the prefix is not the console's business.
      assert.strictEqual((yield* request(`${s.origin}/`)).text, "endpoint")
    }).pipe(Effect.scoped)
  )

  it.live("lists the journal's unreadable payouts, escaped, and counts each as an alarm", () =>
    Effect.gen(function* () {
      const plain = yield* request((yield* serve({})).url)
      assert.notInclude(plain.text, "unreadable-payouts")
      assert.include(plain.text, "no alarms", "a serial awaiting its notification is no alarm")
      const s = yield* serve({
        unreadable: [
          {
            id: "payout-<9>",
            outerTaskId: "task-<x>",
            transfers: ["s-7", "s-8"],
            outcomeTag: "Unknown",
            recordedAt: 0,
            problem: "its outcome does not decode"
          }
        ]
      })
      const page = yield* request(s.url)
      assert.strictEqual(page.status, 200)
      assert.include(page.text, 'id="unreadable-payouts"')
      assert.include(page.text, "1 stored payout(s) do not decode")
      assert.include(page.text, "payout-&lt;9&gt;")
      assert.include(page.text, "task-&lt;x&gt;")
      assert.notInclude(page.text, "task-<x>")
      assert.include(page.text, "s-7, s-8")
      assert.include(page.text, "its outcome does not decode")
      assert.include(page.text, "1 alarm(s)", "the unreadable payout")
      // An entry is found by its key; an unknown one is not found.
      assert.include((yield* request(`${s.url}entry?id=${s.processed}`)).text, s.processed)
      assert.include((yield* request(`${s.url}entry?id=nope-${s.processed}`)).text, "No such entry.")
    }).pipe(Effect.scoped)
  )

  it.live(
    "an inbox past the page's limit: the page shows the newest entries, an entry is found by its key",
    () =>
      Effect.gen(function* () {
        const s = yield* serve({ extra: LIMIT + 1 })
        const page = yield* request(s.url)
        assert.strictEqual(page.status, 200)
        assert.include(page.text, `the newest ${LIMIT}`)
        // Each status counted on its own: the exhausted entry is older than the newest thousand; processed ones
        // are more than the page holds.
        assert.include(page.text, "exhausted (1)")
        assert.include(page.text, `processed (${LIMIT}+)`)
        assert.include(page.text, `rc-${s.run}-extra-${LIMIT}`, "the newest entry is on the page")
        assert.notInclude(page.text, `data-notify-id="${s.exhausted}"`, "the oldest is not listed")
        // The journal's payout is reconciled against its task's notifications, read by task: both are older
        // than the newest thousand, and matched against those alone they read as overdue or awaited.
        assert.match(page.text, /s-2<\/td>\s*<td class="ok">settled/)
        assert.match(page.text, /s-&lt;1&gt;<\/td>\s*<td class="ok">settled/)
        assert.match(page.text, /s-3<\/td>\s*<td class="warn">awaiting_notification/)
        // The oldest entry, off the page, is still found by its key.
        assert.include((yield* request(`${s.url}entry?id=${s.exhausted}`)).text, "ledger &lt;down&gt;")
        assert.include((yield* request(`${s.url}entry?id=rc-${s.run}-extra-${LIMIT}`)).text, `x-${LIMIT}`)
      }).pipe(Effect.scoped)
  )

  it.live(
    "with only Operations in context, the journal is still reconciled against its tasks' notifications",
    () =>
      Effect.gen(function* () {
        const s = yield* serve({ extra: LIMIT + 1, operationsOnly: true })
        const page = yield* request(s.url)
        assert.strictEqual(page.status, 200)
        assert.match(page.text, /s-2<\/td>\s*<td class="ok">settled/)
        assert.match(page.text, /s-&lt;1&gt;<\/td>\s*<td class="ok">settled/)
      }).pipe(Effect.scoped)
  )

  it.live(
    "a journal task is read by task while a serial of it is unsettled, then kept until it changes",
    () =>
      Effect.gen(function* () {
        const s = yield* serve({})
        const task = `task-${s.run}`
        const reads = () => Effect.map(s.byTaskReads.get, (r) => r.filter((t) => t === task).length)
        const page = () => Effect.map(request(s.url), (p) => p.text)
        yield* page()
        yield* page()
        assert.strictEqual(yield* reads(), 2, "s-3 unsettled: read on every page")
        yield* s.inbox.receive(
          yield* received({ notifyId: `rc-${s.run}-3`, payload: assign(task, "s-3") }),
          () => Effect.void
        )
        assert.match(yield* page(), /s-3<\/td>\s*<td class="ok">settled/)
        assert.strictEqual(yield* reads(), 3)
        const kept = yield* page()
        assert.strictEqual(yield* reads(), 3, "every serial settled: kept, not read again")
        assert.match(kept, /s-3<\/td>\s*<td class="ok">settled/)
        assert.match(kept, /s-2<\/td>\s*<td class="ok">settled/)
        // A late ASSIGN of the task for a serial nobody paid: among the newest, not among those kept.
        yield* s.inbox.receive(
          yield* received({ notifyId: `rc-${s.run}-9`, payload: assign(task, "s-9") }),
          () => Effect.void
        )
        assert.match(yield* page(), /s-9<\/td>\s*<td class="bad">unrequested/)
        assert.strictEqual(yield* reads(), 4, "read again: a new entry of the task")
        assert.match(yield* page(), /s-9<\/td>\s*<td class="bad">unrequested/)
        assert.strictEqual(yield* reads(), 4, "kept again, the unrequested ASSIGN with it")
      }).pipe(Effect.scoped)
  )

  it.live(
    "a kept task is read again after settledRecheck: a late ASSIGN off the newest page still shows",
    () =>
      Effect.gen(function* () {
        const s = yield* serve({ settledRecheck: "300 millis" })
        const task = `task-${s.run}`
        const page = () => Effect.map(request(s.url), (p) => p.text)
        yield* s.inbox.receive(
          yield* received({ notifyId: `rc-${s.run}-3`, payload: assign(task, "s-3") }),
          () => Effect.void
        )
        assert.match(yield* page(), /s-3<\/td>\s*<td class="ok">settled/)
        // A late ASSIGN nobody paid for, then more than a page of other entries: it is not among the newest.
        yield* s.inbox.receive(
          yield* received({ notifyId: `rc-${s.run}-9`, payload: assign(task, "s-9") }),
          () => Effect.void
        )
        for (let i = 0; i <= LIMIT; i++)
          yield* s.inbox.receive(
            yield* received({
              notifyId: `rc-${s.run}-later-${i}`,
              payload: assign(`other-${s.run}`, `o-${i}`)
            }),
            () => Effect.void
          )
        // Past the task's time (at most settledRecheck after its read), it is read again.
        yield* Effect.sleep("400 millis")
        assert.match(yield* page(), /s-9<\/td>\s*<td class="bad">unrequested/)
      }).pipe(Effect.scoped)
  )

  it.live("checks Host, Origin and the CSRF token; escapes, masks payee ids, sets a strict CSP", () =>
    Effect.gen(function* () {
      const s = yield* serve({})
      const page = yield* request(s.url)
      assert.strictEqual(page.status, 200)
      assert.include(String(page.headers["content-security-policy"]), "default-src 'none'")
      assert.notInclude(page.text, "<script>")
      assert.include(page.text, "ledger &lt;down&gt;")
      assert.notInclude(page.text, "ledger <down>")
      // The payout journal and the reconciliation: two serials notified, one awaited.
      assert.include(page.text, "confirmed (key alipay-2026, active)")
      assert.match(page.text, /s-3<\/td>\s*<td class="warn">awaiting_notification/)
      assert.match(page.text, /s-2<\/td>\s*<td class="ok">settled/)
      const rebound = yield* request(s.url, { headers: { host: `evil.example:80` } })
      assert.strictEqual(rebound.status, 403)

      const csrf = csrfOf(page.text)
      assert.match(csrf, /^[0-9a-f]{64}$/)
      const form = (token: string) => `csrf=${token}&notify_id=${s.exhausted}`
      const post = (headers: Record<string, string>, body: string) =>
        request(`${s.url}replay`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
          body
        })
      assert.strictEqual((yield* post({}, form(csrf))).status, 403, "no Origin")
      assert.strictEqual((yield* post({ origin: "http://evil.example" }, form(csrf))).status, 403)
      assert.strictEqual((yield* post({ origin: s.origin }, form("0".repeat(64)))).status, 403)
      assert.deepStrictEqual(yield* Effect.flatMap(Effect.succeed(s.runs), (r) => r.get), [])
      const done = yield* post({ origin: s.origin }, form(csrf))
      assert.strictEqual(done.status, 303)
      assert.deepStrictEqual(yield* s.runs.get, [s.exhausted])

      const entry = yield* request(`${s.url}entry?id=${s.exhausted}`)
      assert.strictEqual(entry.status, 200)
      assert.include(entry.text, "s-&lt;1&gt;")
      assert.include(entry.text, "2088********4333")
      assert.notInclude(entry.text, PAYEE)
      assert.include(entry.text, "replay")
      assert.notInclude(entry.text, "PRIVATE KEY")
      const unmasked = yield* request(`${s.url}entry?id=${s.exhausted}&unmask=1`)
      assert.include(unmasked.text, PAYEE)
    }).pipe(Effect.scoped)
  )
})
