// The exit-code contract for bad usage: 2 for an unknown flag, a missing required option and a bad charset,
// one `witkey:` line on stderr and nothing on stdout; --help on a subcommand exits 0 and lists its options.
// Two of these run the real binary (the exit code and streams as a shell sees them); the rest run in process.
// (Exit 1 for verification failures is asserted for every failing vector in Vectors.test.ts.)
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { assertOneErrorLine, run, runProcess, TIMEOUT } from "./RunCli.js"

describe("usage", () => {
  // The real binary, twice, side by side (each start is seconds of a loaded machine): an unknown flag exits 2
  // with one line on stderr; --help on a subcommand exits 0 and lists its options.
  it.effect(
    "as a shell sees it: unknown flag exits 2, --help exits 0 with the options (subprocesses)",
    () =>
      Effect.gen(function* () {
        const [unknown, help] = yield* Effect.all(
          [
            runProcess(["canonical", "--charset", "utf-8", "--bogus", "--param", "a=b"]),
            runProcess(["verify-notification", "--help"])
          ],
          { concurrency: 2 }
        )
        assert.strictEqual(unknown.code, 2)
        assertOneErrorLine(unknown, /--bogus/)
        assert.strictEqual(help.code, 0, help.stderr)
        for (const option of ["--alipay-public-key", "--content-type", "--charset", "--json"])
          assert.include(help.stdout, option)
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

  // `--port` is shared by serve and sandbox (CommonOptions.port) and range-checked before either starts.
  it.effect("port out of range: exit 2 for serve and sandbox", () =>
    Effect.gen(function* () {
      for (const args of [
        ["sandbox", "--port", "65536"],
        ["serve", "--port", "-1", "--db", "unused.db", "--alipay-public-key", "k.pem", "--partner", "2088"]
      ]) {
        const result = yield* run(args)
        assert.strictEqual(result.code, 2, args[0])
        assertOneErrorLine(result, /--port must be 0 to 65535/)
      }
    })
  )
})
