/**
 * The byte bookkeeping every body reader in node-http shares (the notification endpoint's two readers and the
 * transport's two): the declared Content-Length, and the chunks joined into one array.
 *
 * @internal
 */

/** A Content-Length header's value, or `undefined` when absent or not a plain decimal number. */
export const declaredLength = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  return /^\d{1,15}$/.test(trimmed) ? Number(trimmed) : undefined
}

/**
 * The chunks (`size` bytes in all) in one new array the caller owns: a Node chunk may be a view of a larger
 * socket buffer.
 */
export const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.length
  }
  return bytes
}
