// The receiver console in a real browser: Debian's Chromium driven by playwright-core. Pressing replay on an
// exhausted entry processes it once, and a second press says it is already processed; off loopback the page
// needs its token (a ?token= link sets the cookie every later request, POSTs included, carries); the page
// refreshes itself under the strict CSP; the browser logs no error. Skipped only when /usr/bin/chromium is
// missing and WITKEY_BROWSER_REQUIRED is not set; CI sets it.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Browser from "../../testkit/test/support/Browser.js"
import { serve } from "./Harness.js"

const runs = Browser.enabled("ReceiverConsoleBrowser")
const { open, promise } = Browser

describe("receiver console in Chromium", () => {
  // One browser for both tests; each has a page (and cookies) of its own.
  const browser = Browser.forSuite(runs)

  it.live.skipIf(!runs)(
    "replay on an exhausted entry processes it once; a second press says it is already processed",
    () =>
      Effect.gen(function* () {
        const s = yield* serve({})
        const { page, errors } = yield* open(browser())
        const navigation = yield* promise(() => page.goto(`${s.url}?status=exhausted`))
        assert.strictEqual(navigation?.status(), 200)
        assert.include(navigation?.headers()["content-security-policy"] ?? "", "default-src 'none'")
        // The script runs (served as its own URL under the CSP) and refreshes the live part.
        yield* promise(() => page.locator("#refresh", { hasText: "refreshing every second" }).waitFor())

        const row = page.locator(`tr[data-notify-id="${s.exhausted}"]`)
        assert.strictEqual(yield* promise(() => row.locator(".status").innerText()), "exhausted")
        assert.include(yield* promise(() => row.innerText()), "ledger <down>")
        const target =
          (process.env.WITKEY_SCREENSHOTS ?? "") === ""
            ? Path.join(Os.tmpdir(), "console-receiver.png")
            : Path.resolve(import.meta.dirname, "../../../docs/console-receiver.png")
        yield* promise(() => page.goto(s.url))
        yield* promise(() => page.locator("#refresh", { hasText: "refreshing every second" }).waitFor())
        yield* promise(() => page.screenshot({ path: target, fullPage: true }))
        yield* promise(() => page.goto(`${s.url}?status=exhausted`))

        yield* promise(() =>
          Promise.all([
            page.waitForURL(`${s.url}?status=exhausted`),
            row.getByRole("button", { name: "Replay" }).click()
          ])
        )
        yield* promise(() =>
          page.locator("#actions", { hasText: `replayed ${s.exhausted}: processed` }).waitFor()
        )
        assert.deepStrictEqual(yield* s.runs.get, [s.exhausted])
        assert.strictEqual(yield* promise(() => row.count()), 0, "no longer exhausted")

        // Again, from the entry's own page, where it is now processed.
        yield* promise(() => page.goto(`${s.url}entry?id=${s.exhausted}`))
        assert.strictEqual(yield* promise(() => page.locator("h2 .status").innerText()), "processed")
        assert.include(yield* promise(() => page.locator("#attempts").innerText()), "replay")
        yield* promise(() =>
          Promise.all([page.waitForURL(/entry\?id=/), page.getByRole("button", { name: "Replay" }).click()])
        )
        yield* promise(() => page.locator("#actions", { hasText: "is already processed" }).waitFor())
        assert.deepStrictEqual(yield* s.runs.get, [s.exhausted], "the handler ran once")
        assert.deepStrictEqual(errors, [])
      }).pipe(Effect.scoped)
  )

  it.live.skipIf(!runs)("off loopback the page needs its token", () =>
    Effect.gen(function* () {
      const token = "browser-console-token-0123456789"
      const s = yield* serve({ host: "0.0.0.0", token })
      const { page, errors } = yield* open(browser())
      const refused = yield* promise(() => page.goto(s.url))
      assert.strictEqual(refused?.status(), 401)
      assert.notInclude(yield* promise(() => page.content()), s.exhausted)
      errors.length = 0 // Chromium logs the 401 itself.

      const opened = yield* promise(() => page.goto(`${s.url}?token=${token}`))
      assert.strictEqual(opened?.status(), 200)
      assert.strictEqual(page.url(), s.url, "the token left the address bar")
      yield* promise(() => page.locator("#refresh", { hasText: "refreshing every second" }).waitFor())
      const row = page.locator(`tr[data-notify-id="${s.exhausted}"]`)
      yield* promise(() =>
        Promise.all([page.waitForURL(s.url), row.getByRole("button", { name: "Replay" }).click()])
      )
      yield* promise(() =>
        page.locator("#actions", { hasText: `replayed ${s.exhausted}: processed` }).waitFor()
      )
      assert.deepStrictEqual(yield* s.runs.get, [s.exhausted])
      assert.deepStrictEqual(errors, [])
    }).pipe(Effect.scoped)
  )
})
