/**
 * Minimal PEM (RFC 7468) reading: the blocks of a text, each with its label, headers flag and Base64 body.
 * Keys are then decoded from the body as DER, so what is accepted does not depend on how lenient the crypto
 * provider's PEM reader is.
 */

export interface Block {
  readonly label: string
  /** RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED` (legacy encrypted keys) sit before the body. */
  readonly hasHeaders: boolean
  /** The Base64 body with whitespace still in it. */
  readonly body: string
}

export type Parsed =
  | { readonly _tag: "Blocks"; readonly blocks: ReadonlyArray<Block> }
  /** A BEGIN line without its END line (a truncated paste), or text between that is not a PEM block. */
  | { readonly _tag: "Broken"; readonly label: string }

const BEGIN = /-----BEGIN ([A-Z0-9 ]{1,40})-----/g
const BLOCK = /-----BEGIN ([A-Z0-9 ]{1,40})-----([\s\S]*?)-----END ([A-Z0-9 ]{1,40})-----/g

export const looksLikePem = (text: string): boolean => text.includes("-----BEGIN ")

/**
 * Environment variables and `.env` files often carry a PEM on one line with literal `\n` escapes; read them
 * as the line breaks they stand for.
 */
export const unescapeNewlines = (text: string): string => text.replace(/\\r\\n|\\n|\\r/g, "\n")

export const parse = (text: string): Parsed => {
  const blocks: Array<Block> = []
  for (const match of text.matchAll(BLOCK)) {
    const [, label, inner, endLabel] = match
    // A BEGIN of one kind closed by the END of another means two pastes ran together.
    if (label !== endLabel) return { _tag: "Broken", label: label! }
    const hasHeaders = /^[ \t]*[A-Za-z-]+:/m.test(inner!)
    blocks.push({ label: label!, hasHeaders, body: inner! })
  }
  const begins = Array.from(text.matchAll(BEGIN), (m) => m[1]!)
  if (begins.length !== blocks.length) {
    const unmatched = begins.find((label, i) => blocks[i]?.label !== label) ?? begins[begins.length - 1]!
    return { _tag: "Broken", label: unmatched }
  }
  return { _tag: "Blocks", blocks }
}
