/**
 * HTML built as strings where escaping is the default: `html` escapes every interpolated value unless it is
 * already `Html` (made by `html` itself), so a value from a request (a parameter, a receiver's answer body, a
 * notification's body) can never become markup, in text or in a quoted attribute. The one template of both
 * consoles (the sandbox's in `@witkey/testkit`, the receiver's here).
 *
 * @since 0.1.0
 */

const HTML: unique symbol = Symbol.for("@witkey/console/Html")

export interface Html {
  readonly [HTML]: true
  readonly text: string
}

const trusted = (text: string): Html => ({ [HTML]: true, text })

export const isHtml = (value: unknown): value is Html =>
  typeof value === "object" && value !== null && HTML in value

/** Escapes `& < > " '`: safe in text and in double- or single-quoted attribute values. */
export const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"
  )

export type Value = Html | string | number | boolean | undefined | null | ReadonlyArray<Value>

const render = (value: Value): string =>
  value === undefined || value === null || value === false
    ? ""
    : isHtml(value)
      ? value.text
      : Array.isArray(value)
        ? value.map(render).join("")
        : escape(String(value))

/** A template whose interpolations are escaped (arrays are joined; `undefined`, `null`, `false` are nothing). */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Value>): Html => {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!
  return trusted(out)
}

/** A whole document: the doctype and the markup. */
export const document = (body: Html): string => `<!doctype html>\n${body.text}`
