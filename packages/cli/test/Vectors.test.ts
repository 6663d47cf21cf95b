// Every vector case through the CLI (in process: see RunCli.ts): `canonical`, `verify-response` and
// `verify-notification` with --json.
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { keyPath, lastJson, removeTempDirs, run, tempDir, vectors, writeBytes } from "./RunCli.js"

afterAll(removeTempDirs)

const dir = tempDir("vectors")
const gatewayPublic = keyPath("gateway_public")

/** Success results are compared whole; failures carry a human `message` (and reason) beyond the vector's keys. */
const assertMatches = (actual: Record<string, unknown>, expected: Record<string, unknown>) => {
  if (expected["ok"] === true) assert.deepStrictEqual(actual, expected)
  else {
    for (const [key, value] of Object.entries(expected)) assert.deepStrictEqual(actual[key], value, key)
    assert.strictEqual(typeof actual["error"], "string")
  }
}

describe("canonical", () => {
  for (const v of vectors.canonical)
    it.effect(v.name, () =>
      Effect.gen(function* () {
        const args = v.params.flatMap(([name, value]) => ["--param", `${name}=${value}`])
        const result = yield* run(["canonical", "--charset", v.charset, ...args, "--json"])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.deepStrictEqual(lastJson(result), { canonical: v.canonical, bytes_hex: v.bytes_hex })
      })
    )
})

describe("verify-response", () => {
  for (const v of vectors.responses)
    it.effect(v.name, () =>
      Effect.gen(function* () {
        const file = writeBytes(dir, `response-${v.name}.xml`, Buffer.from(v.body_b64, "base64"))
        const result = yield* run([
          "verify-response",
          "--alipay-public-key",
          gatewayPublic,
          "--charset",
          v.charset,
          "--json",
          file
        ])
        assert.strictEqual(result.code, v.expect["ok"] === true ? 0 : 1, result.stderr)
        assertMatches(lastJson(result), v.expect)
        if (v.expect["ok"] !== true) assert.match(result.stderr, /witkey: /)
        // A mismatch says what was checked, so a person can compare with their own canonical string.
        if (v.expect["reason"] === "mismatch") assert.match(result.stderr, /sha256 prefix [0-9a-f]{16}/)
      })
    )
})

describe("verify-notification", () => {
  for (const v of vectors.notifications)
    it.effect(v.name, () =>
      Effect.gen(function* () {
        const file = writeBytes(dir, `notification-${v.name}.form`, Buffer.from(v.body_b64, "base64"))
        const result = yield* run([
          "verify-notification",
          "--alipay-public-key",
          gatewayPublic,
          "--content-type",
          v.content_type,
          "--charset",
          v.charset,
          "--json",
          file
        ])
        assert.strictEqual(result.code, v.expect["ok"] === true ? 0 : 1, result.stderr)
        assertMatches(lastJson(result), v.expect)
      })
    )
})
