import { defineConfig } from "vitest/config";

/**
 * The high-availability and partition drills (`npm run test:ha`): each starts its own PostgreSQL
 * servers (a pg_auto_failover formation, four partitions), so no shared server is set up — only the
 * run's scratch directory, for the files they hand to processes — and one file runs at a time: each
 * already runs a dozen processes on this machine's two cores.
 */
export default defineConfig({
  test: {
    include: ["test/ha/**/*.test.ts"],
    globalSetup: ["test/support/scratch-setup.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: "forks",
    maxWorkers: 1,
  },
});
