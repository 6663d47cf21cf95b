// Hostile input for SigningString.split: any text, huge text, NUL bytes, BOMs, separators everywhere. It must
// never throw, always account for every character, and invert make() for every parameter set whose values hold
// no "&" and whose names hold neither "&" nor "=" (what ConfirmRequest.validate admits).
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, FastCheck as fc } from "effect"
import * as SigningString from "../src/SigningString.js"
import { assertLinear, HANG_BOUND_MS, prop } from "./fuzz.js"

const split = (text: string) => {
  const start = performance.now()
  const exit = Effect.runSyncExit(Effect.sync(() => SigningString.split(text)))
  const elapsed = performance.now() - start
  assert.isBelow(elapsed, HANG_BOUND_MS, `took ${elapsed.toFixed(0)} ms`)
  if (Exit.isFailure(exit)) return assert.fail(`defect: ${Cause.pretty(exit.cause)}`)
  return exit.value
}

const textArb = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.string({
    unit: fc.constantFrom("&", "=", "a", "\u0000", "\uFEFF", "%", "+", "任", "\uD800"),
    maxLength: 200
  })
)

describe("SigningString.split on hostile input", () => {
  prop("any text: every segment is accounted for", [textArb], ([text]) => {
    const pairs = split(text)
    if (text === "") return assert.deepStrictEqual(pairs, [])
    const segments = text.split("&")
    assert.strictEqual(pairs.length, segments.length)
    pairs.forEach(([name, value], i) => {
      assert.notInclude(name, "=")
      assert.strictEqual(segments[i]!.includes("=") ? `${name}=${value}` : name, segments[i])
    })
  })

  prop(
    "inverts make() for admissible parameters",
    [
      fc.uniqueArray(
        fc.tuple(
          fc
            .string({ minLength: 1, maxLength: 12 })
            .filter((n) => !/[&=]/.test(n) && n !== "sign" && n !== "sign_type"),
          fc.string({ maxLength: 30 }).map((v) => v.replace(/&/g, ""))
        ),
        { selector: ([n]) => n, maxLength: 10 }
      )
    ],
    ([params]) => {
      assert.deepStrictEqual(
        split(SigningString.make(params)),
        SigningString.signedPairs(params).map(([n, v]) => [n, v])
      )
    }
  )

  it("huge text stays linear", () => {
    for (const unit of ["&", "=", "a=b&", "x"])
      assertLinear(
        `split of ${JSON.stringify(unit)} repeated`,
        (n) => unit.repeat(Math.ceil(n / unit.length)),
        (text) => SigningString.split(text),
        6_250
      )
  })
})
