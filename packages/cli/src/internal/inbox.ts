/** The handlers of `InboxCommand`, loaded when a subcommand runs. @internal */
import * as Inbox from "@witkey/core/Inbox"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as CliError from "../CliError.js"
import * as Database from "../Database.js"
import * as Output from "../Output.js"
import * as ServeHandler from "../ServeHandler.js"
import type * as Command from "@effect/cli/Command"
import * as InboxCommand from "../InboxCommand.js"

export const list = (values: Command.Command.ParseConfig<typeof InboxCommand.listOptions>) =>
  // Checked before the database is opened (a new path would be created and migrated first).
  values.limit < 1
    ? Effect.fail(CliError.usage(`--limit ${values.limit}: must be 1 or more`))
    : withInbox(values.db, (ops) =>
        Effect.gen(function* () {
          // One more than asked: whether the listing was cut is then known, not guessed.
          const read = yield* ops
            .list({
              status: Option.getOrUndefined(values.state),
              outerTaskId: Option.getOrUndefined(values.task),
              order: values.newest ? "newest" : "oldest",
              limit: values.limit + 1
            })
            .pipe(Effect.mapError(storage))
          const more = read.length > values.limit
          const entries = more ? read.slice(0, values.limit) : read
          // Said on stderr, so that stdout stays the listing; not `witkey: …`, the prefix of an error.
          if (more)
            yield* Output.diagnostic(
              `witkey inbox list: ${entries.length} entries shown (--limit); there are more (${values.newest ? "--limit" : "--newest, --limit"})`
            )
          yield* Output.result(values.json, { entries: entries.map(entryJson), more }, () =>
            entries.length === 0
              ? ["no entries"]
              : entries.map((e) =>
                  [
                    e.notifyId,
                    e.status,
                    e.subType,
                    e.outerTaskId ?? "-",
                    e.outerTransferNo ?? "-",
                    `${e.deliveries} deliveries`,
                    `${e.failures} failures`,
                    iso(e.firstReceivedAt),
                    e.lastError ?? ""
                  ].join("  ")
                )
          )
        })
      )

export const show = (values: Command.Command.ParseConfig<typeof InboxCommand.showOptions>) =>
  withInbox(values.db, (ops, inbox) =>
    Effect.gen(function* () {
      const entry = yield* inbox.get(values.notifyId).pipe(Effect.mapError(storage))
      if (Option.isNone(entry))
        return yield* CliError.failure(`no notification ${values.notifyId} in the inbox`)
      const attempts = yield* ops.attempts(values.notifyId).pipe(Effect.mapError(storage))
      yield* Output.result(
        values.json,
        { ...entryJson(entry.value), attempts: attempts.map(attemptJson) },
        () => [
          ...Output.table(
            Object.entries(entryJson(entry.value))
              .filter(([, v]) => v !== undefined)
              .map(([k, v]) => [k, String(v)] as const)
          ),
          "",
          "attempts (time, source, verification, key, notify_verify, outcome, duration, error):",
          ...attempts.map((a) =>
            [
              `  ${iso(a.at)}`,
              a.source,
              a.verification,
              a.verifiedBy ?? "-",
              a.notifyVerify ?? "-",
              a.outcome,
              `${a.durationMillis} ms`,
              a.error ?? ""
            ].join("  ")
          )
        ]
      )
    })
  )

export const replay = (values: Command.Command.ParseConfig<typeof InboxCommand.replayOptions>) =>
  withInbox(values.db, (ops, inbox) =>
    Effect.gen(function* () {
      const outcome = yield* ops
        .replay(values.notifyId, ServeHandler.handler, { charset: values.charset })
        .pipe(
          Effect.catchAll((e) =>
            Effect.fail(
              e._tag === "InboxError"
                ? storage(e)
                : CliError.failure(`the handler failed again (${e.message}); the entry stays unsettled`)
            )
          )
        )
      switch (outcome._tag) {
        case "NotFound":
          return yield* CliError.failure(`no notification ${values.notifyId} in the inbox`)
        case "BodyRemoved":
          return yield* CliError.failure(
            `${values.notifyId}: its body was pruned or erased; nothing to replay (resolve it)`
          )
        case "AlreadyProcessed":
          return yield* Output.diagnostic(
            `${values.notifyId}: already processed (as ${outcome.processedNotifyId}); nothing done`
          )
        case "Duplicate":
          return yield* Output.diagnostic(
            `${values.notifyId}: its event was processed already as ${outcome.processedNotifyId}; marked a duplicate`
          )
        case "Parked":
          return yield* CliError.failure(
            `${values.notifyId}: the handler failed permanently: ${outcome.error}`
          )
        case "Processed": {
          const entry = yield* inbox.get(values.notifyId).pipe(Effect.mapError(storage))
          if (Option.isSome(entry)) {
            const n = yield* Inbox.decodeStored(entry.value, values.charset).pipe(Effect.option)
            if (Option.isSome(n)) return yield* ServeHandler.processed(n.value)
          }
          return yield* Output.diagnostic(`${values.notifyId}: processed`)
        }
      }
    })
  )

export const resolve = (values: Command.Command.ParseConfig<typeof InboxCommand.resolveOptions>) =>
  withInbox(values.db, (ops) =>
    Effect.gen(function* () {
      if (values.note.trim() === "") return yield* CliError.usage("--note must not be empty")
      const outcome = yield* ops.resolve(values.notifyId, values.note).pipe(Effect.mapError(storage))
      if (outcome._tag === "NotFound")
        return yield* CliError.failure(`no notification ${values.notifyId} in the inbox`)
      yield* Output.line(
        outcome._tag === "Resolved"
          ? `${values.notifyId}: resolved`
          : `${values.notifyId}: already processed (as ${outcome.processedNotifyId}); nothing done`
      )
    })
  )

export const prune = (values: Command.Command.ParseConfig<typeof InboxCommand.pruneOptions>) =>
  Effect.gen(function* () {
    const age = InboxCommand.parseAge(values.olderThan)
    if (age === undefined)
      return yield* CliError.usage(
        `--older-than ${JSON.stringify(values.olderThan)}: not a number and a unit (30d, 12h, 90m, 45s)`
      )
    yield* withInbox(values.db, (ops) =>
      Effect.gen(function* () {
        const pruned = yield* ops.prune({ olderThan: age }).pipe(Effect.mapError(storage))
        yield* Output.result(values.json, { ...pruned }, () => [
          `pruned ${pruned.bodies} bodies and ${pruned.attempts} attempts older than ${values.olderThan} (the keys stay, so duplicates are still recognised)`
        ])
      })
    )
  })

const iso = (millis: number | undefined) =>
  millis === undefined ? undefined : new Date(millis).toISOString()

/** An entry as JSON (the body left out: it holds payee ids; `show --json` has its size). */
export const entryJson = (e: Inbox.Entry): Record<string, unknown> => ({
  notify_id: e.notifyId,
  status: e.status,
  sub_type: e.subType,
  outer_task_id: e.outerTaskId,
  outer_transfer_no: e.outerTransferNo,
  business_key: e.businessKey,
  deliveries: e.deliveries,
  failures: e.failures,
  first_received_at: iso(e.firstReceivedAt),
  last_received_at: iso(e.lastReceivedAt),
  processed_at: iso(e.processedAt),
  duplicate_of: e.duplicateOf,
  last_error: e.lastError,
  resolved_at: iso(e.resolvedAt),
  resolution: e.resolution,
  body_bytes: e.body.length,
  body_removed_at: iso(e.bodyRemovedAt)
})

export const attemptJson = (a: Inbox.Attempt): Record<string, unknown> => ({
  at: iso(a.at),
  source: a.source,
  verification: a.verification,
  key: a.verifiedBy,
  notify_verify: a.notifyVerify,
  outcome: a.outcome,
  error: a.error,
  duration_ms: a.durationMillis
})

/** Runs `use` with the inbox's services of `--db`. */
const withInbox = <A, E>(
  database: Database.Database,
  use: (ops: Inbox.Operations, inbox: Inbox.Inbox) => Effect.Effect<A, E>
): Effect.Effect<A, E | CliError.CliError> =>
  Effect.gen(function* () {
    return yield* use(yield* Inbox.Operations, yield* Inbox.Inbox)
  }).pipe(Effect.provide(Database.inbox(database)))

const storage = (e: Inbox.InboxError) => CliError.failure(`inbox: ${e.message}`)
