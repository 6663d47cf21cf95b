// What the command line signs is what it was given: option values byte for byte (leading and trailing spaces
// and tabs included, in `--name value` and `--name=value` form), and text the charset cannot represent is
// refused (exit 2, naming the parameter) rather than signed as `?`. In process (see RunCli.ts).
import { assert, describe, it } from "@effect/vitest"
import { Effect, FastCheck as fc } from "effect"
import * as RawArgs from "../src/RawArgs.js"
import { assertOneErrorLine, keyPath, lastJson, run } from "./RunCli.js"

const hex = (text: string) => Buffer.from(text, "utf8").toString("hex")

describe("option values are taken raw", () => {
  it.effect("canonical keeps leading and trailing spaces and tabs in --param values", () =>
    Effect.gen(function* () {
      const result = yield* run([
        "canonical",
        "--charset",
        "utf-8",
        "--param",
        "memo=hello ",
        "--param=tab=\tx\t",
        "--param",
        "lead=  y",
        "--json"
      ])
      assert.strictEqual(result.code, 0, result.stderr)
      const canonical = "lead=  y&memo=hello &tab=\tx\t"
      assert.deepStrictEqual(lastJson(result), { canonical, bytes_hex: hex(canonical) })
    })
  )

  it.effect("request sees --task and --transfer exactly as given (the rules then refuse the space)", () =>
    Effect.gen(function* () {
      const result = yield* run([
        "request",
        "--gateway",
        "https://gw.example/gateway.do",
        "--partner",
        "2088101012352995",
        "--private-key",
        keyPath("partner_private"),
        "--task",
        " t1",
        "--transfer",
        "s1\t"
      ])
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(
        result,
        /outer_task_id: must not contain U\+0020.*transfer_detail\[0\]: must not contain U\+0009/
      )
    })
  )

  it.prop(
    "RawArgs: the wrapped value survives the parser's trim and unwraps to itself; other values pass as they are",
    [fc.string({ unit: "binary", maxLength: 8 })],
    ([value]) => {
      const wrapped = RawArgs.wrap(value)
      assert.strictEqual(wrapped.trim(), wrapped)
      assert.notStrictEqual(wrapped, "")
      assert.strictEqual(RawArgs.unwrap(wrapped), value)
      const protectedArgs = RawArgs.protect([
        "node",
        "witkey",
        "canonical",
        `--param=${value}`,
        "--task",
        value
      ])
      assert.deepStrictEqual(protectedArgs.slice(2).map(RawArgs.unwrap), [
        "canonical",
        "--param",
        value,
        "--task",
        value
      ])
    }
  )
})

describe("text the charset cannot represent", () => {
  for (const command of ["canonical", "sign"] as const)
    it.effect(`${command} --charset gbk with an emoji: exit 2 naming the parameter, nothing signed`, () =>
      Effect.gen(function* () {
        const key = command === "sign" ? ["--private-key", keyPath("partner_private")] : []
        const result = yield* run([
          command,
          ...key,
          "--charset",
          "gbk",
          "--param",
          "outer_task_id=任务😀",
          "--json"
        ])
        assert.strictEqual(result.code, 2)
        assertOneErrorLine(
          result,
          /--param outer_task_id: "😀" \(U\+1F600\) at index 2 cannot be represented in gbk/
        )
      })
    )

  it.effect("canonical --charset utf-8 with a lone surrogate: exit 2", () =>
    Effect.gen(function* () {
      const result = yield* run(["canonical", "--charset", "utf-8", "--param", "memo=a\uD800", "--json"])
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(result, /--param memo: U\+D800 at index 1 cannot be represented in utf-8/)
    })
  )

  it.effect("request --charset gbk with an emoji task id: exit 2, the field named", () =>
    Effect.gen(function* () {
      const result = yield* run([
        "request",
        "--gateway",
        "https://gw.example/gateway.do",
        "--partner",
        "2088101012352995",
        "--private-key",
        keyPath("partner_private"),
        "--charset",
        "gbk",
        "--task",
        "任务😀",
        "--transfer",
        "s1"
      ])
      assert.strictEqual(result.code, 2)
      assertOneErrorLine(
        result,
        /outer_task_id: has "😀" \(U\+1F600\) at index 2, which gbk cannot represent/
      )
    })
  )
})
