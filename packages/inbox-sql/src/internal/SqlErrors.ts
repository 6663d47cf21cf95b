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

export const isBusy = (e: SqlError): boolean => {
  const code = Predicate.hasProperty(e.cause, "code") ? e.cause.code : undefined
  return Predicate.isString(code) && BUSY_CODES.has(code)
}

/** A driver's failure as the inbox's: busy or storage, with what the inbox was doing. */
export const toInboxError =
  (what: string) =>
  (e: SqlError): Inbox.InboxError =>
    new Inbox.InboxError({
      reason: isBusy(e) ? "busy" : "storage",
      message: `inbox ${what}: ${causeMessage(e)}`
    })
