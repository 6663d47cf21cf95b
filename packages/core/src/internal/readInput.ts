// Reading a caller's `ConfirmRequest.Input` once, fast, into a fresh object; the Schema only to explain input
// that is not of that shape.
import { Either, ParseResult, Schema } from "effect"
import * as Protocol from "../Protocol.js"

/** The shape `ConfirmRequest.InputSchema` describes. */
export interface Shape {
  readonly partner: string
  readonly outerTaskId: string
  readonly transfers: ReadonlyArray<string>
  readonly notifyUrl?: string | undefined
  readonly charset?: string | undefined
}

const isOptionalString = (value: unknown): value is string | undefined =>
  value === undefined || typeof value === "string"

/**
 * The input read once into a fresh object, when it has the shape InputSchema accepts; `undefined` otherwise.
 * Reading once and copying means that what was checked is what is signed: no getter answers twice, and the
 * caller's array can change afterwards without changing the request. Every index is checked (`every` would
 * skip the holes of a sparse array).
 */
export const readInput = (input: unknown): Shape | undefined => {
  if (typeof input !== "object" || input === null) return undefined
  const i = input as Record<string, unknown>
  const partner = i["partner"]
  const outerTaskId = i["outerTaskId"]
  const transfers = i["transfers"]
  // Optional keys count only as the object's own, as InputSchema reads them (nothing from a prototype).
  const notifyUrl = Object.hasOwn(i, "notifyUrl") ? i["notifyUrl"] : undefined
  const charset = Object.hasOwn(i, "charset") ? i["charset"] : undefined
  if (typeof partner !== "string" || typeof outerTaskId !== "string" || !Array.isArray(transfers))
    return undefined
  if (!isOptionalString(notifyUrl) || !isOptionalString(charset)) return undefined
  const copy: Array<string> = []
  for (let k = 0; k < transfers.length; k++) {
    const serial: unknown = transfers[k]
    if (typeof serial !== "string") return undefined
    copy.push(serial)
  }
  // Each object literal in its final shape: adding properties afterwards, or spreading, costs more.
  if (notifyUrl === undefined)
    return charset === undefined
      ? { partner, outerTaskId, transfers: copy }
      : { partner, outerTaskId, transfers: copy, charset }
  return charset === undefined
    ? { partner, outerTaskId, transfers: copy, notifyUrl }
    : { partner, outerTaskId, transfers: copy, notifyUrl, charset }
}

/**
 * The input's shape: the plain read first, and `schema` (InputSchema, which explains what is wrong) only for
 * input that fails it. A number for an array of transfers too long to be worth explaining element by element
 * (its length). Input whose reading throws (a getter, a Proxy) is refused like any other malformed input.
 */
export const readShape = <S extends Shape>(
  input: unknown,
  schema: Schema.Schema<S>
): Either.Either<Shape, ParseResult.ParseError> | number => {
  try {
    const plain = readInput(input)
    if (plain !== undefined) return Either.right(plain)
    const transfers =
      typeof input === "object" && input !== null ? (input as { transfers?: unknown }).transfers : undefined
    if (Array.isArray(transfers) && transfers.length > Protocol.MAX_TRANSFERS) return transfers.length
    return Schema.decodeUnknownEither(schema)(input, { errors: "all" })
  } catch (error) {
    return Either.left(
      new ParseResult.ParseError({
        issue: new ParseResult.Type(
          schema.ast,
          input,
          `reading the input threw: ${error instanceof Error ? error.message : String(error)}`
        )
      })
    )
  }
}
