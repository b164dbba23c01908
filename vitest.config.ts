import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["test/support/global-setup.ts"],
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Concurrency tests start several worker processes each; two files at a time is what 2 cores take.
    pool: "forks",
    maxWorkers: 2,
  },
});
