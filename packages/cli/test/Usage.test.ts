// The exit-code contract for bad usage: 2 for an unknown flag, a missing required option and a bad charset,
// one `witkey:` line on stderr and nothing on stdout; --help on a subcommand exits 0 and lists its options.
// Two of these run the real binary (the exit code and streams as a shell sees them); the rest run in process.
// (Exit 1 for verification failures is asserted for every failing vector in Vectors.test.ts.)
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertOneErrorLine, run, runProcess, TIMEOUT } from "./RunCli.js"

describe("usage", () => {
  it.effect(
    "unknown flag: exit 2 (subprocess)",
    () =>
      Effect.gen(function* () {
        const result = yield* runProcess(["canonical", "--charset", "utf-8", "--bogus", "--param", "a=b"])
        assert.strictEqual(result.code, 2)
        assertOneErrorLine(result, /--bogus/)
      }),
    TIMEOUT
  )

  it.effect("missing required option: exit 2", () =>
    Effect.gen(function* () {
      const result = yield* run(["verify-response", "--charset", "utf-8", "--json", "response.xml"])
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(result, /--alipay-public-key/)
    })
  )

  it.effect("bad charset: exit 2", () =>
    Effect.gen(function* () {
      const result = yield* run(["canonical", "--charset", "latin1", "--param", "a=b", "--json"])
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(result, /"latin1" is not one of utf-8, gbk, gb2312/)
    })
  )

  it.effect(
    "--help on a subcommand: exit 0 with its options (subprocess)",
    () =>
      Effect.gen(function* () {
        const result = yield* runProcess(["verify-notification", "--help"])
        assert.strictEqual(result.code, 0, result.stderr)
        for (const option of ["--alipay-public-key", "--content-type", "--charset", "--json"])
          assert.include(result.stdout, option)
      }),
    TIMEOUT
  )
})
