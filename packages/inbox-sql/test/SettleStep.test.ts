// The batch's last statement (`pgBatch.ts`, `settleStep`): its parameters in the order `statements.ts`'s text
// reads them, and named only for a batch without failures or duplicates, whose `= ANY` parts are empty and
// skipped. A batch that fills them must be planned for its own values: a connection's kept generic plan, made
// while the tables were small, reads those parts' tables in full (`PgPlans.test.ts`).
import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as PgBatch from "../src/internal/pgBatch.js"
import type * as Unit from "../src/internal/unit.js"

/** The two fields of a delivery the statement reads. */
const delivery = (i: number): Unit.Delivery<unknown, unknown> =>
  ({
    received: { notification: { notifyId: `n-${i}` } },
    keys: { eventKey: `e-${i}` }
  }) as unknown as Unit.Delivery<unknown, unknown>

const count = fc.integer({ min: 0, max: 4 })

describe("pgBatch.settleStep", () => {
  it.prop(
    "named exactly when no delivery failed and none is a duplicate; parameters in the text's order",
    [count, count, count, count],
    ([processed, duplicates, counted, interrupted]) => {
      let i = 0
      const take = (n: number) => Array.from({ length: n }, () => delivery(i++))
      const p = take(processed)
      const d = take(duplicates).map((x) => [x, "n-other"] as const)
      const c = take(counted).map((x) => [x, { error: "boom", parked: false, interrupted: false }] as const)
      const released = [...c.map(([x]) => x), ...take(interrupted)]
      const step = PgBatch.settleStep("settle", {
        done: 7,
        processed: p,
        duplicates: d,
        counted: c,
        released,
        attempts: []
      })
      assert.strictEqual(step.prepared, duplicates === 0 && counted === 0 && interrupted === 0)
      assert.strictEqual(step.values.length, 20)
      assert.strictEqual(step.values[0], 7)
      assert.deepStrictEqual(
        step.values[1],
        p.map((x) => x.received.notification.notifyId)
      )
      assert.deepStrictEqual(
        step.values[2],
        p.map((x) => x.keys.eventKey)
      )
      assert.deepStrictEqual(
        step.values[3],
        d.map(([x]) => x.received.notification.notifyId)
      )
      assert.deepStrictEqual(
        step.values[5],
        c.map(([x]) => x.received.notification.notifyId)
      )
      assert.deepStrictEqual(
        step.values[8],
        released.map((x) => x.keys.eventKey)
      )
      assert.deepStrictEqual(
        step.values[9],
        released.map((x) => x.received.notification.notifyId)
      )
      assert.strictEqual(step.values[19], processed)
    }
  )
})
