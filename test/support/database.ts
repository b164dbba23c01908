import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { type ClonedDatabase, cloneDatabase } from "../../src/db/cloned-database.ts";

export type TestDatabase = ClonedDatabase;

/** A fresh database cloned from the migrated template; drop it when done. */
export function createTestDatabase(): Promise<TestDatabase> {
  // Named after the run's main process (the global setup sweeps leftovers by that prefix).
  const name = `omega_test_${process.ppid}_${randomBytes(5).toString("hex")}`;
  return cloneDatabase(inject("serverUrl"), name, inject("templateDatabase"), {
    max: 10,
    name: "omega-test",
  });
}
