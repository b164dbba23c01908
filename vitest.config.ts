import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["test/support/global-setup.ts", "test/support/scratch-setup.ts"],
    include: ["test/**/*.test.ts"],
    // The drills start their own servers and run on their own: npm run test:ha (vitest.ha.config.ts).
    exclude: ["test/ha/**", "**/node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Concurrency tests start several worker processes each; two files at a time is what 2 cores take.
    pool: "forks",
    maxWorkers: 2,
  },
});
