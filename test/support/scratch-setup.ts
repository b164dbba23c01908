import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    scratchDir: string;
  }
}

/**
 * Once per run: a directory for the files tests hand to the processes they start (profiles), removed
 * with everything in it when the run ends. (A test file's own `exit` handlers do not run: vitest's
 * forks are stopped without them.)
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(path.join(tmpdir(), "omega-test-files-"));
  project.provide("scratchDir", dir);
  return () => rm(dir, { recursive: true, force: true });
}
