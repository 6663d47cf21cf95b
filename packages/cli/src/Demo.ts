/**
 * The README's main job, end to end on loopback: the sandbox gateway and a notification receiver (SQLite
 * inbox) over real HTTP, N tasks with seeded random winners confirmed with bounded concurrency while faults
 * are injected (lost and garbled answers, duplicate, late, re-issued and reordered notifications, a receiver
 * that fails), the notification schedule played on an accelerated clock, and a reconciliation of the
 * gateway's ledger with what the receiver processed: every payout exactly once.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Client from "@witkey/core/Client"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import * as NotificationReceiver from "@witkey/core/NotificationReceiver"
import * as Protocol from "@witkey/core/Protocol"
import type * as SignedRequest from "@witkey/core/SignedRequest"
import * as Transport from "@witkey/core/Transport"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import * as DsaVerifier from "@witkey/crypto-dsa/DsaVerifier"
import * as SqliteInbox from "@witkey/inbox-sql/SqliteInbox"
import * as HttpTransport from "@witkey/node-http/HttpTransport"
import * as Fault from "@witkey/testkit/Fault"
import * as Sandbox from "@witkey/testkit/Sandbox"
import * as SandboxServer from "@witkey/testkit/SandboxServer"
import * as TestKeys from "@witkey/testkit/TestKeys"
import {
  BigDecimal,
  Context,
  Duration,
  Effect,
  Either,
  Layer,
  Random,
  Redacted,
  Ref,
  Schedule,
  Schema
} from "effect"
import * as Http from "node:http"
import * as Receiver from "./Receiver.js"
import * as ScaledClock from "./ScaledClock.js"

export interface Options {
  readonly tasks: number
  readonly seed: number
  /** Confirms in flight at once. */
  readonly concurrency: number
  /** How much faster than real time the sandbox's clock runs. */
  readonly timeScale: number
  /** Told about progress every few hundred milliseconds. */
  readonly onProgress: (progress: Progress) => Effect.Effect<void>
}

export interface Progress {
  readonly phase: "confirming" | "notifying"
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
  readonly confirmed: number
  readonly confirmedAfterResend: number
  readonly alreadyConfirmedAfterResend: number
  readonly notPaid: number
  readonly gatewayCalls: number
  readonly answerFaults: number
  readonly notificationsIssued: number
  readonly reissued: number
  readonly deliveries: number
  readonly duplicatePosts: number
  readonly lateBatches: number
  readonly deliveriesAnsweredFail: number
  readonly notificationsAcknowledged: number
  readonly notificationsExhausted: number
  readonly duplicatesIgnored: number
  readonly processed: number
  readonly handlerFailures: number
  /** Deliveries the receiver answered `fail`, by reason (`handler`: the planned failures). */
  readonly refusals: Readonly<Record<string, number>>
  readonly ledgerEntries: number
  readonly inboxProcessed: number
  readonly payoutsRecorded: number
  readonly simulatedHours: number
  readonly agree: boolean
  /** Why they do not agree; empty when they do. */
  readonly problems: ReadonlyArray<string>
}

export class DemoError extends Schema.TaggedError<DemoError>()("DemoError", {
  message: Schema.String
}) {}

/** The planned failure of the demo's receiver: its database "is down" for this delivery. */
class ReceiverDown extends Schema.TaggedError<ReceiverDown>()("ReceiverDown", {
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------------------
// The scenario's data, drawn from the seed
// ---------------------------------------------------------------------------------------------------------

const PAYOUTS_TABLE = "demo_payouts"

const cents = (value: number) => `${Math.floor(value / 100)}.${String(value % 100).padStart(2, "0")}`

const payeeId = (random: Random.Random) =>
  Effect.map(random.nextIntBetween(0, 1_000_000_000), (n) => `208810${String(n).padStart(10, "0")}`)

/** N tasks with 1 to 3 winners each, random payees and amounts. */
export const makeTasks = (count: number, random: Random.Random) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i + 1),
    (i) =>
      Effect.gen(function* () {
        const outerTaskId = `demo-task-${String(i).padStart(3, "0")}`
        const winners = yield* random.nextIntBetween(1, 4)
        const transfers = yield* Effect.forEach(
          Array.from({ length: winners }, (_, j) => j + 1),
          (j) =>
            Effect.gen(function* () {
              return {
                serial: `${outerTaskId}-w${j}`,
                payeeUserId: yield* payeeId(random),
                amount: cents(yield* random.nextIntBetween(1_000, 50_001))
              }
            })
        )
        return {
          partner: TestKeys.partnerId,
          outerTaskId,
          transfers,
          serviceFee: cents(yield* random.nextIntBetween(500, 5_001)),
          platformAccount: TestKeys.platformUserId
        } satisfies Sandbox.TaskRegistration
      })
  )

/** What goes wrong with the answers: about a third of the first calls lose or garble their answer. */
const answerFaults = (count: number, random: Random.Random) =>
  Effect.gen(function* () {
    const kinds: ReadonlyArray<Fault.AnswerFault> = [
      Fault.drop({ mode: "reset", applied: true }),
      Fault.drop({ mode: "reset", applied: false }),
      Fault.serverError(502, { applied: true }),
      Fault.serverError(503, { applied: false }),
      Fault.truncated,
      Fault.unsigned,
      Fault.wrongSignature
    ]
    const none = Fault.delay(Duration.zero)
    const faults: Array<Fault.AnswerFault> = []
    for (let i = 0; i < count; i++) {
      // One answer that never comes: the client has to time out, then re-send.
      if (i === 1) faults.push(Fault.drop({ mode: "hang", applied: true }))
      else if ((yield* random.next) < 0.35) faults.push(kinds[yield* random.nextIntBetween(0, kinds.length)]!)
      else faults.push(none)
    }
    return faults
  })

/** What happens to the notifications of each paid call: about half duplicated, late, re-issued or reordered. */
const notifyFaults = (count: number, random: Random.Random) =>
  Effect.gen(function* () {
    const kinds: ReadonlyArray<Fault.NotifyFault> = [
      Fault.duplicate,
      Fault.late("3 hours"),
      Fault.reissue("1 hour"),
      Fault.reorder,
      Fault.malformedContentType
    ]
    const faults: Array<Fault.NotifyFault> = []
    for (let i = 0; i < count; i++)
      faults.push(
        (yield* random.next) < 0.5
          ? kinds[yield* random.nextIntBetween(0, kinds.length)]!
          : Fault.late(Duration.zero)
      )
    return faults
  })

/** A stable, well-mixed number in [0, 1) from the seed and a text (FNV-1a, then murmur3's finalizer). */
export const unitHash = (seed: number, text: string): number => {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32
}

// ---------------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------------

type TaskResult = "confirmed" | "confirmed_after_resend" | "already_confirmed_after_resend" | "not_paid"

/** Re-sends after an unknown outcome until the gateway gives a verifiable answer (bounded). */
const MAX_ROUNDS = 8

const confirmTask = (client: Client.Client, request: SignedRequest.SignedRequest) =>
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

const businessKeyOf = (entry: Sandbox.LedgerEntry): string =>
  entry._tag === "Transfer"
    ? Notification.businessKeyOf(Protocol.Notify.assign, entry.outerTaskId, entry.serial)
    : Notification.businessKeyOf(Protocol.Notify.platformProfit, entry.outerTaskId)

export const run = (options: Options): Effect.Effect<Summary, DemoError, FileSystem.FileSystem | Path.Path> =>
  Effect.scoped(
    Effect.gen(function* () {
      const fail = (what: string) => (e: { readonly message: string }) =>
        new DemoError({ message: `${what}: ${e.message}` })
      const random = Random.make(options.seed)
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const started = Date.now()
      const clock = ScaledClock.make(options.timeScale, started)
      const simulatedHours = () => (clock.unsafeCurrentTimeMillis() - started) / 3_600_000

      // ----- the sandbox gateway: tasks registered, faults queued
      const tasks = yield* makeTasks(options.tasks, random)
      const sandbox = yield* Sandbox.make({
        partners: [{ partner: TestKeys.partnerId, publicKey: TestKeys.partnerPublicKeyPem }],
        tasks,
        notifyIdPrefix: "demo-n-",
        // Measured on the sandbox's clock: ten real seconds per delivery attempt.
        deliveryTimeout: Duration.seconds(10 * options.timeScale)
      }).pipe(Effect.mapError(fail("sandbox")))
      yield* sandbox.queueAnswerFaults(...(yield* answerFaults(options.tasks, random)))
      yield* sandbox.queueNotifyFaults(...(yield* notifyFaults(options.tasks, random)))

      // ----- the receiver: notify endpoint at /, SQLite inbox, a business table written in its transaction
      const dir = yield* fs
        .makeTempDirectoryScoped({ prefix: "witkey-demo-" })
        .pipe(Effect.mapError(fail("temp dir")))
      const inboxContext = yield* Layer.build(
        SqliteInbox.layer({ filename: path.join(dir, "inbox.db") })
      ).pipe(Effect.mapError(fail("SQLite inbox")))
      const sql = Context.get(inboxContext, SqlClient.SqlClient)
      const inbox = Context.get(inboxContext, Inbox.Inbox)
      yield* sql
        .unsafe(
          `CREATE TABLE ${PAYOUTS_TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, business_key TEXT NOT NULL, notify_id TEXT NOT NULL, amount TEXT NOT NULL)`
        )
        .pipe(Effect.mapError(fail("SQLite")))

      const processed = yield* Ref.make(0)
      const duplicates = yield* Ref.make(0)
      const handlerFailures = yield* Ref.make(0)
      const handlerRuns = new Map<string, number>()
      let dayLong: string | undefined
      /**
       * How many deliveries of a notification find the receiver's database down. The first notification
       * without a fault of its own (no copy, no re-issue that could be processed instead) meets a receiver
       * that is down for 7 deliveries: it is processed on the 8th and last, a full day later.
       */
      const plannedFailures = (notifyId: string) =>
        Effect.gen(function* () {
          if (dayLong === undefined) {
            const record = (yield* sandbox.notifications).find((r) => r.notifyId === notifyId)
            const plain =
              record !== undefined &&
              record.reissueOf === undefined &&
              (record.fault === undefined ||
                (record.fault._tag === "Late" && Duration.toMillis(record.fault.by) === 0))
            if (plain) dayLong = notifyId
          }
          if (notifyId === dayLong) return 7
          const r = unitHash(options.seed, notifyId)
          return r < 0.7 ? 0 : r < 0.8 ? 1 : r < 0.9 ? 2 : 3
        })
      const handler = (n: Notification.Notification) =>
        Effect.gen(function* () {
          const runs = (handlerRuns.get(n.notifyId) ?? 0) + 1
          handlerRuns.set(n.notifyId, runs)
          if (runs <= (yield* plannedFailures(n.notifyId))) {
            yield* Ref.update(handlerFailures, (k) => k + 1)
            return yield* new ReceiverDown({ message: "demo: the receiver's database is down" })
          }
          const key = Notification.businessKey(n) ?? n.notifyId
          yield* sql`INSERT INTO ${sql(PAYOUTS_TABLE)} ${sql.insert({
            business_key: key,
            notify_id: n.notifyId,
            amount: n.fields["transfer_amount"] ?? ""
          })}`
        })
      const refusals = yield* Ref.make<Record<string, number>>({})
      const onResult = (result: NotificationReceiver.Result) =>
        result._tag === "Acknowledged"
          ? Ref.update(result.outcome._tag === "Processed" ? processed : duplicates, (k) => k + 1)
          : Ref.update(refusals, (r) => ({ ...r, [result.reason]: (r[result.reason] ?? 0) + 1 }))

      // ----- both servers on loopback; the gateway's under the accelerated clock
      const receiverNode = Http.createServer()
      const receiverServer = yield* NodeHttpServer.make(() => receiverNode, {
        port: 0,
        host: "127.0.0.1"
      }).pipe(Effect.mapError(fail("receiver")))
      yield* Effect.addFinalizer(() => Effect.sync(() => receiverNode.closeAllConnections()))
      const receiverPort = receiverServer.address._tag === "TcpAddress" ? receiverServer.address.port : 0
      const notifyUrl = `http://127.0.0.1:${receiverPort}/`
      // Served under the scaled clock: every request, and every delivery fiber it starts, runs on it.
      const gateway = yield* SandboxServer.make({ port: 0 }).pipe(
        Effect.provideService(Sandbox.Sandbox, sandbox),
        Effect.withClock(clock),
        Effect.mapError(fail("sandbox server"))
      )

      // ----- the clients: the platform's (signs, sends) and the receiver's (verifies, notify_verify)
      const signer = yield* DsaSigner.make({ privateKey: TestKeys.partnerPrivateKey }).pipe(
        Effect.mapError(fail("partner key"))
      )
      const verifier = yield* DsaVerifier.make({ publicKey: Redacted.make(sandbox.gatewayPublicKey) }).pipe(
        Effect.mapError(fail("gateway key"))
      )
      const transport = (timeout: Duration.DurationInput) =>
        Effect.map(Layer.build(HttpTransport.layerNode({ timeout })), Context.get(Transport.Transport))
      // The platform waits 2 s for an answer that never comes (the demo's one hanging answer costs that much);
      // the receiver's notify_verify gets longer, so a busy machine does not turn into refused notifications.
      const platformTransport = yield* transport("2 seconds")
      const receiverTransport = yield* transport("10 seconds")
      const platform = Client.fromServices(
        {
          partner: TestKeys.partnerId,
          gateway: gateway.gatewayUrl,
          notifyUrl,
          retry: Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(4)), Schedule.asVoid)
        },
        { signer, verifier, transport: platformTransport }
      )
      const receiver = NotificationReceiver.fromServices(
        { partner: TestKeys.partnerId, gateway: gateway.gatewayUrl },
        { verifier, transport: receiverTransport }
      )
      yield* receiverServer.serve(
        Receiver.httpApp({ notifyVerify: true, handler, onResult }).pipe(
          Effect.provideService(NotificationReceiver.NotificationReceiver, receiver),
          Effect.provideService(Inbox.Inbox, inbox)
        )
      )

      // ----- confirm every task, then let the day of notifications play out
      const done = yield* Ref.make(0)
      const progress = (phase: Progress["phase"]) =>
        Effect.gen(function* () {
          const records = yield* sandbox.notifications
          yield* options.onProgress({
            phase,
            tasksDone: yield* Ref.get(done),
            tasks: options.tasks,
            notificationsDone: records.filter((r) => r.state !== "scheduled").length,
            notifications: records.length,
            simulatedHours: simulatedHours()
          })
        })
      const phase = yield* Ref.make<Progress["phase"]>("confirming")
      yield* Effect.forkScoped(
        Effect.repeat(Effect.flatMap(Ref.get(phase), progress), Schedule.spaced("200 millis"))
      )
      const results = yield* Effect.forEach(
        tasks,
        (task) =>
          platform
            .prepare({ outerTaskId: task.outerTaskId, transfers: task.transfers.map((t) => t.serial) })
            .pipe(
              Effect.mapError(fail(`task ${task.outerTaskId}`)),
              Effect.flatMap((request) => confirmTask(platform, request)),
              Effect.tap(() => Ref.update(done, (k) => k + 1))
            ),
        { concurrency: options.concurrency }
      )
      yield* Ref.set(phase, "notifying")
      const finished = yield* sandbox.awaitDeliveries.pipe(Effect.timeout("90 seconds"), Effect.either)
      yield* progress("notifying")

      // ----- reconcile: the gateway's ledger, the inbox, and the business table must say the same
      const ledger = yield* sandbox.ledger
      const records = yield* sandbox.notifications
      const calls = yield* sandbox.calls
      const rows = yield* sql<{ readonly business_key: string; readonly amount: string }>`
        SELECT business_key, amount FROM ${sql(PAYOUTS_TABLE)}`.pipe(Effect.mapError(fail("SQLite")))
      const entries = yield* Effect.forEach(tasks, (t) => inbox.byTask(t.outerTaskId)).pipe(
        Effect.map((lists) => lists.flat()),
        Effect.mapError(fail("inbox"))
      )
      const problems: Array<string> = []
      if (Either.isLeft(finished)) problems.push("deliveries were still running after 90 seconds")
      const expected = new Map(ledger.map((entry) => [businessKeyOf(entry), entry.amount] as const))
      const recorded = new Map<string, Array<string>>()
      for (const row of rows)
        recorded.set(row.business_key, [...(recorded.get(row.business_key) ?? []), row.amount])
      for (const [key, amount] of expected) {
        const amounts = recorded.get(key) ?? []
        if (amounts.length !== 1)
          problems.push(`${key}: paid once by the gateway, processed ${amounts.length} times`)
        else if (!BigDecimal.equals(BigDecimal.unsafeFromString(amounts[0]!), amount))
          problems.push(`${key}: amount ${BigDecimal.format(amount)} in the ledger, ${amounts[0]} processed`)
      }
      for (const key of recorded.keys())
        if (!expected.has(key))
          problems.push(`${key}: processed, but the gateway's ledger has no such payout`)
      const inboxProcessed = entries.filter((e) => e.state === "processed" && e.duplicateOf === undefined)
      const inboxKeys = new Set(inboxProcessed.map((e) => e.businessKey ?? e.notifyId))
      for (const key of expected.keys())
        if (!inboxKeys.has(key)) problems.push(`${key}: no processed notification in the inbox`)
      if (inboxProcessed.length !== expected.size)
        problems.push(
          `${inboxProcessed.length} processed notifications in the inbox, ${expected.size} ledger entries`
        )
      const paidSerials = new Set(ledger.flatMap((e) => (e._tag === "Transfer" ? [e.serial] : [])))
      for (const task of tasks)
        for (const t of task.transfers)
          if (!paidSerials.has(t.serial))
            problems.push(`${t.serial}: never paid (the confirm did not go through)`)
      const exhausted = records.filter((r) => r.state === "exhausted").length
      if (exhausted > 0) problems.push(`${exhausted} notifications ran out of retries`)

      const attempts = records.flatMap((r) => r.attempts)
      const count = (result: TaskResult) => results.filter((r) => r === result).length
      const confirmCalls = calls.filter((c) => c.service === Protocol.SERVICE)
      return {
        tasks: options.tasks,
        seed: options.seed,
        timeScale: options.timeScale,
        confirmed: count("confirmed"),
        confirmedAfterResend: count("confirmed_after_resend"),
        alreadyConfirmedAfterResend: count("already_confirmed_after_resend"),
        notPaid: count("not_paid"),
        gatewayCalls: confirmCalls.length,
        answerFaults: confirmCalls.filter((c) => c.fault !== undefined && c.fault._tag !== "Delay").length,
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
        notificationsExhausted: exhausted,
        duplicatesIgnored: yield* Ref.get(duplicates),
        processed: yield* Ref.get(processed),
        handlerFailures: yield* Ref.get(handlerFailures),
        refusals: yield* Ref.get(refusals),
        ledgerEntries: ledger.length,
        inboxProcessed: inboxProcessed.length,
        payoutsRecorded: rows.length,
        simulatedHours: simulatedHours(),
        agree: problems.length === 0,
        problems
      } satisfies Summary
    })
  )
