// Chromium for the consoles' browser tests (the sandbox's in testkit, the receiver's in console): Debian's
// /usr/bin/chromium driven by playwright-core, which cannot download a browser of its own here. Test support
// only: this folder is outside the package's published `files`.
import { Effect, type Scope } from "effect"
import * as Fs from "node:fs"
import { type Browser, chromium, type LaunchOptions, type Page } from "playwright-core"
import { afterAll, beforeAll } from "vitest"

export const CHROMIUM = "/usr/bin/chromium"

/**
 * Whether a browser test runs: when Chromium is there, or when WITKEY_BROWSER_REQUIRED is set (CI sets it), so
 * that a missing browser fails instead of skipping. Warns once for `name` when it skips.
 */
export const enabled = (name: string): boolean => {
  const available = Fs.existsSync(CHROMIUM)
  const required = (process.env.WITKEY_BROWSER_REQUIRED ?? "") !== ""
  if (!available && !required)
    console.warn(`${name}: skipped, ${CHROMIUM} is missing (set WITKEY_BROWSER_REQUIRED=1 to fail)`)
  return available || required
}

const options: LaunchOptions = {
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
}

/** A headless Chromium for the life of the scope. */
export const launch: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => chromium.launch(options)),
  (browser) => Effect.promise(() => browser.close())
)

/**
 * One headless Chromium for the tests of the enclosing `describe` (when `run`): launched before the first,
 * closed after the last, so each test pays for a page (its own context: no cookies shared), not a browser.
 */
export const forSuite = (run: boolean): (() => Browser) => {
  let browser: Browser | undefined
  beforeAll(async () => {
    if (run) browser = await chromium.launch(options)
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
  })
  return () => {
    if (browser === undefined) throw new Error("Chromium was not launched for this suite")
    return browser
  }
}

/**
 * A new page in a context of its own, closed with the scope, and the errors the browser logs on it (a CSP
 * violation is one), collected as they come.
 */
export const open = (
  browser: Browser,
  viewport: { readonly width: number; readonly height: number } = { width: 1400, height: 900 }
): Effect.Effect<{ readonly page: Page; readonly errors: Array<string> }, never, Scope.Scope> =>
  Effect.gen(function* () {
    const page = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newPage({ viewport })),
      (page) => Effect.promise(() => page.close())
    )
    const errors: Array<string> = []
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`${m.text()} (${m.location().url})`)
    })
    page.on("pageerror", (e) => errors.push(e.message))
    return { page, errors }
  })

/** A playwright call as an Effect. */
export const promise = <A>(f: () => Promise<A>): Effect.Effect<A> => Effect.promise(f)
