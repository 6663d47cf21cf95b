// The exit-code contract for bad usage: 2 for an unknown flag, a missing required option and a bad charset,
// with the message on stderr and nothing on stdout; --help on a subcommand exits 0 and lists its options.
// (Exit 1 for verification failures is asserted for every failing vector in Vectors.test.ts.)
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { run, TIMEOUT } from "./RunCli.js"

describe("usage", () => {
  it.effect(
    "unknown flag: exit 2",
    () =>
      Effect.gen(function* () {
        const result = yield* run(["canonical", "--charset", "utf-8", "--bogus", "--param", "a=b"])
        assert.strictEqual(result.code, 2)
        assert.strictEqual(result.stdout, "")
        assert.notStrictEqual(result.stderr.trim(), "")
      }),
    TIMEOUT
  )

  it.effect(
    "missing required option: exit 2",
    () =>
      Effect.gen(function* () {
        const result = yield* run(["verify-response", "--charset", "utf-8", "--json", "response.xml"])
        assert.strictEqual(result.code, 2)
        assert.strictEqual(result.stdout, "")
        assert.match(result.stderr, /--alipay-public-key/)
      }),
    TIMEOUT
  )

  it.effect(
    "bad charset: exit 2",
    () =>
      Effect.gen(function* () {
        const result = yield* run(["canonical", "--charset", "latin1", "--param", "a=b", "--json"])
        assert.strictEqual(result.code, 2)
        assert.strictEqual(result.stdout, "")
        assert.match(result.stderr, /"latin1" is not one of utf-8, gbk, gb2312/)
      }),
    TIMEOUT
  )

  it.effect(
    "--help on a subcommand: exit 0 with its options",
    () =>
      Effect.gen(function* () {
        const result = yield* run(["verify-notification", "--help"])
        assert.strictEqual(result.code, 0, result.stderr)
        for (const option of ["--alipay-public-key", "--content-type", "--charset", "--json"])
          assert.include(result.stdout, option)
      }),
    TIMEOUT
  )
})
