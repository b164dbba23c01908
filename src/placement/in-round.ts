/**
 * The placement vocabulary of the jobs placed earlier in the same plan (the same round).
 *
 * A job's vocabulary is resolved against the cell's claims when it is leased (ports held, domains
 * forbidden or required: omega.placement_context), but the commit judges a plan's placements in
 * order, counting the earlier ones it kept (omega.plan_vocabulary_verdicts). Without this, one plan
 * put two jobs' port 8080 on one machine, or a task beside one that repels it, and the commit
 * refused the later job's placements: in the race, such jobs were refused round after round.
 */
import { labelsInclude } from "./filters/selector.ts";
import { domainOf } from "./labels.ts";
import type { DomainTerm, InFlightJobView, InFlightView, JobView, MachineView } from "./types.ts";

export interface RoundVocabulary {
  /** Machines where an earlier job of the plan holds one of the job's host ports. */
  portMachines: ReadonlySet<number>;
  /** Domains the plan's earlier jobs forbid, in both directions of anti-affinity. */
  forbidden: readonly DomainTerm[];
  /** Per jobAffinity term of the job (in order), domains where the plan put a matching job. */
  required: readonly ReadonlySet<string>[];
}

const NO_PORTS: ReadonlySet<number> = new Set();

/**
 * What the jobs already in `inflight` (other than `job`) forbid or offer it; null when nothing
 * (the usual case: a plan of jobs that use no vocabulary costs one pass over its jobs).
 */
export function roundVocabulary(
  machines: readonly MachineView[] | ReadonlyMap<number, MachineView>,
  job: JobView,
  inflight: InFlightView,
): RoundVocabulary | null {
  const others = [...inflight.placedJobs()].filter((o) => o.job.id !== job.id && relevant(job, o.job));
  if (others.length === 0) return null;
  const byId =
    machines instanceof Map ? machines : new Map((machines as MachineView[]).map((m) => [m.id, m]));
  const domains = (where: ReadonlyMap<number, number>, key: string) => {
    const found = new Set<string>();
    for (const id of where.keys()) {
      const m = byId.get(id);
      const d = m && domainOf(m, key);
      if (d !== undefined) found.add(d);
    }
    return found;
  };
  const ports = job.vocabulary?.ports ?? [];
  const labels = job.labels ?? {};
  const portMachines = new Set<number>();
  const forbidden: DomainTerm[] = [];
  const affinity = job.vocabulary?.affinity ?? [];
  const required = affinity.map(() => new Set<string>());
  for (const { job: other, machines: where } of others) {
    if (ports.some((p) => other.vocabulary?.ports.includes(p)))
      for (const id of where.keys()) portMachines.add(id);
    // Its own anti-affinity: no task of a matching job in the domain.
    for (const t of job.vocabulary?.antiAffinity ?? []) {
      if (labelsInclude(other.labels ?? {}, t.selector))
        forbidden.push({ topologyKey: t.topologyKey, domains: domains(where, t.topologyKey), self: false });
    }
    // The other direction: no task beside a job whose anti-affinity selects this job's labels.
    for (const t of other.vocabulary?.antiAffinity ?? []) {
      if (labelsInclude(labels, t.selector))
        forbidden.push({ topologyKey: t.topologyKey, domains: domains(where, t.topologyKey), self: false });
    }
    affinity.forEach((t, i) => {
      if (labelsInclude(other.labels ?? {}, t.selector))
        for (const d of domains(where, t.topologyKey)) required[i]?.add(d);
    });
  }
  return { portMachines: portMachines.size > 0 ? portMachines : NO_PORTS, forbidden, required };
}

/** Whether `other`, placed earlier in the plan, can matter to `job` at all (cheap, no machines). */
function relevant(job: JobView, other: InFlightJobView): boolean {
  const mine = job.vocabulary;
  const theirs = other.vocabulary;
  if (mine && mine.ports.length > 0 && theirs && theirs.ports.length > 0) return true;
  if (theirs?.antiAffinity?.some((t) => labelsInclude(job.labels ?? {}, t.selector))) return true;
  const selects = (terms: readonly { selector: Readonly<Record<string, string>> }[] | undefined) =>
    terms?.some((t) => labelsInclude(other.labels ?? {}, t.selector)) ?? false;
  return selects(mine?.antiAffinity) || selects(mine?.affinity);
}
