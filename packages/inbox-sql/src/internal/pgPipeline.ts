/**
 * Several statements in one round trip of PostgreSQL's extended protocol, their values bound as parameters:
 * `Parse` (once per connection for a named statement), `Bind`, `Describe`, `Execute` for each, then a single
 * `Sync`. It is a `pg` "submittable" (the interface `pg-cursor` uses): `pg`'s client queues it like a query and
 * routes the backend's messages for it here.
 *
 * Why: `pg` sends one statement per round trip (a `Sync` after each), so `BEGIN` + statement and statement +
 * `COMMIT` cost two round trips each, and each runs `pg`'s whole per-query path. Here the pair goes out in
 * one write and comes back in one read. Semantics are the protocol's: the statements run in order; the first
 * that fails makes the backend skip everything up to the `Sync` (a `COMMIT` behind a failed statement never
 * runs), and the callback gets that error.
 *
 * Rows come back as the text PostgreSQL sends (no type parsing): the inbox's runner reads only text columns
 * and NULL-ness from them.
 *
 * @internal
 */

/** One statement; `name`: prepared once per connection under that name, or parsed each time when absent. */
export interface Statement {
  readonly text: string
  readonly values: ReadonlyArray<unknown>
  readonly name: string | undefined
}

export interface Result {
  readonly rows: ReadonlyArray<Record<string, string | null>>
  /** The command tag's first word (`INSERT`, `COMMIT`, …), as `pg` reports it. */
  readonly command: string | undefined
}

/** The part of `pg`'s `Connection` a submittable writes to (the messages of the extended protocol). */
interface PgConnection {
  readonly stream: { readonly cork?: () => void; readonly uncork?: () => void }
  readonly parsedStatements: Record<string, string | undefined>
  readonly parse: (message: { text: string; name: string; types: Array<number> }) => void
  readonly bind: (message: {
    portal: string
    statement: string
    values: Array<string | Buffer | null>
  }) => void
  readonly describe: (message: { type: "P"; name: string }) => void
  readonly execute: (message: { portal: string; rows: number }) => void
  readonly close: (message: { type: "S"; name: string }) => void
  readonly sync: () => void
  readonly sendCopyFail: (message: string) => void
}

/** A parameter as `pg` sends it (text, or bytes in binary format), or undefined for a kind never bound here. */
const wire = (value: unknown): string | Buffer | null | undefined => {
  if (value === null || value === undefined) return null
  switch (typeof value) {
    case "string":
      return value
    case "number":
    case "bigint":
      return String(value)
    case "boolean":
      return value ? "true" : "false"
  }
  if (Buffer.isBuffer(value)) return value
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  return Array.isArray(value) ? arrayLiteral(value) : undefined
}

/**
 * A one-dimensional array as PostgreSQL's text form of an array (`{"a",NULL,"\\x00"}`), for the batch's
 * `unnest($1::text[], …)` statements: every element quoted, `"` and `\` escaped, bytes as bytea's hex form.
 * Undefined for an element of another kind.
 */
const arrayLiteral = (values: ReadonlyArray<unknown>): string | undefined => {
  let out = "{"
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ","
    const value = values[i]
    if (value === null || value === undefined) out += "NULL"
    else if (typeof value === "string") out += `"${value.replace(/["\\]/g, "\\$&")}"`
    else if (typeof value === "number" || typeof value === "bigint") out += String(value)
    else if (typeof value === "boolean") out += value ? "t" : "f"
    else if (value instanceof Uint8Array)
      out += `"\\\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}"`
    else return undefined
  }
  return `${out}}`
}

/** The statements' values as `pg` would send them, or undefined if one is of a kind this path does not map. */
export const wireValues = (
  statements: ReadonlyArray<Statement>
): ReadonlyArray<Array<string | Buffer | null>> | undefined => {
  const out: Array<Array<string | Buffer | null>> = []
  for (const statement of statements) {
    const values: Array<string | Buffer | null> = []
    for (const value of statement.values) {
      const mapped = wire(value)
      if (mapped === undefined) return undefined
      values.push(mapped)
    }
    out.push(values)
  }
  return out
}

const NO_TYPES: Array<number> = []
const NO_ROWS: ReadonlyArray<Record<string, string | null>> = []

interface Field {
  readonly name: string
}

/** The pipeline as a `pg` submittable; `callback` is called once, with the first error or every result. */
export class Pipeline {
  private readonly results: Array<Result> = []
  private fields: ReadonlyArray<Field> | undefined = undefined
  private rows: Array<Record<string, string | null>> | undefined = undefined
  /** Names this pipeline parses: forgotten again if it fails (whether their `Parse` ran is unknown). */
  private parsed: Array<string> = []
  private connection: PgConnection | undefined = undefined
  private done = false

  constructor(
    private readonly statements: ReadonlyArray<Statement>,
    private readonly values: ReadonlyArray<Array<string | Buffer | null>>,
    readonly callback: (error: unknown, results: ReadonlyArray<Result> | undefined) => void
  ) {}

  submit(connection: PgConnection): null {
    this.connection = connection
    const known = connection.parsedStatements
    connection.stream.cork?.()
    try {
      for (let i = 0; i < this.statements.length; i++) {
        const statement = this.statements[i]!
        const name = statement.name ?? ""
        if (name === "" || known[name] !== statement.text) {
          // A name forgotten after a failed pipeline may exist on the server or not: Close is a no-op for a
          // statement that does not exist, so the Parse behind it cannot fail for a duplicate name.
          if (name !== "") {
            connection.close({ type: "S", name })
            known[name] = statement.text
            this.parsed.push(name)
          }
          connection.parse({ text: statement.text, name, types: NO_TYPES })
        }
        connection.bind({ portal: "", statement: name, values: this.values[i]! })
        connection.describe({ type: "P", name: "" })
        connection.execute({ portal: "", rows: 0 })
      }
      connection.sync()
    } finally {
      connection.stream.uncork?.()
    }
    return null
  }

  handleRowDescription(message: { readonly fields: ReadonlyArray<Field> }): void {
    this.fields = message.fields
    this.rows = []
  }

  handleDataRow(message: { readonly fields: ReadonlyArray<string | null> }): void {
    const fields = this.fields
    if (fields === undefined || this.rows === undefined) return
    const row: Record<string, string | null> = {}
    for (let i = 0; i < fields.length; i++) row[fields[i]!.name] = message.fields[i] ?? null
    this.rows.push(row)
  }

  handleCommandComplete(message: { readonly text: string }): void {
    const space = message.text.indexOf(" ")
    this.results.push({
      rows: this.rows ?? NO_ROWS,
      command: space < 0 ? message.text : message.text.slice(0, space)
    })
    this.fields = undefined
    this.rows = undefined
  }

  handleEmptyQuery(): void {
    this.results.push({ rows: NO_ROWS, command: undefined })
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail("the inbox sends no COPY")
  }

  handleCopyData(): void {}

  handleError(error: unknown): void {
    if (this.done) return
    this.done = true
    const known = this.connection?.parsedStatements
    if (known !== undefined) for (const name of this.parsed) delete known[name]
    this.callback(error, undefined)
  }

  handleReadyForQuery(): void {
    if (this.done) return
    this.done = true
    this.callback(undefined, this.results)
  }
}
