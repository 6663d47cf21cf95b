// The request path's hot routines (internal/percent.ts `Writer.asciiPairs`, internal/signing.ts, the synchronous
// Signer of `Signer.makeSync`) held equal to the plain definitions they replace: the canonical pairs are
// `signedPairs(toParams(request))`, the bytes `SigningString.encode` of them, the URL `toUrl(gateway,
// toQuery(params))` of every parameter with `sign` and `sign_type` last.
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc, Tracer } from "effect"
import { createHash } from "node:crypto"
import * as Charset from "../src/Charset.js"
import * as Client from "../src/Client.js"
import * as ConfirmRequest from "../src/ConfirmRequest.js"
import * as Percent from "../src/internal/percent.js"
import * as Signing from "../src/internal/signing.js"
import * as SignedRequest from "../src/SignedRequest.js"
import * as Signer from "../src/Signer.js"
import * as SigningString from "../src/SigningString.js"
import * as Transport from "../src/Transport.js"
import * as Verifier from "../src/Verifier.js"
import * as arb from "./arbitraries.js"
import { percentDefinition } from "./definitions.js"

const queryDefinition = (pairs: ReadonlyArray<readonly [string, string]>, charset: Charset.Charset) =>
  pairs.map(([n, v]) => `${percentDefinition(n, charset)}=${percentDefinition(v, charset)}`).join("&")

/** Text mostly ASCII (controls, DEL and reserved characters too), now and then a character beyond it. */
const text = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) })
  },
  {
    weight: 1,
    arbitrary: fc.string({
      unit: fc.constantFrom(
        "a",
        "~",
        "*",
        " ",
        "%",
        "&",
        "=",
        "+",
        "/",
        ":",
        "\u007f",
        "\u0080",
        "é",
        "中",
        "\uD800"
      )
    })
  }
)
const isAscii = (s: string) => [...s].every((c) => c.charCodeAt(0) < 0x80)
const gateway = fc.constantFrom(
  "https://gw.example/gateway.do",
  "https://gw.example/gateway.do?",
  "https://gw.example/gateway.do?x=1",
  "https://gw.example/gateway.do?x=1&"
)

/** A request as a caller could build one past `validate`: any text, empty values included. */
const anyRequest = fc
  .record({
    partner: text,
    outerTaskId: text,
    transfers: fc.array(text, { minLength: 1, maxLength: 4 }),
    notifyUrl: fc.option(text, { nil: undefined }),
    charset: arb.charset
  })
  .map(
    ({ notifyUrl, ...rest }) =>
      (notifyUrl === undefined ? rest : { ...rest, notifyUrl }) as unknown as ConfirmRequest.ConfirmRequest
  )

const separator = fc.constantFrom(undefined, "~*~", ",", "|", "")

describe("Writer.asciiPairs", () => {
  it.prop(
    "ASCII pairs: the canonical bytes in every charset, and their query appended; otherwise nothing written",
    [fc.array(fc.tuple(text, text), { maxLength: 8 })],
    ([pairs]) => {
      const writer = new Percent.Writer(4)
      writer.reset().ascii("x&")
      const bytes = writer.asciiPairs(pairs)
      if (pairs.every(([n, v]) => isAscii(n) && isAscii(v))) {
        assert.isDefined(bytes)
        for (const charset of Charset.values)
          assert.deepStrictEqual([...bytes!], [...Charset.encode(SigningString.join(pairs), charset)])
        assert.strictEqual(bytes!.toString("latin1"), SigningString.join(pairs))
        assert.strictEqual(writer.read(), `x&${queryDefinition(pairs, "utf-8")}`)
      } else {
        assert.isUndefined(bytes)
        assert.strictEqual(writer.read(), "x&")
      }
    }
  )

  it("a name or value that is not a string is left to the definition", () => {
    const writer = new Percent.Writer()
    assert.isUndefined(writer.reset().asciiPairs([["a", 1 as unknown as string]]))
    assert.strictEqual(writer.read(), "")
  })
})

describe("internal/signing", () => {
  it.prop(
    "canonicalPairs is signedPairs(toParams(request))",
    [
      fc.oneof(
        anyRequest,
        arb.validInput.map((i) => Either.getOrThrow(ConfirmRequest.validate(i)))
      ),
      separator
    ],
    ([request, separator]) => {
      assert.deepStrictEqual(
        Signing.canonicalPairs(request, separator),
        SigningString.signedPairs(ConfirmRequest.toParams(request, separator))
      )
    }
  )

  it.prop(
    "unsigned then signed equal the definition: canonical string, bytes, params and URL",
    [anyRequest, separator, fc.oneof(fc.base64String({ minLength: 4 }), text), gateway, fc.boolean()],
    ([request, separator, sign, gateway, leaveQuery]) => {
      const pairs = SigningString.signedPairs(ConfirmRequest.toParams(request, separator))
      const expected = SigningString.encode(pairs, request.charset)
      const unsigned = Signing.unsigned(request, separator, leaveQuery)
      if (Either.isLeft(expected)) {
        assert.deepStrictEqual(unsigned, expected.left)
        return
      }
      assert.notInstanceOf(unsigned, Charset.EncodeError)
      const u = unsigned as Signing.Unsigned
      assert.strictEqual(u.canonical, SigningString.join(pairs))
      assert.deepStrictEqual(u.bytes, expected.right)
      assert.strictEqual(Object.getPrototypeOf(u.bytes), Uint8Array.prototype)
      const signed = Signing.signed(request, u, sign, "DSA", gateway)
      const params = [...pairs, ["sign", sign] as const, ["sign_type", "DSA"] as const]
      assert.deepStrictEqual(signed, {
        request,
        params,
        canonical: SigningString.join(pairs),
        sign,
        url: SignedRequest.toUrl(gateway, queryDefinition(params, request.charset))
      })
    }
  )

  it.prop(
    "a query left in the writer and overwritten before signed (a signer that encodes) is written again",
    [anyRequest, gateway],
    ([request, gateway]) => {
      const unsigned = Signing.unsigned(request, undefined, true)
      if (unsigned instanceof Charset.EncodeError) return
      SignedRequest.percentEncode("some other text", "utf-8")
      const signed = Signing.signed(request, unsigned, "c2lnbg==", "DSA", gateway)
      assert.strictEqual(
        signed.url,
        SignedRequest.toUrl(gateway, queryDefinition(signed.params, request.charset))
      )
    }
  )
})

describe("Signer.makeSync", () => {
  const failure = new Signer.SignError({ message: "refused" })

  it.effect("its sign is the Effect of the function: the signature, or the SignError", () =>
    Effect.gen(function* () {
      const ok = Signer.makeSync(() => "c2lnbg==")
      assert.strictEqual(yield* ok.sign(new Uint8Array(1)), "c2lnbg==")
      assert.strictEqual(Signer.syncOf(ok)?.(new Uint8Array(1)), "c2lnbg==")
      const refused = Signer.makeSync(() => failure)
      assert.deepStrictEqual(yield* Effect.flip(refused.sign(new Uint8Array(1))), failure)
      // A replaced or wrapped sign has no synchronous function: it is always called through itself.
      assert.isUndefined(Signer.syncOf({ ...ok, sign: () => Effect.succeed("b3RoZXI=") }))
      assert.isUndefined(Signer.syncOf(Signer.make((m) => ok.sign(m))))
      // Nor does a wrapper that copies the original's properties, or a Proxy around it: only the exact function.
      const calls: Array<string> = []
      const logged = Object.assign((m: Uint8Array) => {
        calls.push("logged")
        return ok.sign(m)
      }, ok.sign)
      assert.isUndefined(Signer.syncOf({ ...ok, sign: logged }))
      const proxied = new Proxy(ok.sign, {
        apply: (target, self, args: [Uint8Array]) => {
          calls.push("proxied")
          return Reflect.apply(target, self, args)
        }
      })
      assert.isUndefined(Signer.syncOf({ ...ok, sign: proxied }))
      // And such a wrapper is called by prepare, not bypassed.
      for (const sign of [logged, proxied])
        yield* Client.fromServices(
          { partner: "2088101012352995", gateway: "https://gw.example/gateway.do" },
          {
            signer: { ...ok, sign },
            verifier: Verifier.make(() => Effect.succeed(true)),
            transport: Transport.make(() => Effect.dieMessage("nothing is sent"))
          }
        ).prepare({ outerTaskId: "wf301111010000977", transfers: ["89944ID1"] })
      assert.deepStrictEqual(calls, ["logged", "proxied"])
    })
  )

  const unused = Transport.make(() => Effect.dieMessage("nothing is sent"))
  const verifier = Verifier.make(() => Effect.succeed(true))
  const clientWith = (signer: Signer.Signer) =>
    Client.fromServices(
      { partner: "2088101012352995", gateway: "https://gw.example/gateway.do" },
      { signer, verifier, transport: unused }
    )
  const native = Effect.runSync(Effect.tracer)
  const installed = Tracer.make({ span: (...args) => native.span(...args), context: native.context })

  it.effect.prop(
    "Client.prepare signs the same bytes and builds the same request through makeSync as through make",
    [arb.validInput, fc.boolean()],
    ([input, traced]) =>
      Effect.gen(function* () {
        const seen: Array<Uint8Array> = []
        const signature = (message: Uint8Array) => {
          seen.push(message)
          return Buffer.from(message.subarray(0, 12)).toString("base64")
        }
        const viaSync = clientWith(Signer.makeSync(signature)).prepare(input)
        const viaEffect = clientWith(Signer.make((m) => Effect.sync(() => signature(m)))).prepare(input)
        const run = <A, E>(e: Effect.Effect<A, E>) => (traced ? Effect.withTracer(e, installed) : e)
        const a = yield* run(viaSync)
        const b = yield* run(viaEffect)
        assert.deepStrictEqual(a, b)
        assert.deepStrictEqual(seen[0], seen[1])
        const request = Either.getOrThrow(ConfirmRequest.validate(input))
        assert.deepStrictEqual(
          a,
          yield* SignedRequest.makeWith(Signer.makeSync(signature), request, {
            gateway: "https://gw.example/gateway.do"
          })
        )
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect("a SignError of a synchronous signer fails prepare with it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        clientWith(Signer.makeSync(() => failure)).prepare({
          outerTaskId: "wf301111010000977",
          transfers: ["89944ID1"]
        })
      )
      assert.deepStrictEqual(error, failure)
    })
  )

  it.effect.prop(
    "SignedRequest.make signs the same bytes and builds the same request through makeSync as through make",
    [arb.validInput],
    ([input]) =>
      Effect.gen(function* () {
        const request = Either.getOrThrow(ConfirmRequest.validate(input))
        const seen: Array<Uint8Array> = []
        // A signature of the whole message, so that equal requests mean equal signed bytes.
        const signature = (message: Uint8Array) => {
          seen.push(message)
          return createHash("sha1").update(message).digest("base64")
        }
        const options = { gateway: "https://gw.example/gateway.do?x=1" }
        const made = SignedRequest.make(request, options)
        // Nothing is signed until the effect runs, and it signs each time it runs.
        assert.strictEqual(seen.length, 0)
        const viaSync = yield* Effect.provideService(made, Signer.Signer, Signer.makeSync(signature))
        const viaEffect = yield* Effect.provideService(
          made,
          Signer.Signer,
          Signer.make((m) => Effect.sync(() => signature(m)))
        )
        assert.strictEqual(seen.length, 2)
        assert.deepStrictEqual(viaSync, viaEffect)
        assert.deepStrictEqual(seen[0], seen[1])
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect(
    "SignedRequest.make fails with a synchronous signer's SignError, and signs nothing unencodable",
    () =>
      Effect.gen(function* () {
        const request = Either.getOrThrow(
          ConfirmRequest.validate({
            partner: "2088101012352995",
            outerTaskId: "wf301111010000977",
            transfers: ["s1"]
          })
        )
        const refused = yield* Effect.flip(
          Effect.provideService(
            SignedRequest.make(request, { gateway: "https://gw.example/" }),
            Signer.Signer,
            Signer.makeSync(() => failure)
          )
        )
        assert.deepStrictEqual(refused, failure)
        // An untyped signer that answers bytes instead of Base64 text fails the request: nothing to send.
        const bytes = Buffer.from("c2lnbg==")
        const malformed = yield* Effect.either(
          Effect.provideService(
            SignedRequest.make(request, { gateway: "https://gw.example/" }),
            Signer.Signer,
            Signer.makeSync(() => bytes as unknown as string)
          )
        )
        assert.isTrue(Either.isLeft(malformed))
        // Built past validate: GBK cannot represent the emoji; the signer is never called.
        let calls = 0
        const unencodable = {
          ...request,
          outerTaskId: "任务😀",
          charset: "gbk"
        } as ConfirmRequest.ConfirmRequest
        const error = yield* Effect.flip(
          Effect.provideService(
            SignedRequest.make(unencodable, { gateway: "https://gw.example/" }),
            Signer.Signer,
            Signer.makeSync(() => {
              calls++
              return "c2lnbg=="
            })
          )
        )
        assert.strictEqual(error._tag, "EncodeError")
        assert.strictEqual((error as Charset.EncodeError).field, "outer_task_id")
        assert.strictEqual(calls, 0)
      })
  )
})

describe("ConfirmRequest.quick", () => {
  const allPass = (rows: ReadonlyArray<ConfirmRequest.Rule>, value: string, separator: string) =>
    rows.every((row) => row.test(value, separator))
  const value = fc.oneof(
    text,
    arb.partner,
    arb.id(60),
    arb.notifyUrl,
    fc.string({ unit: fc.constantFrom("2", "0", "8", "1", "9") }),
    fc.string({ minLength: 180, maxLength: 1100, unit: fc.constantFrom("a", "/", ":", "h") })
  )
  it.prop(
    "each field's fast check is exactly its rows",
    [value, fc.constantFrom("~*~", ",", "|", "ab")],
    ([v, separator]) => {
      assert.strictEqual(ConfirmRequest.quick.partner(v), allPass(ConfirmRequest.rules.partner, v, separator))
      assert.strictEqual(
        ConfirmRequest.quick.outerTaskId(v),
        allPass(ConfirmRequest.rules.outerTaskId, v, separator)
      )
      assert.strictEqual(
        ConfirmRequest.quick.transferSerial(v, separator),
        allPass(ConfirmRequest.rules.transferSerial, v, separator)
      )
      assert.strictEqual(
        ConfirmRequest.quick.notifyUrl(v),
        allPass(ConfirmRequest.rules.notifyUrl, v, separator)
      )
      for (const url of [`http://${v}`, `https://a.example/${v}`])
        assert.strictEqual(
          ConfirmRequest.quick.notifyUrl(url),
          allPass(ConfirmRequest.rules.notifyUrl, url, separator)
        )
    },
    { fastCheck: { numRuns: 300 } }
  )
})
