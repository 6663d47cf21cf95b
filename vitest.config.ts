import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // Loopback servers, subprocesses and a database: keep the 2-core machine from oversubscribing.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
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
