import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as crypto from "node:crypto"
import * as Charset from "../src/Charset.js"
import * as GatewayResponse from "../src/GatewayResponse.js"
import * as SigningString from "../src/SigningString.js"
import * as Verifier from "../src/Verifier.js"
import { gatewayVerifier, keyPem } from "./fixtures.js"

const key = crypto.createPrivateKey(keyPem("gateway_private"))
const sign = (pairs: Array<[string, string]>, charset: Charset.Charset = "utf-8") =>
  crypto.sign("sha1", SigningString.bytes(pairs, charset), { key, dsaEncoding: "der" }).toString("base64")

const decode = (xml: string | Uint8Array, charset: Charset.Charset = "utf-8", contentType?: string) =>
  Effect.either(
    GatewayResponse.decode(
      { body: typeof xml === "string" ? new TextEncoder().encode(xml) : xml, contentType },
      charset
    )
  ).pipe(Effect.provide(gatewayVerifier))

describe("GatewayResponse.decode", () => {
  it.effect("decodes entities and CDATA in signed leaves, and signs their decoded text", () =>
    Effect.gen(function* () {
      const s = sign([["outer_task_id", "a&b<c"]])
      const entity = yield* decode(
        `<alipay><is_success>T</is_success><response><task_info><outer_task_id>a&amp;b&#60;c</outer_task_id></task_info></response><sign>${s}</sign><sign_type>DSA</sign_type></alipay>`
      )
      assert.isTrue(entity._tag === "Right" && entity.right.outerTaskId === "a&b<c", JSON.stringify(entity))
      const cdata = yield* decode(
        `<alipay><is_success>T</is_success><response><task_info><outer_task_id><![CDATA[a&b<c]]></outer_task_id></task_info></response><sign>${s}</sign><sign_type>DSA</sign_type></alipay>`
      )
      assert.isTrue(cdata._tag === "Right" && cdata.right.outerTaskId === "a&b<c", JSON.stringify(cdata))
    })
  )

  it.effect("nested elements and the request echo are not signed and not returned", () =>
    Effect.gen(function* () {
      const s = sign([["outer_task_id", "t1"]])
      const result = yield* decode(
        `<alipay><is_success>T</is_success><request><param name="outer_task_id">evil</param></request><response><task_info><outer_task_id>t1</outer_task_id><nested><x>1</x></nested></task_info></response><sign>${s}</sign><sign_type>DSA</sign_type></alipay>`
      )
      assert.isTrue(result._tag === "Right")
      if (result._tag === "Right") assert.deepStrictEqual(result.right.signed, { outer_task_id: "t1" })
    })
  )

  it.effect("an extra unsigned leaf breaks the signature (every leaf is signed)", () =>
    Effect.gen(function* () {
      const s = sign([["outer_task_id", "t1"]])
      const result = yield* decode(
        `<alipay><is_success>T</is_success><response><task_info><outer_task_id>t1</outer_task_id><amount>999</amount></task_info></response><sign>${s}</sign><sign_type>DSA</sign_type></alipay>`
      )
      assert.isTrue(
        result._tag === "Left" && result.left._tag === "SignatureError" && result.left.reason === "mismatch"
      )
      if (result._tag === "Left" && result.left._tag === "SignatureError") {
        assert.strictEqual(result.left.checked?.charset, "utf-8")
        assert.strictEqual(result.left.checked?.canonicalBytes, "amount=999&outer_task_id=t1".length)
        assert.strictEqual(
          result.left.checked?.canonicalSha256Prefix,
          crypto.createHash("sha256").update("amount=999&outer_task_id=t1").digest("hex").slice(0, 16)
        )
      }
    })
  )

  const malformedCases: Array<[string, string, string]> = [
    [
      "duplicate leaves",
      `<alipay><is_success>T</is_success><response><task_info><a>1</a><a>2</a></task_info></response><sign>x</sign><sign_type>DSA</sign_type></alipay>`,
      "structure"
    ],
    [
      "two is_success",
      `<alipay><is_success>F</is_success><is_success>T</is_success><error>X</error></alipay>`,
      "structure"
    ],
    ["wrong root", `<html><is_success>T</is_success></html>`, "structure"],
    ["F without a code", `<alipay><is_success>F</is_success></alipay>`, "structure"],
    ["no is_success", `<alipay><error>X</error></alipay>`, "structure"],
    [
      "external entity",
      `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><alipay><error>&x;</error></alipay>`,
      "forbidden_markup"
    ],
    ["undefined entity", `<alipay><is_success>F</is_success><error>&x;</error></alipay>`, "not_xml"],
    ["deep nesting", `<alipay>${"<a>".repeat(40)}${"</a>".repeat(40)}</alipay>`, "too_deep"],
    ["unsupported declared encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><alipay/>`, "charset"],
    ["truncated", `<alipay><is_success>T</is_success><response><task_`, "not_xml"]
  ]
  for (const [name, xml, reason] of malformedCases) {
    it.effect(`${name} is MalformedResponse/${reason}`, () =>
      Effect.gen(function* () {
        const result = yield* decode(xml)
        assert.isTrue(
          result._tag === "Left" && result.left._tag === "MalformedResponse",
          JSON.stringify(result)
        )
        if (result._tag === "Left" && result.left._tag === "MalformedResponse")
          assert.strictEqual(result.left.reason, reason)
      })
    )
  }

  it.effect("bounds the body size", () =>
    Effect.gen(function* () {
      const result = yield* decode(`<alipay>${" ".repeat(70_000)}</alipay>`)
      assert.isTrue(
        result._tag === "Left" &&
          result.left._tag === "MalformedResponse" &&
          result.left.reason === "too_large"
      )
    })
  )

  it.effect("reads the charset from the Content-Type when the XML declares none", () =>
    Effect.gen(function* () {
      const s = sign([["outer_task_id", "任务"]], "gbk")
      const xml = `<alipay><is_success>T</is_success><response><task_info><outer_task_id>任务</outer_task_id></task_info></response><sign>${s}</sign><sign_type>DSA</sign_type></alipay>`
      const result = yield* decode(Charset.encode(xml, "gbk"), "gbk", "text/xml; charset=GBK")
      assert.isTrue(result._tag === "Right" && result.right.outerTaskId === "任务", JSON.stringify(result))
      const misread = yield* decode(Charset.encode(xml, "gbk"), "gbk", "text/xml; charset=utf-8")
      assert.isTrue(
        misread._tag === "Left" &&
          misread.left._tag === "MalformedResponse" &&
          misread.left.reason === "charset"
      )
    })
  )
})

describe("GatewayResponse.decodeWith", () => {
  it.effect("answers what decode answers with the same Verifier in context", () =>
    Effect.gen(function* () {
      const verifier = yield* Effect.provide(Verifier.Verifier, gatewayVerifier)
      const s = sign([["outer_task_id", "t1"]])
      for (const xml of [
        `<alipay><is_success>T</is_success><response><task_info><outer_task_id>t1</outer_task_id></task_info></response><sign>${s}</sign><sign_type>DSA</sign_type></alipay>`,
        `<alipay><is_success>T</is_success><response><task_info><outer_task_id>t2</outer_task_id></task_info></response><sign>${s}</sign><sign_type>DSA</sign_type></alipay>`,
        `<alipay><is_success>F</is_success><error>ILLEGAL_SIGN</error></alipay>`,
        `<alipay><is_success>T</is_success></alipay>`,
        `not xml`
      ]) {
        const answer = { body: new TextEncoder().encode(xml), contentType: "text/xml" }
        const given = yield* Effect.either(GatewayResponse.decodeWith(verifier, answer, "utf-8"))
        assert.deepStrictEqual(given, yield* decode(xml, "utf-8", "text/xml"), xml)
      }
    })
  )
})
