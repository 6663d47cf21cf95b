/**
 * The runner for PostgreSQL (and for any delivery inside a transaction of the caller's): a transaction per
 * unit. PostgreSQL has writers in parallel, and its row locks must be held briefly.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Cause, Effect, Exit, Option, Predicate } from "effect"
import type * as Inbox from "@witkey/core/Inbox"
import { toInboxError } from "./SqlErrors.js"
import { type Exec, recordable, type Runner } from "./unit.js"

const isSqlError = (u: unknown): u is SqlError => Predicate.isTagged(u, "SqlError")

export const make = (sql: SqlClient.SqlClient): Runner => {
  const exec: Exec = (what, statement) => Effect.mapError(statement, toInboxError(what))
  return {
    record: (effect, restore) => restore(effect),
    run: <A, E, R>(
      unit: (exec: Exec) => Effect.Effect<A, E, R>,
      restore: <X, E2, R2>(effect: Effect.Effect<X, E2, R2>) => Effect.Effect<X, E2, R2>,
      onFailure: (cause: Cause.Cause<unknown>) => Effect.Effect<void>
    ) =>
      Effect.gen(function* () {
        // Set once the unit succeeded: a defect after that can only come from COMMIT.
        let committing = false
        // Only the transaction's body is interruptible: an interruption that arrives while it commits waits
        // for the commit, so a committed delivery is never also recorded as interrupted.
        const exit = yield* sql
          .withTransaction(restore(Effect.tap(unit(exec), () => Effect.sync(() => void (committing = true)))))
          .pipe(
            // @effect/sql turns a failed COMMIT into a defect; it is a storage failure like any other.
            Effect.catchAllCause((cause): Effect.Effect<never, E | SqlError | Inbox.InboxError> => {
              const defect = Cause.dieOption(cause)
              return committing && Option.isSome(defect) && isSqlError(defect.value)
                ? Effect.fail(toInboxError("commit")(defect.value))
                : Effect.failCause(cause)
            }),
            Effect.mapError((e): E | Inbox.InboxError => (isSqlError(e) ? toInboxError("begin")(e) : e)),
            Effect.exit
          )
        if (Exit.isFailure(exit) && recordable(exit.cause)) yield* onFailure(exit.cause)
        return yield* exit
      })
  }
}
