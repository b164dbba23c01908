import { readFile } from "node:fs/promises";
import { z } from "zod";
import { builtinProfiles, type SchedulerProfile } from "../placement/profiles.ts";

const filterName = z.enum([
  "machineState",
  "capacity",
  "selector",
  "affinity",
  "tolerations",
  "maxPerMachine",
]);
const scorerName = z.enum([
  "leastAllocated",
  "mostAllocated",
  "balancedAllocation",
  "spread",
  "taintToleration",
  "nodeAffinity",
]);

/** A profile in a --profiles file; omitted fields come from the built-in profile it `extends`. */
const profileFile = z.record(
  z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
  z
    .object({
      extends: z.enum(["batch", "service"]).default("batch"),
      filters: z.array(filterName).optional(),
      scorers: z
        .array(z.object({ name: scorerName, weight: z.number().min(0).max(100) }).strict())
        .optional(),
      description: z.string().max(500).optional(),
      sampleSize: z.number().int().min(1).max(100_000).optional(),
      sampleFraction: z.number().min(0).max(1).optional(),
      spreadBy: z.string().min(1).max(253).optional(),
      conflictMode: z.enum(["fine", "coarse"]).optional(),
      transactionMode: z.enum(["incremental", "all-or-nothing"]).optional(),
      maxAttempts: z.number().int().min(1).max(100).optional(),
      batchSize: z.number().int().min(1).max(10_000).optional(),
      preemption: z.boolean().optional(),
      extender: z
        .object({
          url: z.url(),
          timeoutMs: z.number().int().min(1).max(60_000).optional(),
          ignorable: z.boolean().optional(),
          weight: z.number().min(0).max(100).optional(),
        })
        .strict()
        .optional(),
      decisionTime: z
        .object({ jobMs: z.number().min(0).max(600_000), taskMs: z.number().min(0).max(60_000) })
        .strict()
        .optional(),
    })
    .strict(),
);

/**
 * The profile named `name`: a built-in one (`batch`, `service`), or one defined in a JSON file of
 * `{ "<name>": { "extends": "batch", ...overrides } }` — like KubeSchedulerConfiguration profiles.
 */
export async function loadProfile(name: string, file?: string): Promise<SchedulerProfile> {
  const defined: Record<string, SchedulerProfile> = { ...builtinProfiles };
  if (file) {
    const parsed = profileFile.safeParse(JSON.parse(await readFile(file, "utf8")));
    if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
    for (const [profileName, { extends: base, ...overrides }] of Object.entries(parsed.data)) {
      const defaults = builtinProfiles[base] as SchedulerProfile;
      const defined_ = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
      defined[profileName] = { ...defaults, ...defined_, name: profileName };
    }
  }
  const profile = defined[name];
  if (!profile)
    throw new Error(`unknown scheduler ${JSON.stringify(name)}; known: ${Object.keys(defined).join(", ")}`);
  return profile;
}
