// The sandbox console in a real browser: Debian's Chromium driven by playwright-core. A payout through the
// sandbox's HTTP server shows up on the page, and its notifications' timelines fill in by themselves as the
// sandbox's (accelerated) clock runs; the buttons work; a POST without the page's token is refused; the browser
// logs no error (a CSP violation would be one). Skipped only when /usr/bin/chromium is missing and
// WITKEY_BROWSER_REQUIRED is not set; CI sets it.
import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as Protocol from "@witkey/core/Protocol"
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { chromium, type Page } from "playwright-core"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxServer from "../src/SandboxServer.js"
import * as TestKeys from "../src/TestKeys.js"
import { PAYEE_A, PAYEE_B } from "./Harness.js"
import * as HttpTransport from "./HttpTransport.js"

const CHROMIUM = "/usr/bin/chromium"
const available = Fs.existsSync(CHROMIUM)
const required = (process.env.WITKEY_BROWSER_REQUIRED ?? "") !== ""
if (!available && !required)
  console.warn(
    `SandboxConsoleBrowser: skipped, ${CHROMIUM} is missing (set WITKEY_BROWSER_REQUIRED=1 to fail)`
  )

/** The sandbox's clock: `speed` times the wall clock, so the §6 schedule plays in seconds. */
const scaledClock = (speed: number): Clock.Clock => {
  const start = Date.now()
  const now = () => start + (Date.now() - start) * speed
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => Math.floor(now()),
    unsafeCurrentTimeNanos: () => BigInt(Math.floor(now() * 1_000_000)),
    currentTimeMillis: Effect.sync(() => Math.floor(now())),
    currentTimeNanos: Effect.sync(() => BigInt(Math.floor(now() * 1_000_000))),
    sleep: (duration) =>
      Effect.async<void>((resume) => {
        const target = now() + Duration.toMillis(duration)
        let timer: ReturnType<typeof setTimeout>
        const arm = () => {
          const left = target - now()
          if (left <= 0) return resume(Effect.void)
          timer = setTimeout(arm, Math.min(2 ** 31 - 1, Math.ceil(left / speed)))
        }
        arm()
        return Effect.sync(() => clearTimeout(timer))
      })
  }
}

/** A receiver that is busy twice per notification, then acknowledges. */
const flakyReceiver = () => {
  const seen = new Map<string, number>()
  const deliver: Sandbox.Deliver = (delivery) =>
    Effect.sync(() => {
      const n = (seen.get(delivery.notifyId) ?? 0) + 1
      seen.set(delivery.notifyId, n)
      return n <= 2
        ? { status: 503, body: new TextEncoder().encode("busy <b>later</b>") }
        : { status: 200, body: new TextEncoder().encode(Protocol.Notify.ack) }
    })
  return deliver
}

const post = (url: string, body: string, headers: Record<string, string>) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = Http.request(
      url,
      { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers } },
      (response) => {
        let text = ""
        response.setEncoding("utf8")
        response.on("data", (chunk) => (text += chunk))
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text }))
      }
    )
    request.on("error", reject)
    request.end(body)
  })

const attemptsOf = (page: Page, notifyId: string) =>
  page.locator(`tr[data-notify-id="${notifyId}"] ol.timeline > li`).count()

describe("sandbox console in Chromium", () => {
  it.live.skipIf(!available && !required)(
    "lists a paid task, fills in delivery timelines as the clock runs, and refuses a POST without the token",
    () =>
      Effect.gen(function* () {
        // 40×: the third attempt (12 minutes after the first) comes 18 s after the payout.
        const speed = 40
        const { sandbox, server } = yield* Effect.gen(function* () {
          const sandbox = yield* Sandbox.make({ deliver: flakyReceiver(), notifyIdPrefix: "console-" })
          const server = yield* SandboxServer.make().pipe(Effect.provideService(Sandbox.Sandbox, sandbox))
          return { sandbox, server }
        }).pipe(Effect.withClock(scaledClock(speed)))
        yield* sandbox.registerTask({
          partner: TestKeys.partnerId,
          outerTaskId: "console-task",
          transfers: [
            { serial: "console-a", payeeUserId: PAYEE_A, amount: "120.00" },
            { serial: "console-b", payeeUserId: PAYEE_B, amount: "80.50" }
          ],
          serviceFee: "30.00",
          platformAccount: TestKeys.platformUserId
        })

        const browser = yield* Effect.acquireRelease(
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
        const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1400, height: 1000 } }))
        const errors: Array<string> = []
        page.on("console", (m) => {
          if (m.type() === "error") errors.push(`${m.text()} (${m.location().url})`)
        })
        page.on("pageerror", (e) => errors.push(e.message))

        const navigation = yield* Effect.promise(() => page.goto(server.consoleUrl!))
        assert.strictEqual(navigation?.status(), 200)
        assert.include(navigation?.headers()["content-security-policy"] ?? "", "default-src 'none'")

        // The task, registered and unpaid; the page is open before the payout, and follows it by itself.
        const task = page.locator('tr[data-task="console-task"]')
        yield* Effect.promise(() => task.waitFor())
        assert.include(yield* Effect.promise(() => task.innerText()), "console-a")
        assert.strictEqual(yield* Effect.promise(() => task.locator(".ok").count()), 0)
        assert.strictEqual(yield* Effect.promise(() => page.locator("tr[data-notify-id]").count()), 0)

        // The payout, by the core Client over HTTP (on the real clock).
        const client = Client.layer({
          partner: TestKeys.partnerId,
          gateway: server.gatewayUrl,
          retry: Schedule.recurs(2)
        }).pipe(
          Layer.provide(
            Layer.mergeAll(
              TestKeys.partnerSigner,
              Sandbox.gatewayVerifier.pipe(Layer.provide(Layer.succeed(Sandbox.Sandbox, sandbox))),
              HttpTransport.layer("10 seconds")
            )
          )
        )
        const outcome = yield* Effect.flatMap(Client.Client, (c) =>
          c.confirmByPlatform({
            outerTaskId: "console-task",
            transfers: ["console-a", "console-b"],
            notifyUrl: "http://platform.test/notify"
          })
        ).pipe(Effect.provide(client))
        assert.strictEqual(outcome._tag, "Confirmed")

        // The task, paid: two serials and the fee, without a reload.
        yield* Effect.promise(() => task.locator(".ok").nth(2).waitFor({ timeout: 30_000 }))
        assert.strictEqual(yield* Effect.promise(() => task.locator(".ok").count()), 3)

        // The timelines fill in without reloading: first one failed attempt, then three, acknowledged.
        const [first] = (yield* sandbox.notifications).map((n) => n.notifyId)
        const row = page.locator(`tr[data-notify-id="${first}"]`)
        yield* Effect.promise(() => row.waitFor())
        const early = yield* Effect.promise(() => attemptsOf(page, first!))
        assert.isBelow(early, 3, "the page showed the notification before its third attempt")
        assert.include(yield* Effect.promise(() => row.innerText()), "HTTP 503 busy <b>later</b>")
        // Mid-way, the picture for docs/: failed attempts, the next one scheduled, attempts left.
        yield* Effect.promise(() => row.locator('li[data-attempt="2"]').waitFor({ timeout: 30_000 }))
        const target =
          (process.env.WITKEY_SCREENSHOTS ?? "") === ""
            ? Path.join(Os.tmpdir(), "console-sandbox.png")
            : Path.resolve(import.meta.dirname, "../../../docs/console-sandbox.png")
        yield* Effect.promise(() => page.screenshot({ path: target, fullPage: true }))
        yield* Effect.promise(() =>
          page
            .locator(`tr[data-notify-id="${first}"][data-state="acknowledged"]`)
            .waitFor({ timeout: 60_000 })
        )
        assert.strictEqual(yield* Effect.promise(() => attemptsOf(page, first!)), 3)
        const speedText = yield* Effect.promise(() => page.locator("#speed").innerText())
        assert.match(speedText, /^\d+× real time$/)
        assert.approximately(Number.parseInt(speedText, 10), speed, speed / 3)
        // Every notification (two transfers and the fee) ends acknowledged, on the page.
        const acknowledged = page.locator('tr[data-notify-id][data-state="acknowledged"]')
        yield* Effect.promise(() => acknowledged.nth(2).waitFor({ timeout: 60_000 }))
        assert.strictEqual(yield* Effect.promise(() => acknowledged.count()), 3)

        // Resend now: one more attempt, by hand.
        yield* Effect.promise(() => row.locator("button", { hasText: "Resend now" }).click())
        yield* Effect.promise(() =>
          page.locator(`tr[data-notify-id="${first}"] li b`, { hasText: "resent by hand" }).waitFor()
        )
        assert.strictEqual(
          (yield* sandbox.notifications).find((n) => n.notifyId === first)?.attempts.length,
          4
        )

        // Inject the next fault; register a task.
        yield* Effect.promise(() => page.selectOption('select[name="fault"]', "reject"))
        yield* Effect.promise(() => page.click('form[action="/console/fault"] button'))
        yield* Effect.promise(() =>
          page.locator("#clock .warn", { hasText: "Reject SYSTEM_ERROR" }).waitFor()
        )
        assert.strictEqual((yield* sandbox.queuedFaults).answer[0]?._tag, "Reject")
        yield* Effect.promise(() => page.fill('input[name="outer_task_id"]', "ui-task"))
        yield* Effect.promise(() => page.fill('textarea[name="transfers"]', `ui-1 ${PAYEE_A} 12.34`))
        yield* Effect.promise(() => page.click("form#register button"))
        yield* Effect.promise(() => page.locator('tr[data-task="ui-task"] [data-serial="ui-1"]').waitFor())

        // CSRF: the token and this console's Origin are both required.
        const token = yield* Effect.promise(() => page.inputValue('form#register input[name="csrf"]'))
        const form = (csrf: string | undefined) =>
          `${csrf === undefined ? "" : `csrf=${csrf}&`}outer_task_id=forged&transfers=f-1+${PAYEE_A}+1.00&partner=${TestKeys.partnerId}&platform_account=${TestKeys.platformUserId}`
        const origin = server.url
        const taskUrl = `${server.url}/console/task`
        const noToken = yield* Effect.promise(() => post(taskUrl, form(undefined), { origin }))
        assert.strictEqual(noToken.status, 403)
        assert.include(noToken.text, "CSRF token")
        const wrongToken = yield* Effect.promise(() => post(taskUrl, form("0".repeat(64)), { origin }))
        assert.strictEqual(wrongToken.status, 403)
        const foreign = yield* Effect.promise(() =>
          post(taskUrl, form(token), { origin: "http://evil.example" })
        )
        assert.strictEqual(foreign.status, 403)
        const noOrigin = yield* Effect.promise(() => post(taskUrl, form(token), {}))
        assert.strictEqual(noOrigin.status, 403)
        const rebound = yield* Effect.promise(() =>
          post(taskUrl, form(token), { origin: "http://evil.example", host: "evil.example" })
        )
        assert.strictEqual(rebound.status, 403)
        assert.isFalse((yield* sandbox.tasks).some((t) => t.outerTaskId === "forged"))
        // The same form with the token and Origin goes through: the refusals above were the defence.
        const allowed = yield* Effect.promise(() => post(taskUrl, form(token), { origin }))
        assert.strictEqual(allowed.status, 303)
        assert.isTrue((yield* sandbox.tasks).some((t) => t.outerTaskId === "forged"))

        // Nothing of a private key on the page.
        const html = yield* Effect.promise(() => page.content())
        assert.notInclude(html, "PRIVATE KEY")
        assert.notInclude(html, TestKeys.partnerPrivateKeyPem.split("\n")[1]!)

        assert.deepStrictEqual(errors, [])
      }).pipe(Effect.scoped),
    120_000
  )
})
