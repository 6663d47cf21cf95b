/**
 * The Signer of a process that only receives (`witkey serve`): core's Client wants one, but receiving never
 * signs, so any use is a failure that says so.
 *
 * @since 0.1.0
 */
import * as Signer from "@witkey/core/Signer"
import { Effect } from "effect"

export const signer: Signer.Signer = Signer.make(() =>
  Effect.fail(
    new Signer.SignError({ message: "this process only receives notifications; it has no private key" })
  )
)
