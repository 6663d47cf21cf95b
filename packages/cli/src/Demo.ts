/**
 * The README's main job, end to end on loopback: the sandbox gateway and a notification receiver over real
 * HTTP, N tasks with seeded random winners confirmed through the payout journal with bounded concurrency while
 * faults are injected (lost and garbled answers, duplicate, late, re-issued and reordered notifications, a
 * receiver that fails), the notification schedule played on an accelerated clock, and a reconciliation of
 * the gateway's ledger, the inbox, the handler's rows and the journal: every payout exactly once.
 *
 * Two operator scenarios on top: `outageHours` (the receiver's handler fails for that long on the sandbox's
 * clock from the first notification it sees, so Alipay gives up on some notifications: the inbox's sweep finds them exhausted and they are
 * replayed) and `crashAfter` (the paying fiber is interrupted after N sent requests, dropping everything it
 * held in memory; a new client under the same owner resumes from the journal, then pays the rest).
 *
 * The scenario's data is `DemoScenario`, the wiring `DemoWiring`, the checks `DemoReconciliation`.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Inbox from "@witkey/core/Inbox"
import type * as JournaledClient from "@witkey/core/JournaledClient"
import * as Notification from "@witkey/core/Notification"
import type * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as PayoutJournal from "@witkey/core/PayoutJournal"
import * as Protocol from "@witkey/core/Protocol"
import type * as SignedRequest from "@witkey/core/SignedRequest"
import * as Transport from "@witkey/core/Transport"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as TestKeys from "@witkey/testkit/TestKeys"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Database from "./Database.js"
import * as DemoConsole from "./DemoConsole.js"
import * as DemoReconciliation from "./DemoReconciliation.js"
import * as DemoScenario from "./DemoScenario.js"
import * as DemoWiring from "./DemoWiring.js"
import * as ScaledClock from "./ScaledClock.js"

export interface Options {
  readonly tasks: number
  readonly seed: number
  /** Confirms in flight at once. */
  readonly concurrency: number
  /** How much faster than real time the sandbox's clock runs. */
  readonly timeScale: number
  /** Hours of sandbox time, from the first notification, during which the receiver's handler fails (0: none). */
  readonly outageHours?: number | undefined
  /** Interrupt the paying fiber once this many requests were sent (0 or absent: never). */
  readonly crashAfter?: number | undefined
  /** Where the inbox and the journal live; default a SQLite file in a temporary directory. */
  readonly db?: Database.Database | undefined
  /** Prefix of the demo's tables (default `DemoWiring.DEFAULT_TABLE_PREFIX`), emptied at the start. */
  readonly tablePrefix?: string | undefined
  /** Told about progress every few hundred milliseconds. */
  readonly onProgress: (progress: Progress) => Effect.Effect<void>
  /** With `--console`: run once the summary is known, with both servers still up. */
  readonly console?: ((summary: Summary) => DemoConsole.Hold) | undefined
}

export interface Progress {
  readonly phase: "confirming" | "notifying" | "replaying"
  readonly tasksDone: number
  readonly tasks: number
  readonly notificationsDone: number
  readonly notifications: number
  /** Hours on the sandbox's clock since the demo began. */
  readonly simulatedHours: number
}

export interface Summary {
  readonly tasks: number
  readonly seed: number
  readonly timeScale: number
  readonly database: "sqlite" | "postgresql"
  readonly outageHours: number
  readonly crashAfter: number
  readonly confirmed: number
  readonly confirmedAfterResend: number
  readonly alreadyConfirmedAfterResend: number
  readonly notPaid: number
  readonly gatewayCalls: number
  readonly answerFaults: number
  /** Payouts the platform did not know the outcome of when paying was over (or cut short by the crash). */
  readonly unknown: number
  /** Whether the paying fiber was interrupted (`crashAfter` reached). */
  readonly crashed: boolean
  /** Payouts `JournaledClient.resume` settled. */
  readonly resumed: number
  readonly notificationsIssued: number
  readonly reissued: number
  readonly deliveries: number
  readonly duplicatePosts: number
  readonly lateBatches: number
  readonly deliveriesAnsweredFail: number
  readonly notificationsAcknowledged: number
  /** Notifications Alipay (the sandbox) gave up on. */
  readonly notificationsExhausted: number
  /** Entries the inbox's sweep found exhausted. */
  readonly exhausted: number
  /** Exhausted entries a replay settled (processed, or a duplicate of a processed event). */
  readonly replayed: number
  readonly duplicatesIgnored: number
  /** Processed by a delivery or a replay. */
  readonly processed: number
  readonly processedByReplay: number
  readonly handlerFailures: number
  /** Deliveries the receiver answered `fail`, by reason (`handler`: the planned failures). */
  readonly refusals: Readonly<Record<string, number>>
  readonly ledgerEntries: number
  readonly paidTwice: number
  readonly inboxProcessed: number
  readonly payoutsRecorded: number
  readonly journalPayouts: number
  readonly journalSettled: number
  readonly reconciledSerials: number
  readonly simulatedHours: number
  readonly agree: boolean
  /** Why they do not agree; empty when they do. */
  readonly problems: ReadonlyArray<string>
}

/** The planned failure of the demo's receiver: its database "is down" for this delivery. */
class ReceiverDown extends Schema.TaggedError<ReceiverDown>()("ReceiverDown", {
  message: Schema.String
}) {}

type TaskResult = "confirmed" | "confirmed_after_resend" | "already_confirmed_after_resend" | "not_paid"

/** Re-sends after an unknown outcome until the gateway gives a verifiable answer (bounded). */
const MAX_ROUNDS = 8

const confirmTask = (client: JournaledClient.JournaledClient, request: SignedRequest.SignedRequest) =>
  Effect.gen(function* () {
    for (let round = 1; round <= MAX_ROUNDS; round++) {
      const answer = yield* Effect.either(client.send(request))
      if (Either.isRight(answer)) {
        const outcome = answer.right
        const resent = round > 1 || outcome.attempts > 1
        if (outcome._tag === "AlreadyConfirmed") return "already_confirmed_after_resend" as TaskResult
        return (resent ? "confirmed_after_resend" : "confirmed") as TaskResult
      }
      if (answer.left._tag === "GatewayRejected") return "not_paid" as TaskResult
    }
    return "not_paid" as TaskResult
  })

export const run = (
  options: Options
): Effect.Effect<Summary, DemoWiring.DemoError, FileSystem.FileSystem | Path.Path> =>
  Effect.scoped(
    Effect.gen(function* () {
      const fail = DemoWiring.fail
      const random = Random.make(options.seed)
      const started = Date.now()
      // Real speed while the platform pays (see ScaledClock), `timeScale` once it is done.
      const clock = ScaledClock.make(1, started)
      const simulatedHours = () => (clock.unsafeCurrentTimeMillis() - started) / 3_600_000
      const outageHours = options.outageHours ?? 0
      const crashAfter = options.crashAfter ?? 0
      const tablePrefix = options.tablePrefix ?? DemoWiring.DEFAULT_TABLE_PREFIX

      // ----- the sandbox gateway: tasks registered, faults queued
      const tasks = yield* DemoScenario.makeTasks(options.tasks, random)
      const sandbox = yield* Sandbox.make({
        partners: [{ partner: TestKeys.partnerId, publicKey: TestKeys.partnerPublicKeyPem }],
        tasks,
        notifyIdPrefix: "demo-n-",
        // On the sandbox's clock, which stands still while a delivery is out (DemoWiring.deliver): a receiver
        // that never answers is caught by the bound on awaitDeliveries below.
        deliveryTimeout: Duration.seconds(10 * options.timeScale),
        deliver: yield* DemoWiring.deliver(clock.hold)
      }).pipe(Effect.mapError(fail("sandbox")))
      yield* sandbox.queueAnswerFaults(...(yield* DemoScenario.answerFaults(options.tasks, random)))
      yield* sandbox.queueNotifyFaults(...(yield* DemoScenario.notifyFaults(options.tasks, random)))

      // ----- the inbox and the journal. The receiver runs on real time, so the inbox counts an entry exhausted
      // after Alipay's window shrunk by the time scale: what the sandbox's day is in real milliseconds.
      const swept: Array<string> = []
      const stores = yield* DemoWiring.stores({
        db: options.db,
        tablePrefix,
        policy: {
          // Whole milliseconds: PostgreSQL compares the window with a bigint column (a --time-scale that
          // does not divide Alipay's window evenly left a fraction there, and the query failed).
          exhaustedAfter: Duration.millis(
            Math.ceil(Duration.toMillis(Inbox.DEFAULT_EXHAUSTED_AFTER) / options.timeScale)
          ),
          onExhausted: (entry) => Effect.sync(() => void swept.push(entry.notifyId))
        }
      })
      const sql = Context.get(stores, SqlClient.SqlClient)
      const inbox = Context.get(stores, Inbox.Inbox)
      const operations = Context.get(stores, Inbox.Operations)
      const journal = Context.get(stores, PayoutJournal.PayoutJournal)

      // ----- the receiver's handler: a row per payout in the inbox's transaction, unless its database is down
      const processed = yield* Ref.make(0)
      const duplicates = yield* Ref.make(0)
      const handlerFailures = yield* Ref.make(0)
      const handlerRuns = new Map<string, number>()
      let dayLong: string | undefined
      // The outage starts with the first notification the handler sees (paying takes sandbox hours already).
      let outageEnds: number | undefined
      const down = (notifyId: string) =>
        Effect.gen(function* () {
          // Every run counts, in the outage too: a notification Alipay gave up on has used up its planned failures.
          const runs = (handlerRuns.get(notifyId) ?? 0) + 1
          handlerRuns.set(notifyId, runs)
          const now = clock.unsafeCurrentTimeMillis()
          outageEnds ??= now + outageHours * 3_600_000
          if (now < outageEnds) return true
          if (dayLong === undefined) {
            const record = (yield* sandbox.notifications).find((r) => r.notifyId === notifyId)
            if (record !== undefined && DemoScenario.isPlain(record)) dayLong = notifyId
          }
          return runs <= DemoScenario.plannedFailures(options.seed, notifyId, dayLong)
        })
      const handler = (n: Notification.Notification) =>
        Effect.gen(function* () {
          if (yield* down(n.notifyId)) {
            yield* Ref.update(handlerFailures, (k) => k + 1)
            return yield* new ReceiverDown({ message: "demo: the receiver's database is down" })
          }
          yield* DemoWiring.recordPayout(sql, tablePrefix, {
            business_key: Notification.businessKey(n) ?? n.notifyId,
            notify_id: n.notifyId,
            amount: n.fields["transfer_amount"] ?? ""
          })
        })
      const refusals = yield* Ref.make<Record<string, number>>({})
      const onResult = (result: NotificationReceiver.Result) =>
        result._tag === "Acknowledged"
          ? Ref.update(result.outcome._tag === "Processed" ? processed : duplicates, (k) => k + 1)
          : Ref.update(refusals, (r) => ({ ...r, [result.reason]: (r[result.reason] ?? 0) + 1 }))

      // ----- both servers on loopback
      const { notifyUrl, server, port: receiverPort } = yield* DemoWiring.listen
      const gateway = yield* DemoWiring.gateway(sandbox, clock)
      const signer = yield* DsaSigner.make({ privateKey: TestKeys.partnerPrivateKey }).pipe(
        Effect.mapError(fail("partner key"))
      )
      const verifier = yield* DsaVerifier.make({ publicKey: Redacted.make(sandbox.gatewayPublicKey) }).pipe(
        Effect.mapError(fail("gateway key"))
      )
      // The platform waits 2 s for an answer that never comes (the demo's one hanging answer costs that much);
      // the receiver's notify_verify gets longer, so a busy machine does not turn into refused notifications.
      const platformTransport = yield* DemoWiring.transport("2 seconds")
      yield* DemoWiring.serveReceiver(server, {
        gatewayUrl: gateway.gatewayUrl,
        verifier,
        transport: yield* DemoWiring.transport("10 seconds"),
        inbox,
        operations,
        handler,
        onResult,
        console: options.console === undefined ? undefined : { port: receiverPort }
      })
      const platform = (transport: Transport.Transport) =>
        DemoWiring.platform({
          gatewayUrl: gateway.gatewayUrl,
          notifyUrl,
          signer,
          verifier,
          transport,
          journal
        })

      // ----- progress
      const done = yield* Ref.make(0)
      const phase = yield* Ref.make<Progress["phase"]>("confirming")
      const progress = Effect.gen(function* () {
        const records = yield* sandbox.notifications
        yield* options.onProgress({
          phase: yield* Ref.get(phase),
          tasksDone: yield* Ref.get(done),
          tasks: options.tasks,
          notificationsDone: records.filter((r) => r.state !== "scheduled").length,
          notifications: records.length,
          simulatedHours: simulatedHours()
        })
      })
      yield* Effect.forkScoped(Effect.repeat(progress, Schedule.spaced("200 millis")))

      // ----- pay every task through the journal; with crashAfter, a first platform dies mid-way
      const payAll = (client: JournaledClient.JournaledClient) =>
        Effect.forEach(
          tasks,
          (task) =>
            client.client
              .prepare({ outerTaskId: task.outerTaskId, transfers: task.transfers.map((t) => t.serial) })
              .pipe(
                Effect.mapError(fail(`task ${task.outerTaskId}`)),
                Effect.flatMap((request) => confirmTask(client, request)),
                Effect.tap(() => Ref.update(done, (k) => k + 1))
              ),
          { concurrency: options.concurrency }
        )
      let crashed = false
      if (crashAfter > 0) {
        const killed = yield* Deferred.make<void>()
        let sent = 0
        // After the Nth request's answer came back (the gateway acted on it), the process dies before the
        // client hears it: that payout is recorded, sent, and has no outcome.
        const dying = Transport.make((url) =>
          Effect.suspend(() => {
            sent++
            const n = sent
            return platformTransport
              .get(url)
              .pipe(
                Effect.zipLeft(
                  n >= crashAfter
                    ? Effect.zipRight(Deferred.succeed(killed, undefined), Effect.never)
                    : Effect.void
                )
              )
          })
        )
        const first = yield* Effect.fork(payAll(yield* platform(dying)))
        crashed = yield* Effect.raceFirst(
          Effect.as(Fiber.join(first), false),
          Effect.as(Deferred.await(killed), true)
        )
        yield* Fiber.interrupt(first)
        yield* Ref.set(done, 0)
      }
      const client = yield* platform(platformTransport)
      let unknown = 0
      let resumed = 0
      if (crashed) {
        // The restarted platform: what it knows is in the journal.
        unknown = (yield* journal.unsettled.pipe(Effect.mapError(fail("journal")))).length
        const outcomes = yield* client.resume.pipe(Effect.mapError(fail("journal")))
        resumed = outcomes.filter((o) => o._tag === "Settled").length
      }
      const results = yield* payAll(client)
      if (!crashed) {
        const open = yield* journal.unsettled.pipe(Effect.mapError(fail("journal")))
        unknown = open.length
        if (open.length > 0) {
          const outcomes = yield* client.resume.pipe(Effect.mapError(fail("journal")))
          resumed = outcomes.filter((o) => o._tag === "Settled").length
        }
      }

      // ----- let the day of notifications play out; then what Alipay gave up on is swept and replayed
      yield* Ref.set(phase, "notifying")
      clock.setScale(options.timeScale)
      const finished = yield* sandbox.awaitDeliveries.pipe(Effect.timeout("120 seconds"), Effect.either)
      yield* Ref.set(phase, "replaying")
      // The outage is over before anyone replays (a few real milliseconds at the demo's speed).
      yield* Effect.sleep(
        Duration.millis(Math.max(0, (outageEnds ?? 0) - clock.unsafeCurrentTimeMillis()))
      ).pipe(Effect.withClock(clock))
      const replayed: Array<string> = []
      let processedByReplay = 0
      const failing = yield* operations.list({ status: "failing" }).pipe(Effect.mapError(fail("inbox")))
      if (failing.length > 0) {
        // Until the last of them is past the (scaled) window: then the sweep finds them all.
        const exhaustedAfter = Math.ceil(Duration.toMillis(Inbox.DEFAULT_EXHAUSTED_AFTER) / options.timeScale)
        const latest = Math.max(...failing.map((e) => e.firstReceivedAt))
        yield* Effect.sleep(Duration.millis(Math.max(0, latest + exhaustedAfter + 5 - Date.now())))
      }
      const sweptNow = yield* operations.sweep.pipe(Effect.mapError(fail("inbox")))
      for (const entry of sweptNow) {
        const outcome = yield* operations.replay(entry.notifyId, handler).pipe(Effect.either)
        if (Either.isLeft(outcome)) continue
        if (outcome.right._tag === "Processed") processedByReplay++
        if (outcome.right._tag === "Processed" || outcome.right._tag === "Duplicate")
          replayed.push(entry.notifyId)
      }
      yield* progress

      // ----- reconcile: the gateway's ledger, the inbox, the handler's rows and the journal
      const ledger = yield* sandbox.ledger
      const records = yield* sandbox.notifications
      const calls = yield* sandbox.calls
      const rows = yield* DemoWiring.payoutRows(sql, tablePrefix)
      const entries = yield* Effect.forEach(tasks, (t) => inbox.byTask(t.outerTaskId)).pipe(
        Effect.map((lists) => lists.flat()),
        Effect.mapError(fail("inbox"))
      )
      const payouts = yield* journal.all.pipe(Effect.mapError(fail("journal")))
      const check = DemoReconciliation.reconcile({
        tasks,
        ledger,
        notifications: records,
        rows,
        entries,
        payouts,
        swept,
        replayed,
        now: Date.now(),
        deliveriesFinished: Either.isRight(finished)
      })

      const attempts = records.flatMap((r) => r.attempts)
      const count = (result: TaskResult) => results.filter((r) => r === result).length
      const confirmCalls = calls.filter((c) => c.service === Protocol.SERVICE)
      const summary = {
        tasks: options.tasks,
        seed: options.seed,
        timeScale: options.timeScale,
        database: options.db?._tag === "Pg" ? "postgresql" : "sqlite",
        outageHours,
        crashAfter,
        confirmed: count("confirmed"),
        confirmedAfterResend: count("confirmed_after_resend"),
        alreadyConfirmedAfterResend: count("already_confirmed_after_resend"),
        notPaid: count("not_paid"),
        gatewayCalls: confirmCalls.length,
        answerFaults: confirmCalls.filter((c) => c.fault !== undefined && c.fault._tag !== "Delay").length,
        unknown,
        crashed,
        resumed,
        notificationsIssued: records.length,
        reissued: records.filter((r) => r.reissueOf !== undefined).length,
        deliveries: attempts.length,
        duplicatePosts: attempts.filter((a) => a.copy > 1).length,
        lateBatches: new Set(
          records
            .filter((r) => r.fault?._tag === "Late" && Duration.toMillis(r.fault.by) > 0)
            .map((r) => r.outerTaskId)
        ).size,
        deliveriesAnsweredFail: attempts.filter((a) => !a.acknowledged).length,
        notificationsAcknowledged: records.filter((r) => r.state === "acknowledged").length,
        notificationsExhausted: records.filter((r) => r.state === "exhausted").length,
        exhausted: swept.length,
        replayed: replayed.length,
        duplicatesIgnored: yield* Ref.get(duplicates),
        processed: (yield* Ref.get(processed)) + processedByReplay,
        processedByReplay,
        handlerFailures: yield* Ref.get(handlerFailures),
        refusals: yield* Ref.get(refusals),
        ledgerEntries: ledger.length,
        paidTwice: check.paidTwice,
        inboxProcessed: check.inboxProcessed,
        payoutsRecorded: rows.length,
        journalPayouts: payouts.length,
        journalSettled: check.journalSettled,
        reconciledSerials: check.reconciliation.counts.settled,
        simulatedHours: simulatedHours(),
        agree: check.problems.length === 0,
        problems: check.problems
      } satisfies Summary
      if (options.console !== undefined)
        yield* options.console(summary).after({
          sandbox: gateway.consoleUrl ?? gateway.url,
          receiver: DemoConsole.receiverUrl(receiverPort)
        })
      return summary
    })
  )
