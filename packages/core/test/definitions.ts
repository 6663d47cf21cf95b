// Plain definitions that the tests hold the fast, byte-level code equal to (shared by several test files).
import * as Charset from "../src/Charset.js"

/** The definition: every byte of the text in its charset, unreserved ones as they are, others `%XX`. */
export const percentDefinition = (text: string, charset: Charset.Charset) => {
  let out = ""
  for (const byte of Charset.encode(text, charset))
    out += /[A-Za-z0-9._~-]/.test(String.fromCharCode(byte))
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`
  return out
}
