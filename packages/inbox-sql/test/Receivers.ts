// Harness for the multi-process tests: receiver processes (test/receiver.ts), the sandbox gateway that pays
// and notifies them like Alipay (re-delivering whatever was not answered `success`), and the check that every
// payout in the sandbox's ledger was processed exactly once by the platform's database.
//
// The tests run under the TestClock (the sandbox's retry schedule spans a day); anything that must wait for
// other processes uses the live clock explicitly.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import type * as Inbox from "@witkey/core/Inbox"
import * as Fault from "@witkey/testkit/Fault"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxServer from "@witkey/testkit/SandboxServer"
import * as SandboxTransport from "@witkey/testkit/SandboxTransport"
import * as TestKeys from "@witkey/testkit/TestKeys"
import type { Scope } from "effect"
import { BigDecimal, Chunk, Clock, Deferred, Effect, Option, Schedule, TestClock, TestServices } from "effect"
import * as ChildProcess from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"
import * as SqlInbox from "../src/SqlInbox.js"
import * as Bundle from "./Bundle.js"

const ROOT = fileURLToPath(new URL("../../../", import.meta.url))
const SCRIPT = fileURLToPath(new URL("./receiver.ts", import.meta.url))

const bundled = Bundle.bundled(SCRIPT)

export const liveSleep = (millis: number) => TestServices.provideLive(Effect.sleep(millis))

/**
 * Polls `check` on the live clock until it holds; fails with `what` after `seconds`. The bounds here only tell a
 * hang from slowness: they are generous, since a busy machine runs these processes several times slower.
 */
export const waitUntil = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, seconds = 120) =>
  Effect.gen(function* () {
    for (let i = 0; i < seconds * 20; i++) {
      if (yield* check) return
      yield* liveSleep(50)
    }
    return yield* Effect.dieMessage(`timed out after ${seconds}s waiting until ${what}`)
  })

/** A free loopback port (the receivers keep it across restarts, like a platform's notify_url). */
export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface Receiver {
  /** The receiver's own process id. */
  readonly pid: number
  /** Everything it wrote so far (stdout and stderr). */
  readonly output: () => string
  /** Completes when the process is gone, with how it ended. */
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: string | null }>
  /** SIGKILL, then waits for the exit. */
  readonly kill: Effect.Effect<void>
}

/**
 * Starts test/receiver.ts (bundled, see Bundle.ts) with `node` and waits until it listens: one process, so its pid is the
 * receiver's (SIGKILL reaches it, not a wrapper).
 */
export const start = (env: Record<string, string>): Effect.Effect<Receiver, never, Scope.Scope> =>
  Effect.gen(function* () {
    const exit = yield* Deferred.make<{ code: number | null; signal: string | null }>()
    const ready = yield* Deferred.make<number, string>()
    let output = ""
    const script = yield* bundled
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = ChildProcess.spawn(process.execPath, [script], {
          cwd: ROOT,
          env: { ...process.env, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
        const onData = (chunk: Buffer) => {
          output += chunk.toString("utf8")
          const match = /^ready (\d+)$/m.exec(output)
          if (match) Deferred.unsafeDone(ready, Effect.succeed(Number(match[1])))
        }
        child.stdout.on("data", onData)
        child.stderr.on("data", onData)
        child.on("exit", (code, signal) => {
          Deferred.unsafeDone(ready, Effect.fail(`the receiver exited before it was ready:\n${output}`))
          Deferred.unsafeDone(exit, Effect.succeed({ code, signal }))
        })
        return child
      }),
      (child) =>
        Effect.suspend(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
          return Deferred.await(exit)
        })
    )
    const pid = yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => `no "ready" within 120s:\n${output}` }),
      TestServices.provideLive,
      Effect.orDieWith((message) => new Error(message))
    )
    assert.strictEqual(pid, child.pid, "the spawned process is the receiver itself")
    const exited = Deferred.await(exit)
    return {
      pid,
      output: () => output,
      exited,
      kill: Effect.suspend(() => {
        child.kill("SIGKILL")
        return exited
      }).pipe(Effect.asVoid)
    }
  })

/** Waits (live, bounded) for a receiver to die on its own. */
export const awaitExit = (receiver: Receiver, seconds = 120) =>
  receiver.exited.pipe(
    Effect.timeoutFail({
      duration: `${seconds} seconds`,
      onTimeout: () => new Error(`the receiver did not exit within ${seconds}s:\n${receiver.output()}`)
    }),
    TestServices.provideLive,
    Effect.orDie
  )

/** POSTs a delivery's exact bytes; the answer as Alipay's sender sees it. */
export const post = (
  port: number,
  delivery: Sandbox.Delivery
): Effect.Effect<Sandbox.DeliveryAnswer, Sandbox.DeliveryError> =>
  Effect.tryPromise({
    try: (signal) =>
      fetch(`http://127.0.0.1:${port}${new URL(delivery.url).pathname}`, {
        method: "POST",
        body: delivery.body,
        headers: { "content-type": delivery.contentType },
        signal
      }).then(async (response) => ({
        status: response.status,
        body: new Uint8Array(await response.arrayBuffer())
      })),
    catch: (cause) =>
      new Sandbox.DeliveryError({
        message: cause instanceof Error ? `${cause.message} ${String(cause.cause ?? "")}` : String(cause)
      })
  })

/** Counts deliveries in flight, so the test can let them land before it moves the clock. */
export const counted = (deliver: Sandbox.Deliver) => {
  let inFlight = 0
  const wrapped: Sandbox.Deliver = (delivery) =>
    Effect.suspend(() => {
      inFlight++
      return deliver(delivery)
    }).pipe(Effect.ensuring(Effect.sync(() => inFlight--)))
  return { deliver: wrapped, inFlight: () => inFlight }
}

export interface World {
  readonly sandbox: Sandbox.Sandbox
  readonly gatewayUrl: string
  readonly client: Client.Client
  readonly inFlight: () => number
}

/** A sandbox (notifying `notifyUrl` through `deliver`), its HTTP gateway for notify_verify, and a client. */
export const world = (
  notifyUrl: string,
  deliver: Sandbox.Deliver
): Effect.Effect<World, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { deliver: countedDeliver, inFlight } = counted(deliver)
    const sandbox = yield* Sandbox.make({
      partners: [{ partner: TestKeys.partnerId, publicKey: TestKeys.partnerPublicKeyPem, notifyUrl }],
      deliver: countedDeliver,
      // Longer than any clock move of the test, so a slow answer is never cut off by the TestClock; a dead
      // receiver shows as a refused or reset connection anyway.
      deliveryTimeout: "12 hours"
    })
    const server = yield* SandboxServer.make().pipe(Effect.provideService(Sandbox.Sandbox, sandbox))
    const client = yield* Effect.provide(
      Client.Client,
      SandboxTransport.layerClient({ retry: Schedule.stop })
    ).pipe(Effect.provideService(Sandbox.Sandbox, sandbox))
    return { sandbox, gatewayUrl: server.gatewayUrl, client, inFlight }
  }).pipe(Effect.orDie)

export const PAYEES = ["2088102122524333", "2088102122524334", "2088102122524335"] as const

/** Registers and pays tasks `from` to `to - 1`, three winners each plus the platform's fee: 4 events per task. */
export const payTasks = (w: World, label: string, from: number, to: number) =>
  Effect.forEach(
    Array.from({ length: to - from }, (_, i) => from + i),
    (i) =>
      Effect.gen(function* () {
        const outerTaskId = `${label}-${i}`
        const transfers = PAYEES.map((payeeUserId, j) => ({
          serial: `${outerTaskId}-s${j}`,
          payeeUserId,
          amount: `${100 + i}.${j}${j}`
        }))
        yield* w.sandbox.registerTask({
          partner: TestKeys.partnerId,
          outerTaskId,
          transfers,
          serviceFee: `${10 + i}.50`,
          platformAccount: TestKeys.platformUserId
        })
        const outcome = yield* w.client.confirmByPlatform({
          outerTaskId,
          transfers: transfers.map((t) => t.serial)
        })
        assert.strictEqual(outcome._tag, "Confirmed")
      }),
    { discard: true }
  ).pipe(Effect.orDie)

/** Some batches with Alipay's bad habits: concurrent double delivery, a re-issue under a new notify_id. */
export const queueHabits = (w: World, batches: number) =>
  w.sandbox.queueNotifyFaults(
    ...Array.from({ length: batches }, (_, i) =>
      i % 3 === 0 ? Fault.duplicate : i % 3 === 1 ? Fault.reissue("20 minutes") : Fault.malformedContentType
    )
  )

/**
 * Lets in-flight deliveries land (live, bounded): nothing in flight on two looks 50 ms apart, so that fibers
 * the last clock move woke have started their request.
 */
export const quiesce = (w: World) =>
  waitUntil(
    "no delivery is in flight",
    Effect.map(
      Effect.zipRight(
        liveSleep(50),
        Effect.sync(() => w.inFlight() === 0)
      ),
      (idle) => idle && w.inFlight() === 0
    )
  )

/**
 * Moves the TestClock along Alipay's retry schedule until every notification is acknowledged (or a bound is
 * hit: then the check below fails and says which ones are left): each step straight to the next wake-up of a
 * sandbox fiber (a retry or a re-issue falls due), so the steps are as many as the moments something happens.
 */
export const deliverEverything = (w: World) =>
  Effect.gen(function* () {
    for (let step = 0; step < 200; step++) {
      yield* quiesce(w)
      if ((yield* w.sandbox.pendingDeliveries) === 0) return
      const now = yield* Clock.currentTimeMillis
      const next = Chunk.reduce(yield* TestClock.sleeps(), Infinity, (min, due) => Math.min(min, due))
      yield* TestClock.adjust(Number.isFinite(next) && next > now ? next - now : "10 minutes")
    }
  })

export const acknowledged = (w: World) =>
  Effect.map(w.sandbox.notifications, (ns) => ns.filter((n) => n.state === "acknowledged").length)

/**
 * The sandbox's ledger against the platform's database: one payout row per paid event, with the paid amount,
 * written by the notification the inbox records as the processed one; every notification acknowledged and
 * processed (the event's own, or a recorded duplicate of it).
 */
export const verifyExactlyOnce = (w: World) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const inbox = yield* SqlInbox.make()
    const notifications = yield* w.sandbox.notifications
    const left = notifications.filter((n) => n.state !== "acknowledged")
    assert.deepStrictEqual(
      left.map((n) => `${n.notifyId} ${n.state} after ${n.attempts.length} attempts`),
      [],
      "every notification was answered success in the end"
    )
    const expected = new Map<string, BigDecimal.BigDecimal>()
    for (const entry of yield* w.sandbox.ledger)
      expected.set(
        entry._tag === "Transfer"
          ? `ASSIGN_FOR_ANNOUNCE_PAYMENT|${entry.outerTaskId}|${entry.serial}`
          : `PLATFORM_PROFIT_BY_ANNOUNCE_PAYMENT|${entry.outerTaskId}|`,
        entry.amount
      )
    const rows = yield* sql<{
      event_key: string
      notify_id: string
      amount: string
    }>`SELECT event_key, notify_id, amount FROM payouts ORDER BY event_key`
    const counts = new Map<string, number>()
    for (const row of rows) counts.set(row.event_key, (counts.get(row.event_key) ?? 0) + 1)
    assert.deepStrictEqual(
      [...counts].filter(([, n]) => n !== 1),
      [],
      "no event was processed twice"
    )
    assert.deepStrictEqual(
      [...counts.keys()].sort(),
      [...expected.keys()].sort(),
      "exactly the ledger's events were processed"
    )
    for (const row of rows)
      assert.isTrue(
        BigDecimal.equals(BigDecimal.unsafeFromString(row.amount), expected.get(row.event_key)!),
        `${row.event_key}: paid ${row.amount}`
      )
    const processedBy = new Map(rows.map((r) => [r.event_key, r.notify_id]))
    const entries: Array<Inbox.Entry> = []
    for (const n of notifications) {
      const entry = Option.getOrThrowWith(
        yield* inbox.get(n.notifyId),
        () => new Error(`the inbox has no record of ${n.notifyId}`)
      )
      assert.strictEqual(entry.state, "processed", n.notifyId)
      const winner = processedBy.get(entry.businessKey!)!
      assert.strictEqual(entry.duplicateOf, entry.notifyId === winner ? undefined : winner, n.notifyId)
      assert.isAtLeast(entry.deliveries, 1)
      entries.push(entry)
    }
    return { entries, notifications, rows }
  })
