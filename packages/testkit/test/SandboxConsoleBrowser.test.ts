// The sandbox console in a real browser: Debian's Chromium driven by playwright-core. A payout through the
// sandbox's HTTP server shows up on the page, and its notifications' timelines fill in by themselves as the
// sandbox's clock moves; the page measures the clock's speed; the buttons work; a POST without the page's token
// is refused; the browser logs no error (a CSP violation would be one). Skipped only when /usr/bin/chromium is
// missing and WITKEY_BROWSER_REQUIRED is not set; CI sets it.
import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as Protocol from "@witkey/core/Protocol"
import { Clock, Duration, Effect, Layer, Schedule } from "effect"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Page } from "playwright-core"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxServer from "../src/SandboxServer.js"
import * as TestKeys from "../src/TestKeys.js"
import { PAYEE_A, PAYEE_B } from "./Harness.js"
import * as HttpTransport from "./HttpTransport.js"
import * as Browser from "./support/Browser.js"
import { post } from "./support/Http.js"

const runs = Browser.enabled("SandboxConsoleBrowser")

/**
 * The sandbox's clock: `speed` times the wall clock until the test stops it, then moved forward by hand
 * (`advance`), waking the sleepers whose time has come. The retries' timing is the test's, not the machine's: a
 * busy machine can neither skip a state the page should show nor make the test wait for minutes of schedule.
 */
const steppedClock = (initialSpeed: number) => {
  let speed = initialSpeed
  let anchor = Date.now()
  let base = anchor
  const now = () => base + (Date.now() - anchor) * speed
  const sleepers = new Set<() => void>()
  const rebase = (nextSpeed: number, by: number) => {
    base = now() + by
    anchor = Date.now()
    speed = nextSpeed
    for (const wake of [...sleepers]) wake()
  }
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => Math.floor(now()),
    unsafeCurrentTimeNanos: () => BigInt(Math.floor(now() * 1_000_000)),
    currentTimeMillis: Effect.sync(() => Math.floor(now())),
    currentTimeNanos: Effect.sync(() => BigInt(Math.floor(now() * 1_000_000))),
    sleep: (duration) =>
      Effect.async<void>((resume) => {
        const target = now() + Duration.toMillis(duration)
        let timer: ReturnType<typeof setTimeout> | undefined
        const arm = () => {
          clearTimeout(timer)
          const left = target - now()
          if (left <= 0) {
            sleepers.delete(arm)
            return resume(Effect.void)
          }
          // Stopped: only `advance` wakes it.
          if (speed > 0) timer = setTimeout(arm, Math.min(2 ** 31 - 1, Math.ceil(left / speed)))
        }
        sleepers.add(arm)
        arm()
        return Effect.sync(() => {
          sleepers.delete(arm)
          clearTimeout(timer)
        })
      })
  }
  return {
    clock,
    stop: () => rebase(0, 0),
    advance: (duration: Duration.DurationInput) => rebase(speed, Duration.toMillis(duration))
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

const attemptsOf = (page: Page, notifyId: string) =>
  page.locator(`tr[data-notify-id="${notifyId}"] ol.timeline > li`).count()

describe("sandbox console in Chromium", () => {
  it.live.skipIf(!runs)(
    "lists a paid task, fills in delivery timelines as the clock moves, and refuses a POST without the token",
    () =>
      Effect.gen(function* () {
        // 40× while the page measures the speed; then stopped, and moved by the test from one attempt to the next.
        const speed = 40
        const time = steppedClock(speed)
        const { sandbox, server } = yield* Effect.gen(function* () {
          const sandbox = yield* Sandbox.make({ deliver: flakyReceiver(), notifyIdPrefix: "console-" })
          const server = yield* SandboxServer.make().pipe(Effect.provideService(Sandbox.Sandbox, sandbox))
          return { sandbox, server }
        }).pipe(Effect.withClock(time.clock))
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

        const browser = yield* Browser.launch
        const { errors, page } = yield* Browser.open(browser, { width: 1400, height: 1000 })

        const navigation = yield* Effect.promise(() => page.goto(server.consoleUrl!))
        assert.strictEqual(navigation?.status(), 200)
        assert.include(navigation?.headers()["content-security-policy"] ?? "", "default-src 'none'")

        // The task, registered and unpaid; the page is open before the payout, and follows it by itself.
        const task = page.locator('tr[data-task="console-task"]')
        yield* Effect.promise(() => task.waitFor())
        assert.include(yield* Effect.promise(() => task.innerText()), "console-a")
        assert.strictEqual(yield* Effect.promise(() => task.locator(".ok").count()), 0)
        assert.strictEqual(yield* Effect.promise(() => page.locator("tr[data-notify-id]").count()), 0)

        // The speed the page measured (after half a second) while the clock ran at 40× throughout.
        const measured = page.locator("#speed", { hasText: "× real time" })
        yield* Effect.promise(() => measured.waitFor())
        const speedText = yield* Effect.promise(() => measured.innerText())
        assert.match(speedText, /^\d+× real time$/)
        assert.approximately(Number.parseInt(speedText, 10), speed, speed / 3)
        // From here the clock moves only when the test moves it.
        time.stop()

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

        // The timelines fill in without reloading: first one failed attempt (the clock stands still, so the page
        // cannot have missed this state), then two, then three, acknowledged.
        const [first] = (yield* sandbox.notifications).map((n) => n.notifyId)
        const row = page.locator(`tr[data-notify-id="${first}"]`)
        yield* Effect.promise(() => row.waitFor())
        const early = yield* Effect.promise(() => attemptsOf(page, first!))
        assert.isBelow(early, 3, "the page showed the notification before its third attempt")
        assert.include(yield* Effect.promise(() => row.innerText()), "HTTP 503 busy <b>later</b>")
        // Mid-way, the picture for docs/: failed attempts, the next one scheduled, attempts left.
        time.advance(Duration.minutes(Protocol.NOTIFY_RETRY_DELAYS_MINUTES[0]!))
        yield* Effect.promise(() => row.locator('li[data-attempt="2"]').waitFor({ timeout: 30_000 }))
        const target =
          (process.env.WITKEY_SCREENSHOTS ?? "") === ""
            ? Path.join(Os.tmpdir(), "console-sandbox.png")
            : Path.resolve(import.meta.dirname, "../../../docs/console-sandbox.png")
        yield* Effect.promise(() => page.screenshot({ path: target, fullPage: true }))
        time.advance(Duration.minutes(Protocol.NOTIFY_RETRY_DELAYS_MINUTES[1]!))
        yield* Effect.promise(() =>
          page
            .locator(`tr[data-notify-id="${first}"][data-state="acknowledged"]`)
            .waitFor({ timeout: 60_000 })
        )
        assert.strictEqual(yield* Effect.promise(() => attemptsOf(page, first!)), 3)
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
        const noToken = yield* post(taskUrl, form(undefined), { origin })
        assert.strictEqual(noToken.status, 403)
        assert.include(noToken.text, "CSRF token")
        const wrongToken = yield* post(taskUrl, form("0".repeat(64)), { origin })
        assert.strictEqual(wrongToken.status, 403)
        const foreign = yield* post(taskUrl, form(token), { origin: "http://evil.example" })
        assert.strictEqual(foreign.status, 403)
        const noOrigin = yield* post(taskUrl, form(token), {})
        assert.strictEqual(noOrigin.status, 403)
        const rebound = yield* post(taskUrl, form(token), {
          origin: "http://evil.example",
          host: "evil.example"
        })
        assert.strictEqual(rebound.status, 403)
        assert.isFalse((yield* sandbox.tasks).some((t) => t.outerTaskId === "forged"))
        // The same form with the token and Origin goes through: the refusals above were the defence.
        const allowed = yield* post(taskUrl, form(token), { origin })
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
