import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // Loopback servers, subprocesses and a database: keep the 2-core machine from oversubscribing.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Reuse a worker process for the next file. vitest 3 decides this for the whole pool from the root config
    // only: a project's own `isolate: false` (below) keeps the module graph but still got a new process per
    // file. Measured on packages/core/test: 31 s of processor time isolated, 17 s shared. The fuzz project keeps
    // `isolate` (its default), so its files still get fresh modules, in a shared process.
    poolOptions: { forks: { isolate: false } },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/test/**/*.test.ts", "examples/**/*.test.ts"],
          // One module graph per worker, not per file: importing effect, the platform and the workspace again
          // for every file was most of the suite's processor time. vitest.setup.ts undoes the one known leak.
          isolate: false,
          setupFiles: ["./vitest.setup.ts"]
        }
      },
      {
        extends: true,
        // Processes, not threads: the linearity checks time with process.cpuUsage(), which counts every thread
        // of the process (core/test/fuzz.ts).
        test: { name: "fuzz", include: ["packages/*/test/**/*.fuzz.ts"], pool: "forks" }
      }
    ]
  }
})
