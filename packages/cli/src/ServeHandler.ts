/**
 * The handler `witkey serve` runs on each notification, and the line it prints for a processed one. Shared
 * with `witkey inbox replay`, so a replayed notification is handled, and reported, exactly as a delivered one.
 *
 * `serve` has no business of its own: its handler does nothing, and the processed notification is reported
 * as one JSON line on stdout (after the inbox committed) for the platform's own tooling to pick up:
 * `{"processed": "<notify_id>", "sub_type": "...", "outer_task_id": "...", "outer_transfer_no": "...",
 * "transfer_amount": "..."}` (wire text; a field the sub type lacks is left out).
 *
 * @since 0.2.0
 */
import type * as Notification from "@witkey/core/Notification"
import * as Effect from "effect/Effect"
import * as Output from "./Output.js"

export const handler = (_notification: Notification.Notification): Effect.Effect<void> => Effect.void

/** The stdout line of a processed notification. */
export const processed = (n: Notification.Notification): Effect.Effect<void> => {
  // The decoded wire text of what was handled, so it can be checked against the payout (absent: omitted).
  const wire = (name: string) => (Object.hasOwn(n.fields, name) ? n.fields[name] : undefined)
  return Output.json({
    processed: n.notifyId,
    sub_type: n.payload.subType,
    outer_task_id: wire("outer_task_id"),
    outer_transfer_no: wire("outer_transfer_no"),
    transfer_amount: wire("transfer_amount")
  })
}
