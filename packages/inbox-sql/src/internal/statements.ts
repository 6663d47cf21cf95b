/**
 * The SQL inbox's statements, and the row they read back. Plain builders over a client without name
 * transforms: nothing here runs a statement, so the runners decide where each one goes (the client, or a
 * group-commit turn's connection).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Inbox from "@witkey/core/Inbox"
import * as Notification from "@witkey/core/Notification"
import { Schema } from "effect"
import type * as Migrations from "../Migrations.js"

/** The two keys of a notification: its business key (if its sub type has one) and the event key it locks. */
export interface Keys {
  readonly businessKey: string | undefined
  readonly eventKey: string
}

export const keysOf = (n: Notification.Notification): Keys => ({
  businessKey: Notification.businessKey(n),
  eventKey: Notification.eventKey(n)
})

const ROW_COLUMNS =
  "notify_id, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, first_received_at, last_received_at, deliveries, state, processed_at, last_error, duplicate_of"

// PostgreSQL returns BIGINT as a string; SQLite with safe integers as a bigint.
const Integer = Schema.Union(
  Schema.Number,
  Schema.NumberFromString,
  Schema.transform(Schema.BigIntFromSelf, Schema.Number, { decode: Number, encode: BigInt })
)
const Text = Schema.NullOr(Schema.String)

export const Row = Schema.Struct({
  notify_id: Schema.String,
  business_key: Text,
  sub_type: Schema.String,
  outer_task_id: Text,
  outer_transfer_no: Text,
  body: Schema.Uint8ArrayFromSelf,
  content_type: Text,
  first_received_at: Integer,
  last_received_at: Integer,
  deliveries: Integer,
  state: Schema.Literal("pending", "processed", "failed"),
  processed_at: Schema.NullOr(Integer),
  last_error: Text,
  duplicate_of: Text
})

export const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

const orUndefined = <A>(value: A | null): A | undefined => (value === null ? undefined : value)

export const toEntry = (row: typeof Row.Type): Inbox.Entry => ({
  notifyId: row.notify_id,
  businessKey: orUndefined(row.business_key),
  subType: row.sub_type,
  outerTaskId: orUndefined(row.outer_task_id),
  outerTransferNo: orUndefined(row.outer_transfer_no),
  // A plain copy: drivers hand out Buffers over shared pools.
  body: Uint8Array.from(row.body),
  contentType: orUndefined(row.content_type),
  firstReceivedAt: row.first_received_at,
  lastReceivedAt: row.last_received_at,
  deliveries: row.deliveries,
  state: row.state,
  processedAt: orUndefined(row.processed_at),
  lastError: orUndefined(row.last_error),
  duplicateOf: orUndefined(row.duplicate_of)
})

export type Statements = ReturnType<typeof make>

/** The statements over `sql` (without transforms: our own column names) and the tables of a prefix. */
export const make = (sql: SqlClient.SqlClient, tables: Migrations.Tables) => {
  const N = sql(tables.notifications)
  const E = sql(tables.events)
  const columns = sql.literal(ROW_COLUMNS)

  /** The insert of a delivery's row (raw body, first arrival); the statements below say what a conflict does. */
  const deliveryRow = (received: Inbox.Received, keys: Keys, now: number, failure: string | undefined) => {
    const n = received.notification
    const outerTransferNo = n.payload._tag === "Assign" ? n.payload.outerTransferNo : null
    return sql`INSERT INTO ${N} (notify_id, event_key, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, first_received_at, last_received_at, deliveries, state, last_error)
VALUES (${n.notifyId}, ${keys.eventKey}, ${keys.businessKey ?? null}, ${n.payload.subType}, ${n.payload.outerTaskId ?? null}, ${outerTransferNo}, ${received.body}, ${received.contentType ?? null}, ${now}, ${now}, 1, ${failure === undefined ? "pending" : "failed"}, ${failure ?? null})`
  }

  return {
    /**
     * The delivery as one upsert: a new notify_id gets its row, a known one counts one more delivery, unless
     * `counted` is false (an earlier statement of the same receive already counted it). The first body is
     * kept: a re-delivery of a notify_id is the same signed notification. `failure` also marks a row that is
     * not processed as failed, with the reason. Also the notification row's lock on PostgreSQL.
     */
    upsertDelivery: (
      received: Inbox.Received,
      keys: Keys,
      now: number,
      options: { readonly failure: string | undefined; readonly counted: boolean }
    ) => {
      const add = options.counted ? 1 : 0
      const onConflict =
        options.failure === undefined
          ? sql`deliveries = ${N}.deliveries + ${add}, last_received_at = excluded.last_received_at`
          : sql`deliveries = ${N}.deliveries + ${add}, last_received_at = excluded.last_received_at, state = CASE WHEN ${N}.state = 'processed' THEN ${N}.state ELSE 'failed' END, last_error = CASE WHEN ${N}.state = 'processed' THEN ${N}.last_error ELSE excluded.last_error END`
      return sql<{
        state: string
        duplicate_of: string | null
      }>`${deliveryRow(received, keys, now, options.failure)}
ON CONFLICT (notify_id) DO UPDATE SET ${onConflict}
RETURNING state, duplicate_of`
    },

    /** The first delivery's row, or nothing if the notify_id is on record: returns the row it inserted. */
    preRecord: (received: Inbox.Received, keys: Keys, now: number) =>
      sql<{ notify_id: string }>`${deliveryRow(received, keys, now, undefined)}
ON CONFLICT (notify_id) DO NOTHING
RETURNING notify_id`,

    /**
     * Claims the event: inserts it marked with `notifyId`, or finds it marked by another. The upsert locks an
     * existing row and waits for a concurrent uncommitted insert, and returns the committed mark.
     */
    claimEvent: (eventKey: string, notifyId: string, now: number) =>
      sql<{
        processed_notify_id: string | null
      }>`INSERT INTO ${E} (event_key, processed_notify_id, processed_at) VALUES (${eventKey}, ${notifyId}, ${now})
ON CONFLICT (event_key) DO UPDATE SET processed_notify_id = COALESCE(${E}.processed_notify_id, excluded.processed_notify_id), processed_at = COALESCE(${E}.processed_at, excluded.processed_at)
RETURNING processed_notify_id`,

    markDuplicate: (notifyId: string, processedBy: string, now: number) =>
      sql`UPDATE ${N} SET state = 'processed', processed_at = ${now}, duplicate_of = ${processedBy}, last_error = NULL WHERE notify_id = ${notifyId}`,

    /**
     * Marks `notifyId` processed only while its claim of the event still stands in this transaction: a
     * handler can swallow the error of a statement after which SQLite rolled the whole transaction back
     * (`INSERT OR ROLLBACK`, a trigger's RAISE(ROLLBACK)), and an unconditional mark would then commit on its
     * own, without the claim or the handler's writes. Returns the row it marked.
     */
    markProcessed: (notifyId: string, eventKey: string, now: number) =>
      sql<{
        notify_id: string
      }>`UPDATE ${N} SET state = 'processed', processed_at = ${now}, last_error = NULL, duplicate_of = NULL WHERE notify_id = ${notifyId} AND EXISTS (SELECT 1 FROM ${E} WHERE event_key = ${eventKey} AND processed_notify_id = ${notifyId})
RETURNING notify_id`,

    byNotifyId: (notifyId: string) => sql`SELECT ${columns} FROM ${N} WHERE notify_id = ${notifyId}`,

    byTask: (outerTaskId: string) =>
      sql`SELECT ${columns} FROM ${N} WHERE outer_task_id = ${outerTaskId} ORDER BY first_received_at, id`
  }
}
