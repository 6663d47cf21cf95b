// The transport reads a gateway URL by hand when the URL parser would keep it as written, and through the
// parser otherwise (src/internal/target.ts). The two must agree on every URL: what is sent, to which host, and
// what is refused (a URL the parser would alter is never sent).
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Target from "../src/internal/target.js"

const pieces = [
  "a",
  "Z",
  "0",
  "9",
  "-",
  ".",
  "_",
  "~",
  "!",
  "$",
  "&",
  "'",
  "(",
  ")",
  "*",
  "+",
  ",",
  ";",
  "=",
  ":",
  "@",
  "/",
  "?",
  "#",
  "%",
  "%2e",
  "%2E",
  "%41",
  "..",
  "./",
  "/.",
  "/..",
  "\\",
  " ",
  "\t",
  "\n",
  '"',
  "<",
  ">",
  "`",
  "{",
  "}",
  "^",
  "|",
  "[",
  "]",
  "é",
  "中",
  "\u0000",
  "\u007f",
  "gateway.do",
  "sign=MC0CFQ%2B%2F",
  "_input_charset=utf-8"
]
const text = fc.array(fc.constantFrom(...pieces), { maxLength: 12 }).map((p) => p.join(""))
const authority = fc.oneof(
  fc.constantFrom(
    "127.0.0.1:8080",
    "127.0.0.1",
    "localhost:3000",
    "gw.example",
    "GW.example",
    "gw.example:80",
    "gw.example:443",
    "127.1",
    "0x7f.0.0.1",
    "[::1]:8443",
    "u:p@gw.example",
    "gw.example:",
    "",
    "a..b",
    "xn--fsq.example",
    "999.1.1.1",
    "gw.example.",
    "gw_ex.example"
  ),
  text
)
const url = fc
  .tuple(
    fc.constantFrom("http://", "https://", "HTTP://", "ftp://", " http://", "http:/"),
    authority,
    text,
    text
  )
  .map(([scheme, host, path, query]) => `${scheme}${host}/${path}${query === "" ? "" : `?${query}`}`)

// Mostly characters the parser keeps, so that the hand-read path is taken often (and its edges: dot segments,
// `%` in a path, an empty query, hosts the parser rewrites).
const kept = fc
  .array(fc.constantFrom("a", "Z", "0", "-", ".", "_", "~", "=", "&", "/", "..", "%", "%2e", "?", "%2B"), {
    maxLength: 10
  })
  .map((p) => p.join(""))
const keptUrl = fc
  .tuple(
    fc.constantFrom("http://", "https://"),
    fc.constantFrom("127.0.0.1:8080", "gw.example", "gw.example:443", "127.1", "GW.example"),
    kept,
    kept
  )
  .map(([scheme, host, path, query]) => `${scheme}${host}/${path}${query === "" ? "" : `?${query}`}`)

describe("gateway URL", () => {
  it.prop(
    "read by hand exactly as the URL parser reads it",
    [fc.oneof(url, keptUrl, text)],
    ([u]) => {
      assert.deepStrictEqual(Target.parse(u), Target.parseSlow(u))
    },
    { fastCheck: { numRuns: 5000 } }
  )

  it("the usual gateway URL takes the hand-read path and keeps its bytes", () => {
    const u = "https://gw.example:8443/gateway.do?_input_charset=utf-8&sign=MC0CFQ%2B%2F&outer_task_id=t-1"
    const target = Target.parse(u)
    assert.deepStrictEqual(target, Target.parseSlow(u))
    assert.strictEqual(
      target?.pathAndQuery,
      "/gateway.do?_input_charset=utf-8&sign=MC0CFQ%2B%2F&outer_task_id=t-1"
    )
    assert.strictEqual(target?.path, "/gateway.do")
    assert.strictEqual(target?.port, 8443)
    assert.isTrue(target?.https)
  })

  it("refuses what the parser would alter", () => {
    for (const u of [
      "http://gw.example/a/../gateway.do?x=1",
      "http://gw.example/a/%2e%2e/gateway.do",
      "http://gw.example/gateway.do?",
      "http://gw.example/gate way.do",
      "http://gw.example/gateway.do?a='b'",
      "http://gw.example\\gateway.do"
    ])
      assert.isUndefined(Target.parse(u), u)
  })
})
