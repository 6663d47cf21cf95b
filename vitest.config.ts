import type { TestSpecification } from "vitest/node"
import { BaseSequencer } from "vitest/node"
import { defineConfig } from "vitest/config"

/**
 * The files that take longest, longest first (measured on the 2-core machine). Two workers take files from one
 * queue in this order, so a long file never starts last and becomes the tail of the run. vitest's own order
 * (slowest first) needs the results of an earlier run; without them (a fresh clone) it goes by file size, and
 * these are small files that start processes, a browser or a database.
 */
const SLOWEST_FIRST = [
  "packages/inbox-sql/test/SqlInbox.pg.test.ts",
  "packages/cli/test/Demo.test.ts",
  "packages/inbox-sql/test/JournalCrash.test.ts",
  "packages/inbox-sql/test/TwoReceivers.test.ts",
  "packages/cli/test/Startup.test.ts",
  "packages/core/test/Properties.test.ts",
  "packages/console/test/ReceiverConsoleBrowser.test.ts",
  "packages/inbox-sql/test/CrashRecovery.test.ts",
  "packages/testkit/test/SandboxConsoleBrowser.test.ts",
  "packages/core/test/Notification.fuzz.ts",
  "packages/inbox-sql/test/SqlInbox.sqlite.test.ts",
  "packages/crypto-dsa/test/Properties.test.ts",
  "packages/inbox-sql/test/ReplayCrash.test.ts",
  "packages/cli/test/Usage.test.ts",
  "packages/cli/test/Keys.test.ts",
  "packages/crypto-dsa/test/Conformance.test.ts",
  "packages/node-http/test/HttpTransport.test.ts",
  "packages/core/test/ConfirmRequest.fuzz.ts",
  "packages/core/test/GatewayResponse.fuzz.ts",
  "packages/inbox-sql/test/Upgrade.test.ts",
  "packages/inbox-sql/test/Operators.test.ts",
  "packages/testkit/test/Sandbox.test.ts",
  "packages/node-http/test/NotificationEndpoint.test.ts",
  "packages/inbox-sql/test/GroupCommit.test.ts",
  "packages/core/test/SigningString.fuzz.ts"
]

class SlowestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>) {
    const rank = (spec: TestSpecification) => {
      const i = SLOWEST_FIRST.findIndex((file) => spec.moduleId.endsWith(file))
      return i === -1 ? SLOWEST_FIRST.length : i
    }
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b))
  }
}

export default defineConfig({
  test: {
    // Loopback servers, subprocesses and a database: keep the 2-core machine from oversubscribing.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    sequence: { sequencer: SlowestFirst },
    // Reuse a worker process for the next file. vitest 3 decides this for the whole pool from the root config
    // only: a project's own `isolate: false` (below) keeps the module graph but still got a new process per
    // file. Measured on packages/core/test: 31 s of processor time isolated, 17 s shared.
    poolOptions: { forks: { isolate: false } },
    // One project, so one queue. vitest runs two projects one after the other (it waits for the first to end and
    // recycles the workers before the second starts): a separate project for the hostile-input files left a
    // worker idle at the end of the first and paid for a fresh module graph per fuzz file. `pnpm test:fuzz`
    // picks the same files by name (`.fuzz.ts`), with more runs.
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/test/**/*.test.ts", "packages/*/test/**/*.fuzz.ts", "examples/**/*.test.ts"],
          // One module graph per worker, not per file: importing effect, the platform and the workspace again
          // for every file was most of the suite's processor time. vitest.setup.ts undoes the one known leak.
          // The linearity checks of the fuzz files time with process.cpuUsage(), which counts the whole
          // process: the pool is processes (forks, vitest's default), one file at a time each.
          isolate: false,
          setupFiles: ["./vitest.setup.ts"]
        }
      }
    ]
  }
})
