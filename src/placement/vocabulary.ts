import { affinity } from "./filters/affinity.ts";
import { PASS, reject } from "./filters/result.ts";
import { selector } from "./filters/selector.ts";
import { roundVocabulary } from "./in-round.ts";
import { domainOf } from "./labels.ts";
import type {
  DomainTerm,
  Filter,
  InFlightView,
  JobView,
  JobVocabulary,
  MachineView,
  TopologySpreadTerm,
} from "./types.ts";

export { domainOf };

/**
 * The job's tasks per domain of one topology key, over the eligible domains (up machines its
 * selector and affinity allow), counting its claims and the plan's placements; min and max follow.
 * As omega.plan_spread_verdicts counts them.
 */
export class TopologyCounts {
  readonly term: TopologySpreadTerm;
  readonly #counts = new Map<string, number>();
  #min = 0;
  #max = 0;

  constructor(
    term: TopologySpreadTerm,
    machines: readonly MachineView[],
    job: JobView,
    inflight: InFlightView,
  ) {
    this.term = term;
    const byId = new Map<number, MachineView>();
    for (const m of machines) {
      if (m.state !== "up" || !selector(m, job, inflight).ok || !affinity(m, job, inflight).ok) continue;
      const domain = domainOf(m, term.topologyKey);
      if (domain === undefined) continue;
      byId.set(m.id, m);
      if (!this.#counts.has(domain)) this.#counts.set(domain, 0);
    }
    for (const source of [job.placedPerMachine, inflight.tasksOf(job.id)]) {
      for (const [id, n] of source) {
        const m = byId.get(id);
        const domain = m && domainOf(m, term.topologyKey);
        if (domain !== undefined) this.#counts.set(domain, (this.#counts.get(domain) ?? 0) + n);
      }
    }
    this.#refresh();
  }

  #refresh(): void {
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (const n of this.#counts.values()) {
      if (n < min) min = n;
      if (n > max) max = n;
    }
    this.#min = Number.isFinite(min) ? min : 0;
    this.#max = max;
  }

  /** Undefined when the machine is not in an eligible domain. */
  countOf(machine: MachineView): number | undefined {
    const domain = domainOf(machine, this.term.topologyKey);
    return domain === undefined ? undefined : this.#counts.get(domain);
  }

  get min(): number {
    return this.#min;
  }

  get max(): number {
    return this.#max;
  }

  record(machine: MachineView): void {
    const domain = domainOf(machine, this.term.topologyKey);
    const n = domain === undefined ? undefined : this.#counts.get(domain);
    if (domain === undefined || n === undefined) return;
    this.#counts.set(domain, n + 1);
    if (n + 1 > this.#max) this.#max = n + 1;
    if (n === this.#min) this.#refresh();
  }
}

/** Where the plan has put the job's tasks so far, by domain of a key. */
function inflightDomains(
  machines: ReadonlyMap<number, MachineView>,
  job: JobView,
  inflight: InFlightView,
  key: string,
): Set<string> {
  const domains = new Set<string>();
  for (const [id, n] of inflight.tasksOf(job.id)) {
    const m = machines.get(id);
    const domain = n > 0 && m ? domainOf(m, key) : undefined;
    if (domain !== undefined) domains.add(domain);
  }
  return domains;
}

function antiAffinityAllows(
  term: DomainTerm,
  machine: MachineView,
  job: JobView,
  inflight: InFlightView,
  byId: ReadonlyMap<number, MachineView>,
): boolean {
  const domain = domainOf(machine, term.topologyKey);
  if (domain === undefined) return true;
  if (term.domains.has(domain)) return false;
  if (!term.self) return true;
  if (term.topologyKey === "machine") return inflight.count(job.id, machine.id) === 0;
  return !inflightDomains(byId, job, inflight, term.topologyKey).has(domain);
}

function affinityAllows(
  term: DomainTerm,
  machine: MachineView,
  job: JobView,
  inflight: InFlightView,
  byId: ReadonlyMap<number, MachineView>,
): boolean {
  const domain = domainOf(machine, term.topologyKey);
  if (domain === undefined) return false;
  if (term.domains.has(domain)) return true;
  // Kubernetes: with no matching task anywhere, a job matching its own term may start the group.
  if (!term.self || term.domains.size > 0) return false;
  const planned = inflightDomains(byId, job, inflight, term.topologyKey);
  return planned.size === 0 || planned.has(domain);
}

/**
 * The per-task filters of the job's vocabulary (none for a job without one), and what to call
 * after each placement so the spread counts follow the plan. Per task: each reads the plan so far.
 * What earlier jobs of the plan hold (their ports, their labels and anti-affinity) counts as the
 * cell's claims do, as the commit counts it (in-round.ts).
 */
export function vocabularyStages(
  machines: readonly MachineView[],
  job: JobView,
  inflight: InFlightView,
): {
  filters: Filter[];
  /** Those of `filters` that the job's own placements can turn from no to yes (see placeTasks). */
  liftable: Filter[];
  spreads: TopologyCounts[];
  record: (machine: MachineView) => void;
} {
  const v: JobVocabulary | undefined = job.vocabulary;
  const filters: Filter[] = [];
  const liftable: Filter[] = [];
  const byId = v ? new Map(machines.map((m) => [m.id, m])) : null;
  const round = roundVocabulary(byId ?? machines, job, inflight);
  if (!v && !round) return { filters, liftable, spreads: [], record: () => {} };
  const ids = byId ?? new Map(machines.map((m) => [m.id, m]));
  const spreads = (v?.topologySpread ?? []).map((t) => new TopologyCounts(t, machines, job, inflight));
  if (v && v.ports.length > 0) {
    // Every task of the job holds the same ports: one per machine, and none where they are held.
    const roundPorts = round?.portMachines;
    filters.push((m, j, plan) =>
      v.portMachines.has(m.id) || roundPorts?.has(m.id) || plan.count(j.id, m.id) > 0
        ? reject("host port in use")
        : PASS,
    );
  }
  for (const term of [...(v?.forbidden ?? []), ...(round?.forbidden ?? [])]) {
    filters.push((m, j, plan) =>
      antiAffinityAllows(term, m, j, plan, ids) ? PASS : reject("job anti-affinity"),
    );
  }
  for (const [i, cellTerm] of (v?.required ?? []).entries()) {
    const planned = round?.required[i];
    const term =
      planned && planned.size > 0
        ? { ...cellTerm, domains: new Set([...cellTerm.domains, ...planned]) }
        : cellTerm;
    // A task of the job itself may open a domain (a job drawn to its own kind).
    const allows: Filter = (m, j, plan) =>
      affinityAllows(term, m, j, plan, ids) ? PASS : reject("job affinity");
    filters.push(allows);
    liftable.push(allows);
  }
  for (const counts of spreads) {
    if ((counts.term.whenUnsatisfiable ?? "DoNotSchedule") !== "DoNotSchedule") continue;
    // The job's tasks in the emptiest domain raise the minimum: a refused domain may be allowed again.
    const evens: Filter = (m) => {
      const n = counts.countOf(m);
      return n !== undefined && n + 1 - counts.min <= counts.term.maxSkew ? PASS : reject("topology spread");
    };
    filters.push(evens);
    liftable.push(evens);
  }
  const record = (m: MachineView) => {
    for (const s of spreads) s.record(m);
  };
  return { filters, liftable, spreads, record };
}
