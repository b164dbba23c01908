import { readFile } from "node:fs/promises";
import { z } from "zod";
import { builtinProfiles, type SchedulerProfile } from "../placement/profiles.ts";
import { conflictingStrategies, type RebalanceProfile, rebalanceProfile } from "../rebalance/profile.ts";
import { STRATEGIES } from "../rebalance/types.ts";

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

/** A rebalancing profile in a --profiles file: `"extends": "rebalance"`, then its settings. */
const rebalanceEntry = z
  .object({
    extends: z.literal("rebalance"),
    description: z.string().max(500).optional(),
    strategies: z
      .array(z.enum(STRATEGIES))
      .min(1)
      .refine(
        (s) => conflictingStrategies(s) === null,
        "LowNodeUtilization and HighNodeUtilization undo each other",
      )
      .optional(),
    periodMs: z.number().int().min(100).max(86_400_000).optional(),
    lowThreshold: z.number().min(0).max(1).optional(),
    highThreshold: z.number().min(0).max(1).optional(),
    maxMovesPerPeriod: z.number().int().min(1).max(10_000).optional(),
    maxMovesPerMinute: z.number().int().min(1).max(100_000).optional(),
    cooldownSeconds: z.number().min(0).max(86_400).optional(),
  })
  .strict();

/** A profile in a --profiles file; omitted fields come from the built-in profile it `extends`. */
const profileFile = z.record(
  z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/),
  z.union([
    rebalanceEntry,
    z
      .object({
        extends: z.enum(["batch", "service", "flow"]).default("batch"),
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
        // The flow scheduler's costs (src/placement/flow/costs.ts); with it, a profile places by flow.
        flow: z
          .object({
            locality: z.number().min(0).max(100),
            load: z.number().min(0).max(100),
            pack: z.number().min(0).max(100).default(0),
            gpu: z.number().min(0).max(100).default(1),
            priority: z.number().min(0).max(100),
            wait: z.number().min(0).max(100),
            preemption: z.number().min(0).max(100_000),
          })
          .strict()
          .optional(),
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
  ]),
);

/**
 * The profile named `name`: a built-in one (`batch`, `service`), or one defined in a JSON file of
 * `{ "<name>": { "extends": "batch", ...overrides } }` — like KubeSchedulerConfiguration profiles.
 */
export async function loadProfile(name: string, file?: string): Promise<SchedulerProfile> {
  const profile = await loadAnyProfile(name, file);
  if (profile.kind === "rebalance") throw new Error(`${name} is a rebalancing scheduler: it places no job`);
  return profile;
}

/**
 * A placing profile (as loadProfile) or a rebalancing one: the built-in `rebalance`, or one of
 * `{ "<name>": { "extends": "rebalance", "strategies": [...], "periodMs": 5000, ... } }`.
 */
export async function loadAnyProfile(
  name: string,
  file?: string,
): Promise<(SchedulerProfile & { kind?: undefined }) | RebalanceProfile> {
  const defined: Record<string, SchedulerProfile | RebalanceProfile> = {
    ...builtinProfiles,
    rebalance: rebalanceProfile,
  };
  if (file) {
    const parsed = profileFile.safeParse(JSON.parse(await readFile(file, "utf8")));
    if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
    for (const [profileName, entry] of Object.entries(parsed.data)) {
      if (entry.extends === "rebalance") {
        const { extends: _, description, ...settings } = entry;
        const set = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
        defined[profileName] = {
          ...rebalanceProfile,
          name: profileName,
          description: description ?? rebalanceProfile.description,
          rebalance: { ...rebalanceProfile.rebalance, ...set },
        };
        continue;
      }
      const { extends: base, ...overrides } = entry;
      const defaults = builtinProfiles[base] as SchedulerProfile;
      const defined_ = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
      defined[profileName] = { ...defaults, ...defined_, name: profileName };
    }
  }
  const profile = defined[name];
  if (!profile)
    throw new Error(`unknown scheduler ${JSON.stringify(name)}; known: ${Object.keys(defined).join(", ")}`);
  return profile as (SchedulerProfile & { kind?: undefined }) | RebalanceProfile;
}
