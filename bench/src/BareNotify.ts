/**
 * The bare baseline's work on one notification body (rows 7 and 7b, and the endpoint tools): split the form,
 * build the canonical string (sorted, `sign`/`sign_type` and empty values left out) and `crypto.verify` it.
 * Plain code, as an application without the SDK would write it.
 */
import * as crypto from "node:crypto"

const value = (s: string) => decodeURIComponent(s.replace(/\+/g, " "))

export const verifyBody = (
  key: crypto.KeyObject,
  body: Buffer
): { readonly ok: boolean; readonly fields: Map<string, string> } => {
  const fields = new Map<string, string>()
  for (const part of body.toString("latin1").split("&")) {
    const eq = part.indexOf("=")
    fields.set(value(part.slice(0, eq)), value(part.slice(eq + 1)))
  }
  const canonical = [...fields]
    .filter(([name, v]) => name !== "sign" && name !== "sign_type" && v !== "")
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, v]) => `${name}=${v}`)
    .join("&")
  const ok = crypto.verify(
    "sha1",
    Buffer.from(canonical, "utf8"),
    { key, dsaEncoding: "der" },
    Buffer.from(fields.get("sign") ?? "", "base64")
  )
  return { ok, fields }
}
