// Byte arrays for the hot paths, which allocate one per message: how they are allocated is half their cost.

/**
 * A Uint8Array of `length` bytes, not zero-filled. Over 64 bytes it comes from `Buffer.allocUnsafe`: below 4 KiB
 * (`Buffer.poolSize >>> 1`) a view of a slice of Node's buffer pool (a typed array of its own that size costs a
 * fresh backing store, three times the view); from 4 KiB on, a backing store of its own, not zero-filled.
 */
export const allocate = (length: number): Uint8Array => {
  if (length <= 64) return new Uint8Array(length)
  const slice = Buffer.allocUnsafe(length)
  return new Uint8Array(slice.buffer, slice.byteOffset, length)
}
