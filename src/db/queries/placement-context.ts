import type {
  AffinityTerm,
  JobVocabulary,
  PreferredAffinityTerm,
  SelectorTerm,
  TopologySpreadTerm,
} from "../../placement/types.ts";
import type { Queryable } from "./queryable.ts";

export interface ContextRow {
  job_id: string;
  labels: Record<string, string>;
  ports: number[];
  vocabulary: {
    preferredAffinity?: (AffinityTerm & { weight: number })[];
    topologySpread?: TopologySpreadTerm[];
    jobAffinity?: SelectorTerm[];
    jobAntiAffinity?: SelectorTerm[];
  } | null;
  port_machines: string[] | null;
  forbidden: { topologyKey: string; domains: string[]; self: boolean }[];
  required: { topologyKey: string; domains: string[]; self: boolean }[];
}

/** A leased job's vocabulary, resolved against the cell: what the planner's vocabulary filters read. */
export interface PlacementContext {
  preferredAffinity: readonly PreferredAffinityTerm[];
  vocabulary: JobVocabulary | undefined;
  /** Its labels: the jobs planned after it in the same plan read them (placement/in-round.ts). */
  labels: Readonly<Record<string, string>>;
}

/**
 * The placement vocabulary of leased jobs, in one round trip (omega.placement_context): labels,
 * ports, topology spread, and inter-job affinity resolved to domains. Jobs using none of it get
 * no vocabulary (their plan is what it always was).
 */
export async function placementContexts(
  db: Queryable,
  cell: string,
  jobIds: readonly number[],
): Promise<Map<number, PlacementContext>> {
  const contexts = new Map<number, PlacementContext>();
  if (jobIds.length === 0) return contexts;
  const { rows } = await db.query<ContextRow>({
    name: "omega.placement_context",
    text: "select * from omega.placement_context($1, $2)",
    values: [cell, jobIds],
  });
  for (const row of rows) contexts.set(Number(row.job_id), contextOf(row));
  return contexts;
}

/** One row of omega.placement_context, as the planner reads it. */
export function contextOf(row: ContextRow): PlacementContext {
  const v = row.vocabulary;
  const uses =
    row.ports.length > 0 ||
    row.forbidden.length > 0 ||
    row.required.length > 0 ||
    (v?.topologySpread?.length ?? 0) > 0;
  return {
    preferredAffinity: v?.preferredAffinity ?? [],
    labels: row.labels ?? {},
    vocabulary: uses
      ? {
          ports: row.ports,
          portMachines: new Set((row.port_machines ?? []).map(Number)),
          topologySpread: v?.topologySpread ?? [],
          forbidden: row.forbidden.map((t) => ({ ...t, domains: new Set(t.domains) })),
          required: row.required.map((t) => ({ ...t, domains: new Set(t.domains) })),
          antiAffinity: v?.jobAntiAffinity ?? [],
          affinity: v?.jobAffinity ?? [],
        }
      : undefined,
  };
}
