// Arbitraries for core's own property tests (testkit has the public, richer ones).
import { FastCheck as fc } from "effect"
import * as Charset from "../src/Charset.js"

const safeChars = [
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@!$'()*,;~任务稿件例子通知中文测试"
]

export const idChar = fc.constantFrom(...safeChars)
export const id = (max: number) => fc.array(idChar, { minLength: 1, maxLength: max }).map((cs) => cs.join(""))

export const partner = fc.stringMatching(/^[0-9]{12}$/).map((s) => `2088${s}`)

export const charset = fc.constantFrom<Charset.Charset>(...Charset.values)

export const notifyUrl = fc
  .tuple(fc.constantFrom("http", "https"), fc.stringMatching(/^[a-z]{1,12}$/), id(40))
  .map(([scheme, host, path]) => `${scheme}://${host}.example/${path.replace(/~\*~/g, "")}`)

/** Inputs the request rules accept (with the default separator). */
export const validInput = fc
  .record({
    partner,
    outerTaskId: id(50),
    transfers: fc.uniqueArray(id(20), { minLength: 1, maxLength: 30 }),
    notifyUrl: fc.option(notifyUrl, { nil: undefined }),
    charset
  })
  .filter((r) =>
    r.transfers.every(
      (s) =>
        !s.includes("~*~") &&
        !s.startsWith("*~") &&
        !s.endsWith("~*") &&
        !s.startsWith("~") &&
        !s.endsWith("~")
    )
  )

/** Arbitrary parameter lists, names and values of any text. */
export const params = fc.array(
  fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 20 })),
  {
    maxLength: 12
  }
)
