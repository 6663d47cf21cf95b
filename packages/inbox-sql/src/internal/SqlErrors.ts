/**
 * What a driver's failure means for the inbox: busy (worth another delivery) or broken (storage), and the
 * driver's own message. One list for the inbox and its group commit.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Inbox from "@witkey/core/Inbox"
import { Predicate } from "effect"

/** Lock contention and serialization failures, SQLite and PostgreSQL: worth another delivery. */
export const BUSY_CODES: ReadonlySet<string> = new Set([
  "SQLITE_BUSY",
  "SQLITE_BUSY_SNAPSHOT",
  "SQLITE_BUSY_RECOVERY",
  "SQLITE_BUSY_TIMEOUT",
  "SQLITE_LOCKED",
  "SQLITE_LOCKED_SHAREDCACHE",
  "40001",
  "40P01",
  "55P03",
  "57014"
])

/** The driver's message, not @effect/sql's generic one. */
export const causeMessage = (e: SqlError): string =>
  e.cause instanceof Error ? e.cause.message : Predicate.isString(e.cause) ? e.cause : e.message

const codeOf = (e: SqlError): string | undefined => {
  const code = Predicate.hasProperty(e.cause, "code") ? e.cause.code : undefined
  return Predicate.isString(code) ? code : undefined
}

export const isBusy = (e: SqlError): boolean => {
  const code = codeOf(e)
  return code !== undefined && BUSY_CODES.has(code)
}

/**
 * PostgreSQL's division by zero: raised on purpose by the statement that marks a notification processed when
 * it marks nothing (`statements.ts`, `markProcessedWithAttempt`); no other inbox statement divides.
 */
const CLAIM_LOST = "22012"

/** A driver's failure as the inbox's: busy, lost (the claim is gone) or storage, with what it was doing. */
export const toInboxError =
  (what: string) =>
  (e: SqlError): Inbox.InboxError =>
    codeOf(e) === CLAIM_LOST
      ? new Inbox.InboxError({
          reason: "lost",
          message: `inbox ${what}: the transaction no longer holds its claim of the event (the database rolled it back under the handler); answered fail`
        })
      : new Inbox.InboxError({
          reason: isBusy(e) ? "busy" : "storage",
          message: `inbox ${what}: ${causeMessage(e)}`
        })
