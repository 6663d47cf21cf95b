// The receiver console in a real browser: Debian's Chromium driven by playwright-core. Pressing replay on an
// exhausted entry processes it once, and a second press says it is already processed; off loopback the page
// needs its token (a ?token= link sets the cookie every later request, POSTs included, carries); the page
// refreshes itself under the strict CSP; the browser logs no error. Skipped only when /usr/bin/chromium is
// missing and WITKEY_BROWSER_REQUIRED is not set; CI sets it.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { type Browser, chromium } from "playwright-core"
import { serve } from "./Harness.js"

const CHROMIUM = "/usr/bin/chromium"
const available = Fs.existsSync(CHROMIUM)
const required = (process.env.WITKEY_BROWSER_REQUIRED ?? "") !== ""
if (!available && !required)
  console.warn(
    `ReceiverConsoleBrowser: skipped, ${CHROMIUM} is missing (set WITKEY_BROWSER_REQUIRED=1 to fail)`
  )

const launch = Effect.acquireRelease(
  Effect.promise(() =>
    chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
  ),
  (b) => Effect.promise(() => b.close())
)

/** A page that collects the browser's errors (a CSP violation is one). */
const open = (browser: Browser) =>
  Effect.gen(function* () {
    const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1400, height: 900 } }))
    const errors: Array<string> = []
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`${m.text()} (${m.location().url})`)
    })
    page.on("pageerror", (e) => errors.push(e.message))
    return { page, errors }
  })

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

describe("receiver console in Chromium", () => {
  it.live.skipIf(!available && !required)(
    "replay on an exhausted entry processes it once; a second press says it is already processed",
    () =>
      Effect.gen(function* () {
        const s = yield* serve({})
        const browser = yield* launch
        const { page, errors } = yield* open(browser)
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

  it.live.skipIf(!available && !required)("off loopback the page needs its token", () =>
    Effect.gen(function* () {
      const token = "browser-console-token-0123456789"
      const s = yield* serve({ host: "0.0.0.0", token })
      const browser = yield* launch
      const { page, errors } = yield* open(browser)
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
