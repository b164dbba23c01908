/**
 * Cluster-wide lists over several partitions: each partition answers the same request, and the
 * front merges the pages. Ids are unique across partitions (migration 0061), so id order is one
 * order over all of them and an id cursor (`after`) means the same on every partition.
 */

type Row = Record<string, unknown>;
const idOf = (row: Row) => Number(row.id);
const byId = (a: Row, b: Row) => idOf(a) - idOf(b);

/** GET /v1/jobs: the first `limit` jobs after the cursor over all partitions, in id order. */
export function mergeJobPages(pages: { jobs: Row[]; next: number | null }[], limit: number) {
  const all = pages.flatMap((p) => p.jobs).sort(byId);
  const jobs = all.slice(0, limit);
  const more = all.length > limit || pages.some((p) => p.next !== null);
  return { jobs, next: more && jobs.length > 0 ? idOf(jobs[jobs.length - 1] as Row) : null };
}

/**
 * GET /v1/events: after a cursor, the first `limit` events over all partitions; without one, the
 * latest `limit` (each partition sent its latest `limit`), oldest first either way.
 */
export function mergeEventPages(pages: { events: Row[] }[], limit: number, after: boolean) {
  const all = pages.flatMap((p) => p.events).sort(byId);
  return { events: after ? all.slice(0, limit) : all.slice(Math.max(0, all.length - limit)) };
}

/** GET /v1/cells: every partition's cells, by name. */
export function mergeCells(pages: { cells: Row[] }[]) {
  const cells = pages.flatMap((p) => p.cells);
  return { cells: cells.sort((a, b) => String(a.name).localeCompare(String(b.name))) };
}

/** GET /v1/quotas: every partition's quotas (each one is a cell's). */
export function mergeQuotas(pages: { quotas: Row[] }[]) {
  const key = (q: Row) => `${q.tenant}\u0000${q.cell}\u0000${q.band}`;
  return { quotas: pages.flatMap((p) => p.quotas).sort((a, b) => key(a).localeCompare(key(b))) };
}

interface Stats {
  plans: number;
  placementsAttempted: number;
  placementsCommitted: number;
  placementsRejected: number;
  conflicts: number;
  conflictFraction: number;
  avgCommitMs: number;
}

/**
 * GET /v1/schedulers: the profiles are the same everywhere (the first partition's are shown); the
 * commit statistics add up. The conflict fraction is conflicts per plan that committed something,
 * recomputed from each partition's (conflicts ÷ fraction gives its committing plans); the mean
 * commit time is weighted by plans.
 */
export function mergeSchedulers(pages: { schedulers: (Row & { name: string; stats: Stats })[] }[]) {
  const merged = new Map<string, Row & { name: string; stats: Stats }>();
  const committing = new Map<string, number>();
  for (const page of pages) {
    for (const s of page.schedulers) {
      const plansCommitting =
        s.stats.conflictFraction > 0 ? s.stats.conflicts / s.stats.conflictFraction : s.stats.plans;
      committing.set(s.name, (committing.get(s.name) ?? 0) + plansCommitting);
      const seen = merged.get(s.name);
      if (!seen) {
        merged.set(s.name, { ...s, stats: { ...s.stats, avgCommitMs: s.stats.avgCommitMs * s.stats.plans } });
        continue;
      }
      const a = seen.stats;
      const b = s.stats;
      a.plans += b.plans;
      a.placementsAttempted += b.placementsAttempted;
      a.placementsCommitted += b.placementsCommitted;
      a.placementsRejected += b.placementsRejected;
      a.conflicts += b.conflicts;
      a.avgCommitMs += b.avgCommitMs * b.plans;
    }
  }
  const schedulers = [...merged.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const s of schedulers) {
    const plansCommitting = committing.get(s.name) ?? 0;
    s.stats.conflictFraction = plansCommitting > 0 ? s.stats.conflicts / plansCommitting : 0;
    s.stats.avgCommitMs = s.stats.plans > 0 ? s.stats.avgCommitMs / s.stats.plans : 0;
  }
  return { schedulers };
}
