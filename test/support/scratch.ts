import { randomUUID } from "node:crypto";
import path from "node:path";
import { inject } from "vitest";

/** A path for a file a test writes for a process it starts: in the run's scratch directory (scratch-setup.ts). */
export function scratchFile(name: string): string {
  return path.join(inject("scratchDir"), `${randomUUID()}-${name}`);
}
