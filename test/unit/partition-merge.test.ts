import { describe, expect, it } from "vitest";
import { mergeEventPages, mergeJobPages, mergeSchedulers } from "../../src/api/partitioned/merge.ts";

const jobs = (...ids: number[]) => ids.map((id) => ({ id }));

describe("merging the partitions' pages", () => {
  it("jobs: the first `limit` over all partitions in id order, with a cursor while any partition has more", () => {
    const pages = [
      { jobs: jobs(1, 5, 9), next: 9 },
      { jobs: jobs(2, 6), next: null },
      { jobs: jobs(3), next: null },
      { jobs: [], next: null },
    ];
    expect(mergeJobPages(pages, 3)).toEqual({ jobs: jobs(1, 2, 3), next: 3 });
    expect(mergeJobPages(pages, 10)).toEqual({ jobs: jobs(1, 2, 3, 5, 6, 9), next: 9 });
    expect(mergeJobPages([{ jobs: jobs(4), next: null }], 10)).toEqual({ jobs: jobs(4), next: null });
    expect(mergeJobPages([{ jobs: [], next: null }], 10)).toEqual({ jobs: [], next: null });
  });

  it("events: after a cursor the first `limit`, without one the latest `limit`, oldest first", () => {
    const pages = [{ events: jobs(1, 5, 9) }, { events: jobs(2, 6, 10) }];
    expect(mergeEventPages(pages, 2, true)).toEqual({ events: jobs(1, 2) });
    expect(mergeEventPages(pages, 2, false)).toEqual({ events: jobs(9, 10) });
  });

  it("schedulers: statistics summed, the conflict fraction recomputed from the plans that committed", () => {
    const stats = (plans: number, conflicts: number, conflictFraction: number, avgCommitMs: number) => ({
      plans,
      placementsAttempted: plans,
      placementsCommitted: plans - conflicts,
      placementsRejected: conflicts,
      conflicts,
      conflictFraction,
      avgCommitMs,
    });
    const merged = mergeSchedulers([
      { schedulers: [{ name: "batch", profile: {}, stats: stats(10, 2, 0.25, 4) }] },
      { schedulers: [{ name: "batch", profile: {}, stats: stats(30, 0, 0, 2) }] },
    ]);
    // 2 conflicts over 8 + 30 committing plans; mean commit time weighted by plans.
    expect(merged.schedulers[0]?.stats).toMatchObject({ plans: 40, conflicts: 2, placementsCommitted: 38 });
    expect(merged.schedulers[0]?.stats.conflictFraction).toBeCloseTo(2 / 38);
    expect(merged.schedulers[0]?.stats.avgCommitMs).toBeCloseTo((10 * 4 + 30 * 2) / 40);
  });
});
