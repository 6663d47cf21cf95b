/**
 * Row 9: the receiver console's page over an inbox of 1,000 entries (a third failing and exhausted, the rest
 * processed), in server time: the request handled in process (no socket, no browser), from the inbox read to
 * the last byte of HTML. An absolute row: the "baseline" is the target, 200 ms per page (5 pages/s), and the
 * ratio says how many times faster than that the page renders.
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as ReceiverConsole from "@witkey/console/ReceiverConsole"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"
import * as NotificationSigner from "@witkey/testkit/NotificationSigner"
import * as TestKeys from "@witkey/testkit/TestKeys"
import { Effect, Redacted } from "effect"
import { median } from "../Measure.js"
import type { Row } from "../Report.js"

const ENTRIES = 1000
const TARGET_MS = 200
const TOKEN = "bench-console-token-0123456789"

export const run = async (): Promise<Row> => {
  const inbox = Effect.runSync(MemoryInbox.make({ exhaustedAfter: "1 hour" }))
  const signedAndDecoded = (i: number) =>
    Effect.gen(function* () {
      const signed = yield* NotificationSigner.sign({
        notifyId: `bench-console-${i}`,
        notifyTime: "2026-11-25 10:30:00",
        payload: NotificationSigner.assign({
          outerTaskId: `task-${Math.floor(i / 3)}`,
          outerTransferNo: `serial-${i}`,
          transferAmount: "120.00",
          payeeUserId: "2088102122524333",
          gmtTransfer: "20261125103000"
        })
      }).pipe(Effect.provide(TestKeys.gatewaySigner))
      const notification = yield* Notification.decode(
        { body: signed.body, contentType: signed.contentType },
        { charset: "utf-8" }
      ).pipe(Effect.provide(TestKeys.gatewayVerifier))
      return { notification, body: signed.body, contentType: signed.contentType }
    }).pipe(Effect.orDie)
  await Effect.runPromise(
    Effect.forEach(
      Array.from({ length: ENTRIES }, (_, i) => i),
      (i) =>
        Effect.flatMap(signedAndDecoded(i), (received) =>
          inbox
            .receive(received, () =>
              i % 3 === 0 ? Effect.fail({ message: `ledger down for <${i}>` }) : Effect.void
            )
            .pipe(Effect.ignore)
        )
    )
  )
  // Bound to every address, so any Host passes; the token is then required and sent, as off loopback.
  const console = await Effect.runPromise(
    ReceiverConsole.serveWith(
      { host: "0.0.0.0", port: 80, token: Redacted.make(TOKEN), handler: () => Effect.void },
      Effect.succeed(HttpServerResponse.empty())
    )
  )
  const handler = HttpApp.toWebHandler(Effect.provideService(console, Inbox.Operations, inbox))
  const page = async () => {
    const response = await handler(
      new Request("http://console.test/_witkey/", { headers: { authorization: `Bearer ${TOKEN}` } })
    )
    const text = await response.text()
    if (response.status !== 200 || !text.includes("bench-console-999"))
      throw new Error(`row 9: the page did not render (HTTP ${response.status})`)
    return text.length
  }
  for (let i = 0; i < 5; i++) await page()
  const times: Array<number> = []
  let bytes = 0
  for (let i = 0; i < 30; i++) {
    const start = performance.now()
    bytes = await page()
    times.push(performance.now() - start)
  }
  const ms = median(times)
  process.stderr.write(
    `  row 9: ${ENTRIES} entries, ${Math.round(bytes / 1024)} KiB of HTML, median ${ms.toFixed(1)} ms per page (target < ${TARGET_MS} ms)\n`
  )
  return {
    id: "9",
    sdk: `receiver console: the page of ${ENTRIES} inbox entries (server time, ${ms.toFixed(1)} ms)`,
    baseline: `target: ${TARGET_MS} ms per page`,
    result: { sdk: 1000 / ms, baseline: 1000 / TARGET_MS, ratio: TARGET_MS / ms, rounds: times.length },
    target: 1
  }
}
