// The sandbox's rooms, each on its own: the registry's rules, the ledger's check-and-pay, the delivery
// schedule on a TestClock, fault drawing and the query reader.
import { assert, describe, it } from "@effect/vitest"
import * as Protocol from "@witkey/core/Protocol"
import * as DsaSigner from "@witkey/crypto-dsa/DsaSigner"
import { BigDecimal, Clock, Duration, Effect, Either, FastCheck as fc, TestClock } from "effect"
import * as Fault from "../src/Fault.js"
import * as Deliveries from "../src/internal/Delivery.js"
import * as Ledger from "../src/internal/Ledger.js"
import * as Prng from "../src/internal/Prng.js"
import * as Query from "../src/internal/Query.js"
import * as Registry from "../src/internal/Registry.js"
import * as NotificationSigner from "../src/NotificationSigner.js"
import type * as Sandbox from "../src/Sandbox.js"
import * as TestKeys from "../src/TestKeys.js"

const PAYEE = "2088102122524333"
const dec = (text: string) => BigDecimal.unsafeFromString(text)

const taskOf = (serials: ReadonlyArray<string>, serviceFee = "30.00"): Registry.Task => ({
  partner: TestKeys.partnerId,
  outerTaskId: "t-1",
  transfers: new Map(serials.map((serial) => [serial, { serial, payeeUserId: PAYEE, amount: dec("10.00") }])),
  serviceFee: dec(serviceFee),
  serviceCharge: dec("1.50"),
  platformAccount: TestKeys.platformUserId,
  registeredAt: 0
})

describe("Ledger", () => {
  it("pays all of a call or nothing: one paid serial refuses the whole call", () => {
    const ledger = Ledger.make()
    const task = taskOf(["a", "b", "c"])
    assert.strictEqual(ledger.pay(task, ["a"], 1, "x")._tag, "Paid")
    const again = ledger.pay(task, ["b", "a"], 2, "x")
    assert.deepStrictEqual(again, { _tag: "Refused", code: Protocol.ALREADY_PAID_CODE })
    assert.deepStrictEqual(ledger.paidSerials(task), ["a"])
    assert.deepStrictEqual(ledger.pay(task, ["b", "zz"], 3, "x"), {
      _tag: "Refused",
      code: "WITKEY_TRANSFER_NOT_EXIST"
    })
    assert.deepStrictEqual(ledger.pay(undefined, ["a"], 3, "x"), {
      _tag: "Refused",
      code: "WITKEY_TASK_NOT_EXIST"
    })
    assert.strictEqual(ledger.entries().length, 1)
  })

  it.prop(
    "against a model: every serial paid at most once, the fee once with the last transfer, refusals pay nothing",
    [
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 4 }), {
        maxLength: 12
      }),
      fc.boolean()
    ],
    ([size, calls, fee]) => {
      const serials = Array.from({ length: size }, (_, i) => `s${i}`)
      const task = taskOf(serials, fee ? "30.00" : "0.00")
      const ledger = Ledger.make()
      const paid = new Set<string>()
      for (const [at, call] of calls.entries()) {
        const names = call.map((i) => `s${i}`)
        const before = ledger.entries().length
        const payment = ledger.pay(task, names, at, "x")
        const expected = names.every((n) => serials.includes(n)) && names.every((n) => !paid.has(n))
        assert.strictEqual(payment._tag, expected ? "Paid" : "Refused")
        if (payment._tag === "Refused") {
          assert.strictEqual(ledger.entries().length, before)
          continue
        }
        for (const n of names) paid.add(n)
        const completes = paid.size === size && fee
        assert.deepStrictEqual(
          payment.entries.map((e) => (e._tag === "Transfer" ? e.serial : "fee")),
          completes ? [...names, "fee"] : names
        )
      }
      const transfers = ledger.entries().flatMap((e) => (e._tag === "Transfer" ? [e.serial] : []))
      assert.strictEqual(new Set(transfers).size, transfers.length)
      assert.deepStrictEqual(new Set(transfers), paid)
      const fees = ledger.entries().filter((e) => e._tag === "PlatformProfit").length
      assert.strictEqual(fees, fee && paid.size === size ? 1 : 0)
    }
  )
})

describe("Registry", () => {
  const registry = Effect.gen(function* () {
    const registry = Registry.make({
      separator: Protocol.DEFAULT_TRANSFER_SEPARATOR,
      chargeRate: dec("0.05")
    })
    yield* registry.registerPartner({ partner: TestKeys.partnerId, publicKey: TestKeys.partnerPublicKeyPem })
    return registry
  })
  const task = (outerTaskId: string, transfers: ReadonlyArray<readonly [string, string]>, extra = {}) => ({
    partner: TestKeys.partnerId,
    outerTaskId,
    transfers: transfers.map(([serial, amount]) => ({ serial, payeeUserId: PAYEE, amount })),
    serviceFee: "30.00",
    platformAccount: TestKeys.platformUserId,
    ...extra
  })
  const reason = (result: Either.Either<Registry.Task, Registry.Problem>) =>
    Either.match(result, { onLeft: (p) => p.reason, onRight: () => "ok" })

  it.effect("a serial belongs to one task of a partner; a refused task claims nothing", () =>
    Effect.gen(function* () {
      const r = yield* registry
      assert.strictEqual(reason(r.registerTask(task("t-1", [["a", "1.00"]]), 5)), "ok")
      assert.strictEqual(reason(r.registerTask(task("t-1", [["b", "1.00"]]), 5)), "duplicate_task")
      assert.strictEqual(reason(r.registerTask(task("t-2", [["a", "1.00"]]), 5)), "duplicate_transfer")
      // The second transfer is invalid: the first serial must stay free.
      assert.strictEqual(
        reason(
          r.registerTask(
            task("t-3", [
              ["c", "1.00"],
              ["d", "0.00"]
            ]),
            5
          )
        ),
        "invalid_task"
      )
      assert.strictEqual(reason(r.registerTask(task("t-3", [["c", "1.00"]]), 5)), "ok")
      assert.strictEqual(
        reason(r.registerTask({ ...task("t-4", [["e", "1"]]), partner: "2088000000000000" }, 5)),
        "unknown_partner"
      )
      assert.deepStrictEqual(
        r.tasks().map((t) => t.outerTaskId),
        ["t-1", "t-3"]
      )
      assert.strictEqual(r.task(TestKeys.partnerId, "t-3")?.registeredAt, 5)
    })
  )

  it.effect("the service charge defaults to the rate, rounded, and may not exceed the fee", () =>
    Effect.gen(function* () {
      const r = yield* registry
      const made = r.registerTask(task("t-1", [["a", "1.00"]], { serviceFee: "0.30" }), 0)
      assert.isTrue(Either.isRight(made) && BigDecimal.equals(made.right.serviceCharge, dec("0.02")))
      assert.strictEqual(
        reason(
          r.registerTask(task("t-2", [["b", "1.00"]], { serviceFee: "1.00", serviceCharge: "1.01" }), 0)
        ),
        "invalid_task"
      )
      assert.isTrue(Either.isLeft(Registry.parseRate("1.5")) && Either.isRight(Registry.parseRate("0.006")))
    })
  )
})

describe("Delivery", () => {
  const pending: Deliveries.Pending = {
    subType: Protocol.Notify.assign,
    outerTransferNo: "a",
    leaves: NotificationSigner.assign({
      outerTaskId: "t-1",
      outerTransferNo: "a",
      transferAmount: dec("10.00"),
      payeeUserId: PAYEE,
      gmtTransfer: "20260101000000"
    })
  }
  const rooms = (answer: (attempt: number) => number) =>
    Effect.gen(function* () {
      const sent: Array<number> = []
      const signer = yield* Effect.orDie(DsaSigner.make({ privateKey: TestKeys.gatewayPrivateKey }))
      const deliver: Sandbox.Deliver = (delivery) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          sent.push(now)
          const status = answer(delivery.attempt)
          return { status, body: new TextEncoder().encode(status === 200 ? "success" : "fail") }
        })
      const deliveries = yield* Deliveries.make({
        prefix: "n-",
        utcOffsetMinutes: 480,
        deliveryTimeout: Duration.seconds(15),
        signer,
        deliver: Effect.succeed(deliver)
      })
      return { deliveries, sent }
    })
  const batch = (fault?: Fault.NotifyFault): Deliveries.Batch => ({
    partner: TestKeys.partnerId,
    outerTaskId: "t-1",
    url: "http://platform.test/notify",
    charset: "utf-8",
    now: 0,
    fault
  })

  it.scoped(
    "never acknowledged: eight attempts at the §6 times, measured from the first, then exhausted",
    () =>
      Effect.gen(function* () {
        const { deliveries, sent } = yield* rooms(() => 500)
        const [id] = yield* deliveries.schedule(batch(Fault.late("5 minutes")), [pending])
        yield* TestClock.adjust("1 minute")
        assert.deepStrictEqual(sent, [])
        assert.strictEqual(deliveries.notification(id!)?.nextAttemptAt, 5 * 60_000)
        yield* TestClock.adjust("2 days")
        yield* deliveries.awaitDeliveries
        const expected = Deliveries.dueTimes(5 * 60_000)
        assert.strictEqual(expected.length, Protocol.NOTIFY_RETRY_DELAYS_MINUTES.length + 1)
        assert.deepStrictEqual(sent, expected)
        assert.strictEqual(expected[7]! - expected[0]!, (24 * 60 + 22) * 60_000)
        const record = deliveries.notification(id!)!
        assert.strictEqual(record.state, "exhausted")
        assert.strictEqual(record.attemptsLeft, 0)
        assert.deepStrictEqual(
          record.attempts.map((a) => [a.attempt, a.acknowledged]),
          expected.map((_, i) => [i + 1, false])
        )
      })
  )

  it.scoped("an acknowledgement on the third attempt ends the schedule", () =>
    Effect.gen(function* () {
      const { deliveries, sent } = yield* rooms((attempt) => (attempt === 3 ? 200 : 503))
      const [id] = yield* deliveries.schedule(batch(), [pending])
      yield* TestClock.adjust("2 days")
      yield* deliveries.awaitDeliveries
      assert.deepStrictEqual(sent, Deliveries.dueTimes(0).slice(0, 3))
      assert.strictEqual(deliveries.notification(id!)?.state, "acknowledged")
    })
  )

  it.scoped("resend: one attempt now; acknowledged, it stops the scheduled deliveries", () =>
    Effect.gen(function* () {
      let ok = false
      const { deliveries, sent } = yield* rooms(() => (ok ? 200 : 500))
      const [id] = yield* deliveries.schedule(batch(), [pending])
      yield* TestClock.adjust("3 minutes")
      assert.strictEqual(sent.length, 2)
      assert.strictEqual(deliveries.notification(id!)?.attemptsLeft, 6)
      ok = true
      const made = yield* deliveries.resend(id!)
      assert.isTrue(made.manual && made.acknowledged)
      // Over without moving the clock: the loop that slept until the next retry was stopped.
      yield* deliveries.awaitDeliveries
      const record = deliveries.notification(id!)!
      assert.strictEqual(record.state, "acknowledged")
      assert.strictEqual(record.nextAttemptAt, undefined)
      assert.strictEqual((yield* Effect.flip(deliveries.resend("nope"))).reason, "unknown_notification")
    })
  )
})

describe("Fault.draw", () => {
  const sequence = (seed: number, faults: Omit<Fault.RandomFaults, "seed">) => {
    const draw = Fault.draw(Prng.make(seed), { seed, ...faults })
    return Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? draw.answer() : draw.notify()))
  }

  it.prop("a function of the seed; rates 0 and 1 and the kinds are respected", [fc.integer()], ([seed]) => {
    assert.deepStrictEqual(sequence(seed, {}), sequence(seed, {}))
    assert.isTrue(sequence(seed, { answerRate: 0, notifyRate: 0 }).every((f) => f === undefined))
    const all = sequence(seed, {
      answerRate: 1,
      notifyRate: 1,
      answerKinds: ["Delay"],
      notifyKinds: ["Reorder"]
    })
    assert.deepStrictEqual(
      all.map((f) => f?._tag),
      all.map((_, i) => (i % 2 === 0 ? "Delay" : "Reorder"))
    )
  })
})

describe("Query", () => {
  it.prop(
    "percent-decodes any bytes back, and reads them in the request's charset",
    [fc.uint8Array()],
    ([bytes]) => {
      const escaped = [...bytes].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")
      const parsed = Query.parse(`/gateway.do?a=${escaped}&b=x+y`)
      assert.strictEqual(parsed._tag, "Ok")
      if (parsed._tag !== "Ok") return
      assert.deepStrictEqual([...parsed.pairs[0]!.value], [...bytes])
      assert.deepStrictEqual([...parsed.pairs[1]!.value], [...new TextEncoder().encode("x y")])
    }
  )

  it("refuses broken escapes and raw characters, and says why", () => {
    for (const url of ["/g?a=%4", "/g?a=%zz", "/g?a=\u00e9", "/g?a=b c"]) {
      const read = Query.read(url)
      assert.isTrue(read._tag === "Unreadable" && read.code === "ILLEGAL_ARGUMENT" && read.reason !== "", url)
    }
    const twice = Query.read(`/g?service=${Protocol.SERVICE}&a=1&a=2`)
    assert.isTrue(twice._tag === "Unreadable" && twice.reason.includes("twice"))
  })
})
