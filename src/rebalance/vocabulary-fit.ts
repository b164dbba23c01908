/**
 * The placement vocabulary's hard rules for a move — host ports, job anti-affinity in both
 * directions, DoNotSchedule topology spread — as omega.commit_move's probe judges them
 * (decide_plan_checked, 0201), with the moved task's own claim counted as gone. Without this the
 * planner proposed moves the commit could only refuse (a task beside a job it repels), and spent
 * the period's moves on them.
 */
import { affinity } from "../placement/filters/affinity.ts";
import { labelsInclude, selector } from "../placement/filters/selector.ts";
import { domainOf } from "../placement/labels.ts";
import type { InFlightView, JobView, MachineView } from "../placement/types.ts";
import type { ClaimView, RebalanceJob } from "./types.ts";

/** What a move needs to read of the cell (CellModel provides it). */
export interface MoveVocabularyView {
  readonly machines: ReadonlyMap<number, MachineView>;
  claimsOn(machineId: number): ClaimView[];
  job(id: number): RebalanceJob | undefined;
  tasksOf(jobId: number): ReadonlyMap<number, number>;
  upMachines(): readonly MachineView[];
  jobView(job: RebalanceJob): JobView;
}

/** Whether the vocabulary lets the claim's task move to `to`; `repellers`: jobs with anti-affinity. */
export function vocabularyAllowsMove(
  model: MoveVocabularyView,
  job: RebalanceJob,
  claim: ClaimView,
  to: MachineView,
  repellers: readonly RebalanceJob[],
): boolean {
  const v = job.vocabulary;
  if (v && v.ports.length > 0 && portHeld(model, claim, to, v.ports)) return false;
  for (const t of v?.antiAffinity ?? []) {
    const domain = domainOf(to, t.topologyKey);
    if (
      domain !== undefined &&
      domainHolds(model, t.topologyKey, domain, claim, (j) => labelsInclude(j.labels, t.selector))
    )
      return false;
  }
  for (const r of repellers) {
    if (r.id === job.id) continue;
    for (const t of r.vocabulary?.antiAffinity ?? []) {
      if (!labelsInclude(v?.labels ?? {}, t.selector)) continue;
      const domain = domainOf(to, t.topologyKey);
      if (domain !== undefined && domainHolds(model, t.topologyKey, domain, claim, (j) => j.id === r.id))
        return false;
    }
  }
  return (v?.topologySpread ?? []).every((t) =>
    withinSkew(model, job, claim, to, t.topologyKey, t.maxSkew, t.whenUnsatisfiable),
  );
}

function portHeld(
  model: MoveVocabularyView,
  claim: ClaimView,
  to: MachineView,
  ports: readonly number[],
): boolean {
  return model
    .claimsOn(to.id)
    .some(
      (c) =>
        c.taskId !== claim.taskId && ports.some((p) => model.job(c.jobId)?.vocabulary?.ports.includes(p)),
    );
}

/** Whether a claim (other than the moved one) of a job `matches` sits in the domain. */
function domainHolds(
  model: MoveVocabularyView,
  key: string,
  domain: string,
  moved: ClaimView,
  matches: (job: { id: number; labels: Readonly<Record<string, string>> }) => boolean,
): boolean {
  for (const m of model.machines.values()) {
    if (domainOf(m, key) !== domain) continue;
    for (const c of model.claimsOn(m.id)) {
      const j = c.taskId === moved.taskId ? undefined : model.job(c.jobId);
      if (j && matches({ id: j.id, labels: j.vocabulary?.labels ?? {} })) return true;
    }
  }
  return false;
}

const NO_PLAN = {} as InFlightView;

/** DoNotSchedule: one more task in the target's domain, one fewer in the source's, within maxSkew. */
function withinSkew(
  model: MoveVocabularyView,
  job: RebalanceJob,
  claim: ClaimView,
  to: MachineView,
  key: string,
  maxSkew: number,
  when: string | undefined,
): boolean {
  if ((when ?? "DoNotSchedule") !== "DoNotSchedule") return true;
  const view = model.jobView(job);
  const counts = new Map<string, number>();
  for (const m of model.upMachines()) {
    const d = domainOf(m, key);
    if (d !== undefined && selector(m, view, NO_PLAN).ok && affinity(m, view, NO_PLAN).ok) counts.set(d, 0);
  }
  for (const [id, n] of model.tasksOf(job.id)) {
    const m = model.machines.get(id);
    const d = m && domainOf(m, key);
    const held = d === undefined ? undefined : counts.get(d);
    if (d !== undefined && held !== undefined) counts.set(d, held + n - (id === claim.machineId ? 1 : 0));
  }
  const target = domainOf(to, key);
  const here = target === undefined ? undefined : counts.get(target);
  if (here === undefined) return false;
  return here + 1 - Math.min(...counts.values()) <= maxSkew;
}
