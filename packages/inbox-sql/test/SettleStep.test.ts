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
      const attempt = {
        notifyId: "n-a",
        at: 5,
        source: "alipay" as const,
        verifiedBy: "dsa",
        notifyVerify: "not_asked" as const,
        outcome: "processed" as const,
        error: "e",
        durationMillis: 3
      }
      const step = PgBatch.settleStep("settle", {
        done: 7,
        processed: p,
        duplicates: d,
        counted: c,
        released,
        attempts: [attempt]
      })
      assert.strictEqual(step.prepared, duplicates === 0 && counted === 0 && interrupted === 0)
      const id = (x: Unit.Delivery<unknown, unknown>) => x.received.notification.notifyId
      // $1 … $20 as `statements.ts`'s `settle` reads them.
      assert.deepStrictEqual(step.values, [
        7,
        p.map(id),
        p.map((x) => x.keys.eventKey),
        d.map(([x]) => id(x)),
        d.map(() => "n-other"),
        c.map(([x]) => id(x)),
        c.map(() => "boom"),
        c.map(() => false),
        released.map((x) => x.keys.eventKey),
        released.map(id),
        ["n-a"],
        [5],
        ["alipay"],
        ["signature"],
        ["dsa"],
        ["not_asked"],
        ["processed"],
        ["e"],
        [3],
        processed
      ])
    }
  )
})
