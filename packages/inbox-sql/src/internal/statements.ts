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
import type { Duration } from "effect"
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
  "notify_id, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, first_received_at, last_received_at, deliveries, state, processed_at, last_error, duplicate_of, failures, parked_at, resolved_at, resolution, body_removed_at"

const ATTEMPT_COLUMNS =
  "notify_id, at, source, verification, verified_by, notify_verify, outcome, error, duration_ms"

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
  duplicate_of: Text,
  failures: Integer,
  parked_at: Schema.NullOr(Integer),
  resolved_at: Schema.NullOr(Integer),
  resolution: Text,
  body_removed_at: Schema.NullOr(Integer)
})

export const decodeRows = Schema.decodeUnknown(Schema.Array(Row))

export const AttemptRow = Schema.Struct({
  notify_id: Schema.String,
  at: Integer,
  source: Schema.Literal("alipay", "replay", "resolve"),
  verification: Schema.Literal("signature", "stored"),
  verified_by: Text,
  notify_verify: Schema.NullOr(Schema.Literal("true", "not_asked")),
  outcome: Schema.Literal(
    "processed",
    "duplicate",
    "failed",
    "failed_permanent",
    "interrupted",
    "resolved",
    "already_processed"
  ),
  error: Text,
  duration_ms: Integer
})

export const decodeAttempts = Schema.decodeUnknown(Schema.Array(AttemptRow))

export const toAttempt = (row: typeof AttemptRow.Type): Inbox.Attempt => ({
  notifyId: row.notify_id,
  at: row.at,
  source: row.source,
  verification: row.verification,
  verifiedBy: orUndefined(row.verified_by),
  notifyVerify: orUndefined(row.notify_verify),
  outcome: row.outcome,
  error: orUndefined(row.error),
  durationMillis: row.duration_ms
})

const orUndefined = <A>(value: A | null): A | undefined => (value === null ? undefined : value)

export const toEntry = (
  row: typeof Row.Type,
  now: number,
  exhaustedAfter: Duration.Duration
): Inbox.Entry => {
  const parkedAt = orUndefined(row.parked_at)
  const resolvedAt = orUndefined(row.resolved_at)
  return {
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
    duplicateOf: orUndefined(row.duplicate_of),
    status: Inbox.statusOf(
      { state: row.state, firstReceivedAt: row.first_received_at, parkedAt, resolvedAt },
      now,
      exhaustedAfter
    ),
    failures: row.failures,
    parkedAt,
    resolvedAt,
    resolution: orUndefined(row.resolution),
    bodyRemovedAt: orUndefined(row.body_removed_at)
  }
}

export type Statements = ReturnType<typeof make>

/** One attempt's row, as `insertAttempt` writes it. */
/** What the delivery upsert, a replay's lock and PostgreSQL's record-and-claim read back of the entry's row. */
export interface LockedRow {
  state: string
  duplicate_of: string | null
  parked_at: number | string | bigint | null
  last_error: string | null
  failures: number | string | bigint
}

export interface AttemptValues {
  readonly notifyId: string
  readonly at: number
  readonly source: Inbox.AttemptSource
  readonly verifiedBy: string | undefined
  readonly notifyVerify: "true" | "not_asked" | undefined
  readonly outcome: Inbox.AttemptOutcome
  readonly error: string | undefined
  readonly durationMillis: number
}

/** Which entries a status selects, at `now` (the same rules as `Inbox.statusOf`). */
export interface StatusWindow {
  readonly now: number
  readonly exhaustedAfterMillis: number
}

/** The statements over `sql` (without transforms: our own column names) and the tables of a prefix. */
export const make = (sql: SqlClient.SqlClient, tables: Migrations.Tables, dialect: Migrations.Dialect) => {
  const N = sql(tables.notifications)
  const E = sql(tables.events)
  const A = sql(tables.attempts)
  const columns = sql.literal(ROW_COLUMNS)
  const attemptColumns = sql.literal(ATTEMPT_COLUMNS)
  const EMPTY = new Uint8Array(0)

  /** The insert of a delivery's row (raw body, first arrival); the statements below say what a conflict does. */
  const deliveryRow = (
    received: Inbox.Received,
    keys: Keys,
    now: number,
    failure: string | undefined,
    parked = false
  ) => {
    const n = received.notification
    const outerTransferNo = n.payload._tag === "Assign" ? n.payload.outerTransferNo : null
    return sql`INSERT INTO ${N} (notify_id, event_key, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, first_received_at, last_received_at, deliveries, state, last_error, failures, parked_at)
VALUES (${n.notifyId}, ${keys.eventKey}, ${keys.businessKey ?? null}, ${n.payload.subType}, ${n.payload.outerTaskId ?? null}, ${outerTransferNo}, ${received.body}, ${received.contentType ?? null}, ${now}, ${now}, 1, ${failure === undefined ? "pending" : "failed"}, ${failure ?? null}, ${failure === undefined ? 0 : 1}, ${parked ? now : null})`
  }

  // `state IN ('pending', 'failed')`, never `state <> 'processed'` (the same rows: the column's CHECK allows three
  // values): an index serves an IN list, not an inequality, and these conditions select a few unsettled rows out
  // of a table of settled ones (a sequential scan of every row otherwise).
  const unsettled = sql`state IN ('pending', 'failed') AND parked_at IS NULL`

  const byStatus = (status: Inbox.Status, window: StatusWindow) => {
    const cutoff = window.now - window.exhaustedAfterMillis
    switch (status) {
      case "processed":
        return sql`state = 'processed' AND resolved_at IS NULL`
      case "resolved":
        return sql`resolved_at IS NOT NULL`
      case "failed_permanent":
        return sql`state IN ('pending', 'failed') AND parked_at IS NOT NULL`
      case "exhausted":
        return sql`${unsettled} AND first_received_at <= ${cutoff}`
      case "failing":
        return sql`${unsettled} AND first_received_at > ${cutoff}`
    }
  }

  return {
    /**
     * The delivery as one upsert: a new notify_id gets its row, a known one counts one more delivery, unless
     * `counted` is false (an earlier statement of the same receive already counted it, or a replay, which is
     * no delivery: then the arrival times stay too). The first body is kept: a re-delivery of a notify_id is
     * the same signed notification. `failure` also marks a row that is not processed as failed, with the
     * reason, and counts the failure; `parked` parks it (a permanent failure). Also the notification row's
     * lock on PostgreSQL.
     */
    upsertDelivery: (
      received: Inbox.Received,
      keys: Keys,
      now: number,
      options: {
        readonly failure: string | undefined
        readonly counted: boolean
        readonly arrived?: boolean | undefined
        readonly parked?: boolean | undefined
      }
    ) => {
      const add = options.counted ? 1 : 0
      const arrival =
        options.arrived === false
          ? sql`deliveries = ${N}.deliveries + ${add}`
          : sql`deliveries = ${N}.deliveries + ${add}, last_received_at = excluded.last_received_at`
      const onConflict =
        options.failure === undefined
          ? arrival
          : sql`${arrival}, state = CASE WHEN ${N}.state = 'processed' THEN ${N}.state ELSE 'failed' END, last_error = CASE WHEN ${N}.state = 'processed' THEN ${N}.last_error ELSE excluded.last_error END, failures = CASE WHEN ${N}.state = 'processed' THEN ${N}.failures ELSE ${N}.failures + 1 END${options.parked === true ? sql`, parked_at = CASE WHEN ${N}.state = 'processed' THEN ${N}.parked_at ELSE ${now} END` : sql``}`
      return sql<LockedRow>`${deliveryRow(received, keys, now, options.failure, options.parked === true)}
ON CONFLICT (notify_id) DO UPDATE SET ${onConflict}
RETURNING state, duplicate_of, parked_at, last_error, failures`
    },

    /**
     * A replay's first statement: locks the row (a no-op update; PostgreSQL's row lock, SQLite's write lock)
     * and reads what the unit needs, like the delivery upsert.
     */
    lockRow: (notifyId: string) =>
      sql<
        LockedRow & { event_key: string }
      >`UPDATE ${N} SET deliveries = deliveries WHERE notify_id = ${notifyId}
RETURNING state, duplicate_of, parked_at, last_error, failures, event_key`,

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
      sql`UPDATE ${N} SET state = 'processed', processed_at = ${now}, duplicate_of = ${processedBy}, last_error = NULL, parked_at = NULL WHERE notify_id = ${notifyId}`,

    /**
     * Marks `notifyId` processed only while its claim of the event still stands in this transaction: a
     * handler can swallow the error of a statement after which SQLite rolled the whole transaction back
     * (`INSERT OR ROLLBACK`, a trigger's RAISE(ROLLBACK)), and an unconditional mark would then commit on its
     * own, without the claim or the handler's writes. Returns the row it marked.
     */
    markProcessed: (notifyId: string, eventKey: string, now: number) =>
      sql<{
        notify_id: string
      }>`UPDATE ${N} SET state = 'processed', processed_at = ${now}, last_error = NULL, duplicate_of = NULL, parked_at = NULL WHERE notify_id = ${notifyId} AND EXISTS (SELECT 1 FROM ${E} WHERE event_key = ${eventKey} AND processed_notify_id = ${notifyId})
RETURNING notify_id`,

    /** Settles an entry by hand: processed (a duplicate when its event was processed by another), noted. */
    markResolved: (notifyId: string, processedBy: string, note: string, now: number) =>
      sql`UPDATE ${N} SET state = 'processed', processed_at = ${now}, resolved_at = ${now}, resolution = ${note}, last_error = NULL, parked_at = NULL, duplicate_of = ${processedBy === notifyId ? null : processedBy} WHERE notify_id = ${notifyId}`,

    /**
     * PostgreSQL: `markProcessed` and the attempt's row in one statement (a data-modifying CTE), so that the
     * attempt history costs no round trip on the hot path. It fails (division by zero, SQLSTATE 22012, which
     * `SqlErrors` reads as `lost`) when it marks nothing, i.e. when the claim no longer stands: the failure
     * aborts the transaction, so a COMMIT sent right behind it (`pgTransaction.ts`) rolls back instead of
     * committing the handler's writes without the mark. `undefined` on SQLite, which has no such CTE (there
     * the insert is a cached statement on the group-commit turn's connection).
     */
    markProcessedWithAttempt:
      dialect === "pg"
        ? (notifyId: string, eventKey: string, now: number, a: AttemptValues) =>
            sql<{
              notify_id: string
            }>`WITH marked AS (UPDATE ${N} SET state = 'processed', processed_at = ${now}, last_error = NULL, duplicate_of = NULL, parked_at = NULL WHERE notify_id = ${notifyId} AND EXISTS (SELECT 1 FROM ${E} WHERE event_key = ${eventKey} AND processed_notify_id = ${notifyId}) RETURNING notify_id),
logged AS (INSERT INTO ${A} (${attemptColumns}) SELECT notify_id, CAST(${a.at} AS BIGINT), CAST(${a.source} AS TEXT), CAST(${a.source === "alipay" ? "signature" : "stored"} AS TEXT), CAST(${a.verifiedBy ?? null} AS TEXT), CAST(${a.notifyVerify ?? null} AS TEXT), CAST(${a.outcome} AS TEXT), CAST(${a.error ?? null} AS TEXT), CAST(${a.durationMillis} AS BIGINT) FROM marked)
SELECT (SELECT notify_id FROM marked) AS notify_id, 1 / CAST((SELECT count(*) FROM marked) AS INTEGER) AS claim_stands`
        : undefined,

    /**
     * PostgreSQL: the delivery upsert and the event claim in one statement (a data-modifying CTE), one round
     * trip instead of two. The claim runs only for a row that is neither processed nor parked, as `settle` would
     * decide, and only after the upsert (it reads the upsert's row), so the locks are still taken notification
     * row first, event row second. Both upserts wait for a concurrent transaction on their row and then work on
     * its committed version (READ COMMITTED), exactly as the two statements did. `claimed_by` is null when the
     * claim was skipped. `undefined` on SQLite (there both are cached statements on the group-commit turn).
     */
    recordAndClaim:
      dialect === "pg"
        ? (received: Inbox.Received, keys: Keys, now: number, counted: boolean) =>
            sql<
              LockedRow & { claimed_by: string | null }
            >`WITH delivery AS (${deliveryRow(received, keys, now, undefined)}
ON CONFLICT (notify_id) DO UPDATE SET deliveries = ${N}.deliveries + ${counted ? 1 : 0}, last_received_at = excluded.last_received_at
RETURNING state, duplicate_of, parked_at, last_error, failures),
claim AS (INSERT INTO ${E} (event_key, processed_notify_id, processed_at) SELECT CAST(${keys.eventKey} AS TEXT), CAST(${received.notification.notifyId} AS TEXT), CAST(${now} AS BIGINT) FROM delivery WHERE delivery.state <> 'processed' AND delivery.parked_at IS NULL
ON CONFLICT (event_key) DO UPDATE SET processed_notify_id = COALESCE(${E}.processed_notify_id, excluded.processed_notify_id), processed_at = COALESCE(${E}.processed_at, excluded.processed_at)
RETURNING processed_notify_id)
SELECT delivery.state, delivery.duplicate_of, delivery.parked_at, delivery.last_error, delivery.failures, (SELECT processed_notify_id FROM claim) AS claimed_by FROM delivery`
        : undefined,

    /** PostgreSQL: the multi-row statements of a batch of deliveries (`pgBatch.ts`); `undefined` on SQLite. */
    batch: dialect === "pg" ? batchTexts(sql, N, E, A, attemptColumns) : undefined,

    insertAttempt: (a: AttemptValues) =>
      sql`INSERT INTO ${A} (${attemptColumns}) VALUES (${a.notifyId}, ${a.at}, ${a.source}, ${a.source === "alipay" ? "signature" : "stored"}, ${a.verifiedBy ?? null}, ${a.notifyVerify ?? null}, ${a.outcome}, ${a.error ?? null}, ${a.durationMillis})`,

    attempts: (notifyId: string) =>
      sql`SELECT ${attemptColumns} FROM ${A} WHERE notify_id = ${notifyId} ORDER BY at, id`,

    byNotifyId: (notifyId: string) => sql`SELECT ${columns} FROM ${N} WHERE notify_id = ${notifyId}`,

    byTask: (outerTaskId: string) =>
      sql`SELECT ${columns} FROM ${N} WHERE outer_task_id = ${outerTaskId} ORDER BY first_received_at, id`,

    list: (query: Inbox.Query, window: StatusWindow, limit: number) => {
      const conditions = [
        ...(query.status !== undefined ? [byStatus(query.status, window)] : []),
        ...(query.outerTaskId !== undefined ? [sql`outer_task_id = ${query.outerTaskId}`] : [])
      ]
      // Every entry: in the order the store recorded them (`id`), which its primary key serves. First arrival
      // differs only by milliseconds where clocks disagree (`Inbox.Query.order`), and would need an index of its
      // own (one more write per delivery) to spare the console's refresh a read and sort of the whole table
      // (190 ms at 300,000 entries).
      if (conditions.length === 0)
        return query.order === "newest"
          ? sql`SELECT ${columns} FROM ${N} ORDER BY id DESC LIMIT ${limit}`
          : sql`SELECT ${columns} FROM ${N} ORDER BY id LIMIT ${limit}`
      const where = sql`WHERE ${sql.and(conditions)}`
      return query.order === "newest"
        ? sql`SELECT ${columns} FROM ${N} ${where} ORDER BY first_received_at DESC, id DESC LIMIT ${limit}`
        : sql`SELECT ${columns} FROM ${N} ${where} ORDER BY first_received_at, id LIMIT ${limit}`
    },

    /**
     * Settles, as duplicates, the unsettled entries whose event another notify_id processed (a re-issue
     * processed while this one failed): their next delivery would have said so, but Alipay may have given up.
     */
    settleDuplicates: (now: number) =>
      sql`UPDATE ${N} SET state = 'processed', processed_at = ${now}, last_error = NULL, parked_at = NULL, duplicate_of = (SELECT processed_notify_id FROM ${E} WHERE ${E}.event_key = ${N}.event_key)
WHERE state IN ('pending', 'failed') AND (SELECT ${E}.processed_notify_id FROM ${E} WHERE ${E}.event_key = ${N}.event_key) <> ${N}.notify_id`,

    /** Marks the entries newly exhausted as noticed, once: returns them. */
    noticeExhausted: (window: StatusWindow) =>
      sql<{
        notify_id: string
      }>`UPDATE ${N} SET exhausted_noticed_at = ${window.now} WHERE ${byStatus("exhausted", window)} AND exhausted_noticed_at IS NULL
RETURNING notify_id`,

    pruneAttempts: (cutoff: number) =>
      sql<{ id: unknown }>`DELETE FROM ${A} WHERE at < ${cutoff} RETURNING id`,

    /**
     * On PostgreSQL the rows are locked in notify_id order first, as a batch's record-and-claim locks them: an
     * UPDATE alone locks them in scan order, and a prune and a batch holding some of the same rows each could wait
     * for the other (a deadlock, seen as `inbox prune: deadlock detected` in Operators.test.ts under load).
     */
    pruneBodies: (cutoff: number, now: number) => {
      const prunable = sql`state = 'processed' AND body_removed_at IS NULL AND last_received_at < ${cutoff}`
      const rows =
        dialect === "pg"
          ? sql`notify_id IN (SELECT notify_id FROM ${N} WHERE ${prunable} ORDER BY notify_id FOR UPDATE) AND ${prunable}`
          : prunable
      return sql<{
        notify_id: string
      }>`UPDATE ${N} SET body = ${EMPTY}, body_removed_at = ${now} WHERE ${rows}
RETURNING notify_id`
    },

    eraseTask: (outerTaskId: string, now: number) =>
      sql<{
        notify_id: string
      }>`UPDATE ${N} SET body = ${EMPTY}, body_removed_at = ${now}, last_error = NULL, resolution = NULL WHERE outer_task_id = ${outerTaskId}
RETURNING notify_id`,

    eraseAttempts: (outerTaskId: string) =>
      sql`UPDATE ${A} SET error = NULL WHERE notify_id IN (SELECT notify_id FROM ${N} WHERE outer_task_id = ${outerTaskId})`
  }
}

/**
 * The two statements of a batch on PostgreSQL, as constant texts over arrays (`unnest`), so that one named
 * statement serves every batch size. Their parameters are listed with `pgBatch.ts`, which builds them.
 *
 * `recordAndClaim`: `recordAndClaim` above for every delivery of the batch. Rows are upserted in notify_id order,
 * then (the sort reads every upserted row first) events are claimed in event_key order: every batch, and every
 * single-delivery transaction, takes its notification rows before its event rows and each kind in one order,
 * so two batches never wait for each other in a cycle. A batch never holds one notify_id or event_key twice
 * (ON CONFLICT DO UPDATE cannot touch a row twice in one statement).
 *
 * `settle`: after the handlers, in one statement: the processed marks (only where the claim still stands; it
 * fails with a division by zero, read as `lost`, unless every one of them marks its row, like
 * `markProcessedWithAttempt`), the business-key duplicates, the failed deliveries (state, reason, count,
 * parking, as `upsertDelivery` with a failure), the release of the failed and interrupted deliveries' claims
 * (the event rows they inserted are deleted, as a rollback would have), and every attempt row. Returns the
 * failed deliveries' counts, and one row in any case.
 *
 * The other parts select their rows with `key = ANY(array)` (the failed marks also join their array, for the
 * values), and read a row's value from the array with a scalar subquery (a batch holds each key once): a join
 * alone was planned, in the generic plan made while a table was small, as a hash join over a sequential scan of
 * the table, until statistics caught up with its growth (`test/PgPlans.test.ts` holds every part of the plan
 * to index scans on small analyzed tables).
 *
 * The parts a batch without failures or duplicates leaves empty (`duplicates`, `failed`, `released`) are gated by
 * `cardinality(array) > 0`, which PostgreSQL evaluates once per execution before touching a table. A named
 * statement's generic plan, once PostgreSQL settles on it (after five custom plans, when it looks no dearer), is
 * kept by the connection until statistics change; one made while the tables were empty or small (a new inbox;
 * the bench's first batches) reads the inbox in full in `duplicates` and `failed`, `= ANY` over 10 assumed keys
 * being cheaper than probing an index while a table looks like 10 pages. Kept while the inbox grew (nothing ran
 * ANALYZE: autovacuum off), that plan read every row on every batch: row 7b-16's "low mode", PostgreSQL's CPU per
 * delivery doubled and growing (BENCHMARKS.md, ninth pass). The gated parts still hold those scans but never run
 * them; a batch that fills them is sent unnamed (`pgBatch.ts`, `settleStep`), planned when it runs, on the tables
 * as they are (`test/PgPlans.test.ts` checks both on tables grown after the plan was made).
 *
 * The mark reads each claim with a scalar subquery on the event's key, not `EXISTS`: PostgreSQL turns an
 * `EXISTS` into a semi-join, and the generic plan of this named statement (10 rows assumed for `unnest`)
 * joined by hashing, reading every claim in the table on every batch while it looked small (a few thousand
 * rows, or statistics behind a growing table). That made row 7b-16 about a fifth slower; the subquery is one
 * primary-key probe per delivery whatever the statistics (`test/PgPlans.test.ts` checks the plan).
 */
const batchTexts = (
  sql: SqlClient.SqlClient,
  N: ReturnType<SqlClient.SqlClient>,
  E: ReturnType<SqlClient.SqlClient>,
  A: ReturnType<SqlClient.SqlClient>,
  attemptColumns: ReturnType<SqlClient.SqlClient["literal"]>
) => ({
  recordAndClaim:
    sql`WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::text[], $9::integer[]) AS t(notify_id, event_key, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, counted)),
delivery AS (INSERT INTO ${N} (notify_id, event_key, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, first_received_at, last_received_at, deliveries, state, last_error, failures, parked_at)
SELECT notify_id, event_key, business_key, sub_type, outer_task_id, outer_transfer_no, body, content_type, $10::bigint, $10::bigint, 1, 'pending', NULL, 0, NULL FROM input ORDER BY notify_id
ON CONFLICT (notify_id) DO UPDATE SET deliveries = ${N}.deliveries + (SELECT i.counted FROM input i WHERE i.notify_id = excluded.notify_id), last_received_at = excluded.last_received_at
RETURNING notify_id, state, duplicate_of, parked_at, last_error),
claim AS (INSERT INTO ${E} (event_key, processed_notify_id, processed_at)
SELECT i.event_key, i.notify_id, $10::bigint FROM delivery d JOIN input i ON i.notify_id = d.notify_id WHERE d.state <> 'processed' AND d.parked_at IS NULL ORDER BY i.event_key
ON CONFLICT (event_key) DO UPDATE SET processed_notify_id = COALESCE(${E}.processed_notify_id, excluded.processed_notify_id), processed_at = COALESCE(${E}.processed_at, excluded.processed_at)
RETURNING event_key, processed_notify_id)
SELECT d.notify_id, d.state, d.duplicate_of, d.parked_at, d.last_error, c.processed_notify_id AS claimed_by
FROM delivery d JOIN input i ON i.notify_id = d.notify_id LEFT JOIN claim c ON c.event_key = i.event_key`.compile()[0],
  settle:
    sql`WITH marked AS (UPDATE ${N} SET state = 'processed', processed_at = $1::bigint, last_error = NULL, duplicate_of = NULL, parked_at = NULL
FROM unnest($2::text[], $3::text[]) AS p(notify_id, event_key)
WHERE ${N}.notify_id = p.notify_id AND (SELECT ${E}.processed_notify_id FROM ${E} WHERE ${E}.event_key = p.event_key) = p.notify_id
RETURNING ${N}.notify_id),
duplicates AS (UPDATE ${N} SET state = 'processed', processed_at = $1::bigint, duplicate_of = (SELECT d.processed_by FROM unnest($4::text[], $5::text[]) AS d(notify_id, processed_by) WHERE d.notify_id = ${N}.notify_id), last_error = NULL, parked_at = NULL
WHERE cardinality($4::text[]) > 0 AND ${N}.notify_id = ANY($4::text[])),
failed AS (UPDATE ${N} SET state = CASE WHEN ${N}.state = 'processed' THEN ${N}.state ELSE 'failed' END, last_error = CASE WHEN ${N}.state = 'processed' THEN ${N}.last_error ELSE f.error END, failures = CASE WHEN ${N}.state = 'processed' THEN ${N}.failures ELSE ${N}.failures + 1 END, parked_at = CASE WHEN ${N}.state <> 'processed' AND f.parked THEN $1::bigint ELSE ${N}.parked_at END
FROM unnest($6::text[], $7::text[], $8::boolean[]) AS f(notify_id, error, parked) WHERE cardinality($6::text[]) > 0 AND ${N}.notify_id = f.notify_id AND ${N}.notify_id = ANY($6::text[])
RETURNING ${N}.notify_id, ${N}.failures, ${N}.parked_at IS NOT NULL AS parked),
released AS (DELETE FROM ${E} WHERE cardinality($9::text[]) > 0 AND ${E}.event_key = ANY($9::text[]) AND ${E}.processed_notify_id = (SELECT r.notify_id FROM unnest($9::text[], $10::text[]) AS r(event_key, notify_id) WHERE r.event_key = ${E}.event_key)),
logged AS (INSERT INTO ${A} (${attemptColumns}) SELECT * FROM unnest($11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::bigint[]))
SELECT f.notify_id, f.failures, f.parked, s.claim_stands FROM (SELECT 1 / CAST((SELECT count(*) FROM marked) = $20::integer AS INTEGER) AS claim_stands) s LEFT JOIN failed f ON true`.compile()[0]
})
