import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, Schema } from "effect"
import * as Charset from "../src/Charset.js"
import * as ConfirmRequest from "../src/ConfirmRequest.js"
import * as GatewayResponse from "../src/GatewayResponse.js"
import * as Percent from "../src/internal/percent.js"
import * as Notification from "../src/Notification.js"
import * as SignedRequest from "../src/SignedRequest.js"
import * as SigningString from "../src/SigningString.js"
import * as arb from "./arbitraries.js"
import { percentDefinition } from "./definitions.js"
import { gatewayVerifier, partnerSigner, partnerVerifier } from "./fixtures.js"
import * as Verifier from "../src/Verifier.js"

const uniqueByName = (ps: ReadonlyArray<readonly [string, string]>) => {
  const seen = new Set<string>()
  return ps.filter(([n]) => (seen.has(n) ? false : (seen.add(n), true)))
}

/** Percent-decodes a query component to bytes, then the bytes in `charset`. */
const decodeComponent = (s: string, charset: Charset.Charset) => {
  const bytes: Array<number> = []
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "%") {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16))
      i += 2
    } else bytes.push(s.charCodeAt(i))
  }
  return Either.getOrThrow(Charset.decode(new Uint8Array(bytes), charset))
}

/**
 * Names for the ordering law: any code points (lone surrogates replaced: names are text), and strings built
 * from the code points where UTF-16 and UTF-8 order part ways (just below and above the surrogates, astral).
 */
const wellFormed = fc.oneof(
  fc
    .string({ unit: "binary", maxLength: 6 })
    .map((s) =>
      s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD")
    ),
  fc
    .array(
      fc.constantFrom(
        "a",
        "z",
        "\u00e9",
        "\u4e2d",
        "\uD7FF",
        "\uE000",
        "\uFFFD",
        "\uFFFF",
        "\u{10000}",
        "\u{1F600}",
        "\u{10FFFF}"
      ),
      {
        maxLength: 4
      }
    )
    .map((cs) => cs.join(""))
)

describe("canonical string laws", () => {
  it.prop(
    "does not depend on parameter order",
    [arb.params.map(uniqueByName), fc.integer()],
    ([ps, seed]) => {
      const shuffled = [...ps].sort(
        (a, b) => ((a[0].length * 31 + seed) % 7) - ((b[0].length * 31 + seed) % 7)
      )
      assert.strictEqual(SigningString.make(shuffled), SigningString.make(ps))
      assert.strictEqual(SigningString.make([...ps].reverse()), SigningString.make(ps))
    }
  )

  it.prop(
    "never contains sign, sign_type or empty values",
    [arb.params, fc.string(), fc.string()],
    ([ps, sign, signType]) => {
      const pairs = SigningString.signedPairs([...ps, ["sign", sign], ["sign_type", signType]])
      for (const [name, value] of pairs) {
        assert.notStrictEqual(name, "sign")
        assert.notStrictEqual(name, "sign_type")
        assert.notStrictEqual(value, "")
      }
      assert.strictEqual(
        pairs.length,
        ps.filter(([n, v]) => v !== "" && n !== "sign" && n !== "sign_type").length
      )
    }
  )

  it.prop(
    "compareNames orders any two names as their UTF-8 bytes do",
    [wellFormed, wellFormed, fc.constantFrom("", "a", "\uE000", "\u{1F600}", "\uFFFF")],
    ([a, b, prefix]) => {
      // A shared prefix makes the first difference land anywhere, including right after a surrogate pair.
      const [x, y] = [prefix + a, prefix + b]
      assert.strictEqual(
        Math.sign(SigningString.compareNames(x, y)),
        Math.sign(Buffer.compare(Buffer.from(x, "utf8"), Buffer.from(y, "utf8"))),
        JSON.stringify([x, y])
      )
    }
  )

  // Small inputs take an insertion sort, larger ones the built-in sort: both must give the built-in's order.
  it.prop(
    "signedPairs equals a stable sort by name, with repeated names, at any size",
    [
      fc.array(fc.tuple(fc.constantFrom("a", "b", "ab", "_x", "\u00e9", "\u{1F600}", "sign"), fc.string()), {
        maxLength: 70
      })
    ],
    ([ps]) => {
      const expected = ps
        .filter(([n, v]) => v !== "" && n !== "sign")
        .sort((a, b) => SigningString.compareNames(a[0], b[0]))
      assert.deepStrictEqual(SigningString.signedPairs(ps), expected)
    }
  )

  it.prop("is sorted by name in byte order", [arb.params], ([ps]) => {
    const names = SigningString.signedPairs(ps).map(([n]) => Buffer.from(n, "utf8"))
    for (let i = 1; i < names.length; i++) assert.isAtMost(Buffer.compare(names[i - 1]!, names[i]!), 0)
  })
})

describe("query encoding laws", () => {
  const text = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.string({
      unit: fc.constantFrom("a", "~", " ", "%", "&", "=", "+", "/", ":", "*", "!", "中", "\uD800")
    })
  )
  it.prop(
    "percentEncode equals the byte definition in every charset",
    [text, fc.constantFrom<Charset.Charset>("utf-8", "gbk", "gb2312")],
    ([t, charset]) => {
      assert.strictEqual(SignedRequest.percentEncode(t, charset), percentDefinition(t, charset))
    }
  )
  it.prop(
    "percentDecode gives back the charset bytes percentEncode encoded; a broken escape is refused",
    [text, fc.constantFrom<Charset.Charset>("utf-8", "gbk", "gb2312")],
    ([t, charset]) => {
      const decoded = SignedRequest.percentDecode(SignedRequest.percentEncode(t, charset))
      assert.deepStrictEqual(decoded, Either.right(Charset.encode(t, charset)))
      assert.isTrue(
        Either.isLeft(SignedRequest.percentDecode(`${SignedRequest.percentEncode(t, charset)}%4`))
      )
    }
  )
  it.prop(
    "a percent Writer that starts small and grows writes exactly the definition",
    [fc.array(text, { minLength: 1, maxLength: 6 }), fc.constantFrom<Charset.Charset>("utf-8", "gbk")],
    ([texts, charset]) => {
      // A fresh writer of 2 bytes: nearly every write grows it.
      const writer = new Percent.Writer(2)
      for (const t of texts) writer.encoded(t, charset).ascii("&")
      assert.strictEqual(writer.read(), texts.map((t) => `${percentDefinition(t, charset)}&`).join(""))
      assert.strictEqual(writer.reset().ascii("a").read(), "a")
    }
  )
  // Found in review: when the buffer grew during a call, percentEncode read the old one (stale bytes of an
  // earlier query, cut short). Each length here is beyond what the buffer can have grown to before it.
  it("percentEncode of ever longer texts, each right after a query, equals the byte definition", () => {
    for (const length of [400, 3000, 40_000, 160_000, 640_000])
      for (const charset of ["utf-8", "gbk"] as const) {
        SignedRequest.toQuery([["notify_url", `https://a.example/${"x".repeat(100)}`]], charset)
        const text = `${"%".repeat(length)}中`
        assert.strictEqual(SignedRequest.percentEncode(text, charset), percentDefinition(text, charset))
      }
  })

  it.prop(
    "toQuery is the encoded pairs joined with & (one buffer, reused, grows for long values)",
    [
      fc.array(fc.tuple(text, fc.oneof(text, fc.string({ minLength: 400, maxLength: 1200 }))), {
        maxLength: 8
      }),
      fc.constantFrom<Charset.Charset>("utf-8", "gbk")
    ],
    ([pairs, charset]) => {
      const expected = pairs
        .map(([n, v]) => `${percentDefinition(n, charset)}=${percentDefinition(v, charset)}`)
        .join("&")
      assert.strictEqual(SignedRequest.toQuery(pairs, charset), expected)
      // Twice: what the first call left in the buffer must not leak into the second.
      assert.strictEqual(SignedRequest.toQuery(pairs.slice(0, 1), charset), expected.split("&")[0] ?? "")
    }
  )
})

describe("request laws", () => {
  it.prop("every generated valid input is accepted", [arb.validInput], ([input]) => {
    const result = ConfirmRequest.validate(input)
    assert.isTrue(Either.isRight(result), Either.isLeft(result) ? result.left.message : "")
  })

  // validate checks the input's shape by hand first and asks InputSchema only to explain a failure: the two
  // must agree on every input, or a malformed one could slip past the Schema.
  it.prop(
    "the shape check accepts exactly what InputSchema accepts",
    [
      fc.oneof(
        fc.anything(),
        fc.record(
          {
            partner: fc.oneof(fc.string(), fc.anything()),
            outerTaskId: fc.oneof(fc.string(), fc.anything()),
            transfers: fc.oneof(
              fc.array(fc.string()),
              fc.sparseArray(fc.string(), { noTrailingHole: false }),
              fc.array(fc.anything()),
              fc.anything()
            ),
            notifyUrl: fc.oneof(fc.string(), fc.constant(undefined), fc.anything()),
            charset: fc.oneof(fc.constantFrom("utf-8", "gbk"), fc.constant(undefined), fc.anything())
          },
          { requiredKeys: [] }
        )
      )
    ],
    ([input]) => {
      const schemaAccepts = Either.isRight(Schema.decodeUnknownEither(ConfirmRequest.InputSchema)(input))
      const result = ConfirmRequest.validate(input)
      const typeIssue = Either.isLeft(result) && result.left.issues.some((i) => i.rule === "type")
      assert.strictEqual(typeIssue, !schemaAccepts)
    }
  )

  it.prop("encode/decode round-trips through the wire parameters", [arb.validInput], ([input]) => {
    const request = Either.getOrThrow(ConfirmRequest.validate(input))
    const params = ConfirmRequest.toParams(request)
    const back = Either.getOrThrow(ConfirmRequest.fromParams(new Map(params)))
    assert.deepStrictEqual(back, request)
    assert.deepStrictEqual(ConfirmRequest.toParams(back), params)
  })

  it.prop("the canonical string splits back into exactly its parameters", [arb.validInput], ([input]) => {
    const request = Either.getOrThrow(ConfirmRequest.validate(input))
    const params = ConfirmRequest.toParams(request)
    const split = SigningString.split(SigningString.make(params))
    assert.deepStrictEqual(new Map(split), new Map(params))
    assert.strictEqual(split.length, params.length)
  })

  it.effect.prop(
    "the URL query, decoded in its charset, gives back exactly the parameters, and the signature verifies",
    [arb.validInput],
    ([input]) =>
      Effect.gen(function* () {
        const request = Either.getOrThrow(ConfirmRequest.validate(input))
        const signed = yield* SignedRequest.make(request, { gateway: "https://gw.example/gateway.do" })
        const query = new URL(signed.url).search.slice(1)
        assert.match(query, /^[A-Za-z0-9\-_.~%=&]*$/)
        const decoded = query.split("&").map((kv) => {
          const [k, v] = kv.split("=") as [string, string]
          return [decodeComponent(k, request.charset), decodeComponent(v, request.charset)] as const
        })
        assert.deepStrictEqual(decoded, signed.params)
        const params = new Map(decoded)
        assert.strictEqual(params.get("sign_type"), "DSA")
        const verifier = yield* Verifier.Verifier
        const ok = yield* verifier.verify(SigningString.bytes(decoded, request.charset), params.get("sign")!)
        assert.isTrue(ok)
      }).pipe(Effect.provide(partnerSigner), Effect.provide(partnerVerifier)),
    { fastCheck: { numRuns: 40 } }
  )
})

describe("decoders never throw", () => {
  it.effect.prop(
    "GatewayResponse.decode on arbitrary bytes fails with a typed error",
    [fc.uint8Array({ maxLength: 300 }), arb.charset],
    ([bytes, charset]) =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(GatewayResponse.decode({ body: bytes }, charset))
        assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Fail")
      }).pipe(Effect.provide(gatewayVerifier))
  )

  it.effect.prop(
    "Notification.decode on arbitrary bytes and content types fails with a typed error",
    [fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 60 })],
    ([bytes, contentType]) =>
      Effect.gen(function* () {
        const exit = yield* Effect.exit(Notification.decode({ body: bytes, contentType }))
        assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Fail")
      }).pipe(Effect.provide(gatewayVerifier))
  )

  it.prop("ConfirmRequest.validate never throws, and names what it refuses", [fc.anything()], ([value]) => {
    const result = ConfirmRequest.validate(value)
    // Anything at all: a refusal that names at least one field and rule (random values are never valid).
    assert.isTrue(Either.isLeft(result))
    if (Either.isLeft(result)) {
      assert.isAbove(result.left.issues.length, 0)
      for (const i of result.left.issues) assert.isTrue(i.field !== "" && i.rule !== "" && i.message !== "")
    }
  })
})
