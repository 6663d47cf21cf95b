// The one HTML template of both consoles: escaping is safe for any text, and an interpolated value stays text.
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Html from "../src/Html.js"

const unescape = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) =>
    e === "amp" ? "&" : e === "lt" ? "<" : e === "gt" ? ">" : e === "quot" ? '"' : "'"
  )

const hostile = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.constantFrom(
    `<script>alert(1)</script>`,
    `"><img src=x onerror=alert(1)>`,
    `' onmouseover='x`,
    "&lt;b&gt;"
  )
)

describe("Html", () => {
  it.prop("escaped text has no markup character left and reads back as itself", [hostile], ([text]) => {
    const escaped = Html.escape(text)
    assert.notMatch(escaped, /[<>"']/)
    assert.match(escaped, /^([^&]|&(amp|lt|gt|quot|#39);)*$/)
    assert.strictEqual(unescape(escaped), text)
  })

  it.prop(
    "an interpolated value stays inside its element and its quoted attribute",
    [hostile, hostile],
    ([text, attribute]) => {
      const rendered =
        Html.html`<p title="${attribute}">${text}</p><i title='${attribute}'>${[text, text]}</i>`.text
      const markup = rendered.replace(/"[^"]*"|'[^']*'/g, "")
      assert.strictEqual(
        markup,
        "<p title=>" + Html.escape(text) + "</p><i title=>" + Html.escape(text).repeat(2) + "</i>"
      )
    }
  )

  it("only values made by html are trusted", () => {
    assert.strictEqual(
      Html.html`${Html.html`<b>x</b>`}${"<b>"}${undefined}${false}${0}`.text,
      "<b>x</b>&lt;b&gt;0"
    )
  })
})
