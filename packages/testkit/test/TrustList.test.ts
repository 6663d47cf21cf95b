/**
 * Key rotation end to end: notifications signed by Alipay's old and new keys, decoded by core with a
 * `DsaVerifier` trust list, and the trust list from configuration.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Client from "@witkey/core/Client"
import * as Notification from "@witkey/core/Notification"
import { Signer } from "@witkey/core/Signer"
import { Verifier } from "@witkey/core/Verifier"
import { DsaKey, DsaVerifier } from "@witkey/crypto-dsa"
import { ConfigProvider, Effect, Layer, Logger, Redacted } from "effect"
import * as NotificationSigner from "../src/NotificationSigner.js"
import * as Sandbox from "../src/Sandbox.js"
import * as SandboxTransport from "../src/SandboxTransport.js"
import * as TestKeys from "../src/TestKeys.js"

// The "old" Alipay key is testkit's unrelated key; the "new" one is the gateway key.
const OLD = TestKeys.otherPublicKeyPem
const NEW = TestKeys.gatewayPublicKeyPem

const signed = (signer: typeof TestKeys.gatewaySigner, notifyId = "n-rotation-1") =>
  NotificationSigner.sign({
    notifyId,
    notifyTime: "2026-11-25 10:30:00",
    payload: NotificationSigner.assign({
      outerTaskId: "task-rotation",
      outerTransferNo: "s-1",
      transferAmount: "120.00",
      payeeUserId: "2088102122524333",
      gmtTransfer: "20261125103000"
    })
  }).pipe(Effect.provide(signer))

const decodeWith = (verifier: Layer.Layer<Verifier, unknown>, signer: typeof TestKeys.gatewaySigner) =>
  Effect.gen(function* () {
    const logs: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => logs.push(`${logLevel.label} ${String(message)}`))
    const s = yield* signed(signer)
    const result = yield* Notification.decode({ body: s.body, contentType: s.contentType }).pipe(
      Effect.provide(Layer.orDie(verifier)),
      Effect.provide(Logger.add(logger)),
      Effect.either
    )
    return { result, logs }
  })

const rotating = DsaVerifier.layer({
  keys: [
    { id: "alipay-2026", publicKey: Redacted.make(NEW) },
    { id: "alipay-2020", publicKey: Redacted.make(OLD), status: "retired" }
  ]
})

describe("a trust list of Alipay public keys", () => {
  it.effect("a notification signed with a retired key verifies while it is listed, says so and warns", () =>
    Effect.gen(function* () {
      const { logs, result } = yield* decodeWith(rotating, TestKeys.otherSigner)
      assert.isTrue(result._tag === "Right")
      if (result._tag !== "Right") return
      assert.deepStrictEqual(result.right.verifiedBy, { keyId: "alipay-2020", status: "retired" })
      assert.strictEqual(result.right.payload._tag, "Assign")
      assert.isTrue(logs.some((l) => l.startsWith("WARN") && l.includes('"alipay-2020"')))
    })
  )

  it.effect("the new key's notifications verify as active, without a warning", () =>
    Effect.gen(function* () {
      const { logs, result } = yield* decodeWith(rotating, TestKeys.gatewaySigner)
      assert.isTrue(result._tag === "Right")
      if (result._tag !== "Right") return
      assert.deepStrictEqual(result.right.verifiedBy, { keyId: "alipay-2026", status: "active" })
      assert.deepStrictEqual(logs, [])
    })
  )

  it.effect("once the old key is removed from the list, its notifications are refused", () =>
    Effect.gen(function* () {
      const { result } = yield* decodeWith(
        DsaVerifier.layer({ keys: [{ id: "alipay-2026", publicKey: Redacted.make(NEW) }] }),
        TestKeys.otherSigner
      )
      assert.isTrue(result._tag === "Left" && result.left._tag === "SignatureError")
      assert.isTrue(
        result._tag === "Left" && result.left._tag === "SignatureError" && result.left.reason === "mismatch"
      )
    })
  )

  it.effect(
    "the same key listed as retired and as active is reported as the active entry (active first)",
    () =>
      Effect.gen(function* () {
        const { result } = yield* decodeWith(
          DsaVerifier.layer({
            keys: [
              { id: "as-retired", publicKey: Redacted.make(NEW), status: "retired" },
              { id: "as-active", publicKey: Redacted.make(NEW) }
            ]
          }),
          TestKeys.gatewaySigner
        )
        assert.isTrue(result._tag === "Right" && result.right.verifiedBy.keyId === "as-active")
      })
  )

  it.effect("one key is a list of one, named by its fingerprint (as `witkey key inspect` shows it)", () =>
    Effect.gen(function* () {
      const { result } = yield* decodeWith(
        DsaVerifier.layer({ publicKey: Redacted.make(NEW) }),
        TestKeys.gatewaySigner
      )
      const fingerprint = (yield* DsaKey.inspect(NEW)).fingerprint
      assert.isTrue(result._tag === "Right")
      if (result._tag === "Right")
        assert.deepStrictEqual(result.right.verifiedBy, { keyId: fingerprint, status: "active" })
    })
  )

  it.effect("a list is refused when it has no active key, a repeated id, or no key", () =>
    Effect.gen(function* () {
      const noActive = yield* Effect.flip(
        DsaVerifier.make({ keys: [{ id: "old", publicKey: Redacted.make(OLD), status: "retired" }] })
      )
      assert.strictEqual(noActive.reason, "missing")
      assert.include(noActive.message, "no key is active")
      const twice = yield* Effect.flip(
        DsaVerifier.make({
          keys: [
            { id: "k", publicKey: Redacted.make(NEW) },
            { id: "k", publicKey: Redacted.make(OLD) }
          ]
        })
      )
      assert.strictEqual(twice.reason, "malformed")
      assert.include(twice.message, '"k" is used twice')
      const empty = yield* Effect.flip(
        DsaVerifier.make({ keys: [] as unknown as DsaVerifier.TrustList["keys"] })
      )
      assert.strictEqual(empty.reason, "missing")
      const broken = yield* Effect.flip(
        DsaVerifier.make({
          keys: [{ id: "new", publicKey: Redacted.make(NEW) }, { publicKey: Redacted.make("nonsense") }]
        })
      )
      assert.include(broken.message, "key #2")
      assert.notInclude(broken.message, "nonsense")
    })
  )
})

describe("a trust list on the payout path", () => {
  it.effect("a gateway answer signed with a retired key is confirmed, and says which key verified it", () =>
    Effect.gen(function* () {
      const sandbox = yield* Sandbox.Sandbox
      yield* sandbox.registerTask({
        partner: TestKeys.partnerId,
        outerTaskId: "task-rotation",
        transfers: [{ serial: "s-1", payeeUserId: "2088102122524333", amount: "10.00" }],
        serviceFee: "1.00",
        platformAccount: TestKeys.platformUserId
      })
      // The sandbox signs with the gateway key: here the retired one, behind an active key it does not use.
      const verifier = yield* DsaVerifier.make({
        keys: [
          { id: "alipay-next", publicKey: Redacted.make(OLD) },
          { id: "alipay-now", publicKey: Redacted.make(NEW), status: "retired" }
        ]
      })
      const client = Client.fromServices(
        { partner: TestKeys.partnerId, gateway: SandboxTransport.GATEWAY_URL },
        { signer: yield* Signer, verifier, transport: SandboxTransport.make(sandbox) }
      )
      const outcome = yield* client.confirmByPlatform({ outerTaskId: "task-rotation", transfers: ["s-1"] })
      assert.strictEqual(outcome._tag, "Confirmed")
      if (outcome._tag === "Confirmed")
        assert.deepStrictEqual(outcome.verifiedBy, { keyId: "alipay-now", status: "retired" })
    }).pipe(Effect.provide(Layer.merge(Sandbox.layer(), TestKeys.partnerSigner)))
  )
})

describe("DsaVerifier.layerConfig with WITKEY_ALIPAY_PUBLIC_KEYS", () => {
  const dir = mkdtempSync(join(tmpdir(), "witkey-trust-list-"))
  const oldPath = join(dir, "alipay-old.pem")
  writeFileSync(oldPath, OLD)

  const withEnv = (env: Record<string, string>) =>
    DsaVerifier.layerConfig().pipe(
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))
    )

  it.effect("reads labelled entries (key text and a file path) and an unlabelled one", () =>
    Effect.gen(function* () {
      const { result } = yield* decodeWith(
        withEnv({
          [DsaVerifier.DEFAULT_LIST_CONFIG_NAME]: `alipay-2026:active:${TestKeys.oneLine(NEW)},alipay-2020:retired:${oldPath}`
        }),
        TestKeys.otherSigner
      )
      assert.isTrue(result._tag === "Right")
      if (result._tag === "Right")
        assert.deepStrictEqual(result.right.verifiedBy, { keyId: "alipay-2020", status: "retired" })
      const unlabelled = yield* decodeWith(
        withEnv({ [DsaVerifier.DEFAULT_LIST_CONFIG_NAME]: TestKeys.oneLine(NEW) }),
        TestKeys.gatewaySigner
      )
      assert.isTrue(
        unlabelled.result._tag === "Right" && unlabelled.result.right.verifiedBy.keyId.startsWith("SHA256:")
      )
    })
  )

  it.effect("the single setting still works alone; both settings together are refused", () =>
    Effect.gen(function* () {
      const single = yield* decodeWith(
        withEnv({ [DsaVerifier.DEFAULT_CONFIG_NAME]: NEW }),
        TestKeys.gatewaySigner
      )
      assert.isTrue(single.result._tag === "Right" && single.result.right.verifiedBy.status === "active")
      const both = yield* Effect.flip(
        Layer.build(
          withEnv({
            [DsaVerifier.DEFAULT_CONFIG_NAME]: NEW,
            [DsaVerifier.DEFAULT_LIST_CONFIG_NAME]: TestKeys.oneLine(NEW)
          })
        )
      )
      assert.isTrue(both._tag === "KeyError" && both.message.includes("both"))
    }).pipe(Effect.scoped)
  )
})
