import { activeStages } from "../placement/pipeline.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import type { Explanation, InFlightView, JobView, MachineView } from "../placement/types.ts";

/**
 * A scheduler extender (kube-scheduler's extender webhook): an HTTP endpoint a profile names, called
 * once per job and round with the machines that pass the job's static filters; it answers which of
 * them to keep and, optionally, a score for each.
 *
 *   POST <url>  {"job": {id, priority, resources, constraints}, "machines": [{"name", "labels"}]}
 *   200         {"machines": ["m1", ...]?, "scores": {"m1": 0-100, ...}?}
 *
 * An omitted `machines` keeps them all; an omitted score is 0. Slow (past `timeoutMs`), down, or an
 * answer that is not that shape is a failure: an `ignorable` extender is then left out (the job is
 * planned without it); otherwise the job is not planned this round and waits, its reason saying so.
 * The commit procedure re-checks every hard rule whatever an extender says.
 */
export interface ExtenderConfig {
  url: string;
  /** (Default: 1000 ms) */
  timeoutMs?: number;
  /** (Default: false) */
  ignorable?: boolean;
  /** How much its scores weigh beside the profile's scorers. (Default: 1) */
  weight?: number;
}

export interface ExtendedJob {
  machines: readonly MachineView[];
  job: JobView;
  /** Set when the job must not be planned this round (a failed extender that is not ignorable). */
  unavailable?: Explanation;
}

const TIMEOUT_MS = 1_000;

/** Told of each failed call (the worker logs it): what failed, and what the policy did about it. */
export type ExtenderFailure = (failure: {
  jobId: number;
  url: string;
  error: string;
  ignorable: boolean;
}) => void;

/** Runs the profile's extender for one job; without one, the job and machines as they are. */
export async function extend(
  profile: SchedulerProfile & { extender?: ExtenderConfig },
  job: JobView,
  machines: readonly MachineView[],
  onFailure?: ExtenderFailure,
): Promise<ExtendedJob> {
  const extender = profile.extender;
  if (!extender) return { machines, job };
  const statics = activeStages(profile).filter((s) => !s.perTask);
  const candidates = machines.filter((m) => statics.every((s) => s.filter(m, job, NO_PLAN).ok));
  try {
    const answer = await call(extender, job, candidates);
    const keep = answer.machines ? new Set(answer.machines) : null;
    const kept = keep ? candidates.filter((m) => keep.has(m.name)) : candidates;
    const scores = new Map<number, number>();
    for (const m of kept) scores.set(m.id, clampScore(answer.scores?.[m.name]));
    return { machines: kept, job: { ...job, extenderScores: { weight: extender.weight ?? 1, scores } } };
  } catch (error) {
    const ignorable = extender.ignorable ?? false;
    onFailure?.({ jobId: job.id, url: extender.url, error: describe(error), ignorable });
    if (ignorable) return { machines, job };
    return {
      machines,
      job,
      unavailable: {
        machines: machines.length,
        feasible: 0,
        rejected: { "extender unavailable": machines.length },
      },
    };
  }
}

/** A timeout, a refused connection or a bad answer, in a few words for the log. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return cause ? `${error.message} (${cause})` : error.message;
}

function clampScore(score: unknown): number {
  return typeof score === "number" && Number.isFinite(score) ? Math.min(100, Math.max(0, score)) : 0;
}

interface Answer {
  machines?: string[];
  scores?: Record<string, number>;
}

async function call(
  extender: ExtenderConfig,
  job: JobView,
  candidates: readonly MachineView[],
): Promise<Answer> {
  const response = await fetch(extender.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      job: { id: job.id, priority: job.priority, resources: job.request, constraints: job.constraints },
      machines: candidates.map((m) => ({ name: m.name, labels: m.labels })),
    }),
    signal: AbortSignal.timeout(extender.timeoutMs ?? TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`extender answered ${response.status}`);
  const body = (await response.json()) as unknown;
  if (!isAnswer(body)) throw new Error("extender answered something else than {machines?, scores?}");
  return body;
}

function isAnswer(body: unknown): body is Answer {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
  const { machines, scores } = body as Record<string, unknown>;
  if (machines !== undefined && !(Array.isArray(machines) && machines.every((m) => typeof m === "string")))
    return false;
  if (scores !== undefined && (typeof scores !== "object" || scores === null || Array.isArray(scores)))
    return false;
  return true;
}

// Static filters read neither the plan nor usage.
const NO_PLAN = {} as InFlightView;
