import type { Pool } from "../../src/db/pool.ts";

/** Which task events may follow which task state, and the state they lead to. */
const TRANSITIONS: Record<string, { from: readonly string[]; to: string }> = {
  placed: { from: ["pending"], to: "placed" },
  running: { from: ["placed"], to: "running" },
  succeeded: { from: ["placed", "running"], to: "succeeded" },
  failed: { from: ["placed", "running"], to: "failed" },
  retried: { from: ["failed"], to: "pending" },
  lost: { from: ["placed", "running"], to: "pending" },
  preempted: { from: ["placed", "running"], to: "pending" },
  returned: { from: ["placed", "running"], to: "pending" },
};
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

export interface Stories {
  problems: string[];
  kinds: Record<string, number>;
  finals: Record<string, number>;
  eventsPerJob: Map<number, number>;
}

/**
 * Replays the whole event log: every task's events must walk the lifecycle from `pending` to the
 * state the task is in now (a cancelled job's tasks stop wherever they were), with one `retried`
 * per retry used; every job's events start with one `submitted` and end with exactly one final
 * event, its current state.
 */
export async function replayStories(pool: Pool): Promise<Stories> {
  const [events, tasks, jobs] = await Promise.all([
    pool.query<{ job_id: number; task_id: number | null; kind: string }>(
      "select job_id, task_id, kind from omega.events order by id",
    ),
    pool.query<{ id: number; job_id: number; state: string; attempts: number }>(
      "select id, job_id, state, attempts from omega.tasks",
    ),
    pool.query<{ id: number; state: string; max_retries: number }>(
      "select id, state, max_retries from omega.jobs",
    ),
  ]);
  const problems: string[] = [];
  const kinds: Record<string, number> = {};
  const eventsPerJob = new Map<number, number>();
  const taskWalk = new Map<number, { state: string; retries: number }>();
  const jobEvents = new Map<number, string[]>();
  for (const e of events.rows) {
    kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
    eventsPerJob.set(e.job_id, (eventsPerJob.get(e.job_id) ?? 0) + 1);
    if (e.task_id === null) {
      jobEvents.set(e.job_id, [...(jobEvents.get(e.job_id) ?? []), e.kind]);
      continue;
    }
    const walk = taskWalk.get(e.task_id) ?? { state: "pending", retries: 0 };
    const rule = TRANSITIONS[e.kind];
    if (!rule?.from.includes(walk.state)) problems.push(`task ${e.task_id}: ${e.kind} after ${walk.state}`);
    walk.state = rule?.to ?? walk.state;
    if (e.kind === "retried") walk.retries++;
    taskWalk.set(e.task_id, walk);
  }

  const jobState = new Map(jobs.rows.map((j) => [j.id, j]));
  for (const t of tasks.rows) {
    const walk = taskWalk.get(t.id) ?? { state: "pending", retries: 0 };
    const job = jobState.get(t.job_id);
    const cancelledMidway = t.state === "cancelled" && ["pending", "placed", "running"].includes(walk.state);
    if (walk.state !== t.state && !cancelledMidway) {
      problems.push(`task ${t.id}: its events end in ${walk.state}, it is ${t.state}`);
    }
    if (walk.retries !== t.attempts)
      problems.push(`task ${t.id}: ${walk.retries} retried events, ${t.attempts} attempts`);
    if (job && t.attempts > job.max_retries)
      problems.push(`task ${t.id}: ${t.attempts} retries, max ${job.max_retries}`);
  }

  const finals: Record<string, number> = {};
  for (const job of jobs.rows) {
    const story = jobEvents.get(job.id) ?? [];
    const ends = story.filter((k) => FINAL.has(k));
    finals[job.state] = (finals[job.state] ?? 0) + 1;
    if (story[0] !== "submitted" || story.filter((k) => k === "submitted").length !== 1) {
      problems.push(`job ${job.id}: does not start with one submitted event: ${story.join(", ")}`);
    }
    if (ends.length !== 1 || story.at(-1) !== job.state) {
      problems.push(
        `job ${job.id} (${job.state}): final events ${ends.join(", ") || "none"}: ${story.join(", ")}`,
      );
    }
  }
  return { problems, kinds, finals, eventsPerJob };
}
