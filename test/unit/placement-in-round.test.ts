import { describe, expect, it } from "vitest";
import { InFlight } from "../../src/placement/inflight.ts";
import { planJob } from "../../src/placement/pipeline.ts";
import { planPreemption, type VictimView } from "../../src/placement/preemption.ts";
import { batchProfile } from "../../src/placement/profiles.ts";
import { mulberry32 } from "../../src/placement/random.ts";
import type { JobView, JobVocabulary, MachineView, SelectorTerm } from "../../src/placement/types.ts";
import { job, machine, must, zonedMachines } from "./placement-factories.ts";

/**
 * The vocabulary counts what the same plan placed before (in-round.ts), as the commit does
 * (omega.plan_vocabulary_verdicts counts the earlier placements it kept). Before, each job saw
 * only the cell's claims as of its lease: a plan put two jobs' port 8080 on one machine, or a task
 * beside one that repels it, and the commit refused the later one round after round (the race).
 */

/** A job's vocabulary as omega.placement_context resolves it on an empty cell. */
function vocabulary(over: {
  ports?: number[];
  antiAffinity?: SelectorTerm[];
  affinity?: SelectorTerm[];
}): JobVocabulary {
  const self = (t: SelectorTerm, labels: Record<string, string> = {}) => ({
    topologyKey: t.topologyKey,
    domains: new Set<string>(),
    self: Object.entries(t.selector).every(([k, v]) => labels[k] === v),
  });
  return {
    ports: over.ports ?? [],
    portMachines: new Set(),
    topologySpread: [],
    forbidden: (over.antiAffinity ?? []).map((t) => self(t)),
    required: (over.affinity ?? []).map((t) => self(t)),
    antiAffinity: over.antiAffinity ?? [],
    affinity: over.affinity ?? [],
  };
}

const config = { ...batchProfile, sampleSize: 100 };

/** Plans the jobs in order into one overlay: one scheduler's plan over a batch. */
function planRound(machines: MachineView[], jobs: JobView[]) {
  const inflight = new InFlight();
  const random = mulberry32(7);
  return { plans: jobs.map((j) => planJob(machines, j, config, inflight, random)), inflight };
}

const db = { selector: { app: "db" }, topologyKey: "zone" };

describe("the vocabulary within one plan", () => {
  it("host ports: a machine an earlier job of the plan put port 8080 on is not offered again", () => {
    const machines = [machine(), machine()];
    const first = job({ vocabulary: vocabulary({ ports: [8080] }) });
    const second = job({ vocabulary: vocabulary({ ports: [8080] }) });
    const { plans } = planRound(machines, [first, second]);
    const [a, b] = plans.map((p) => must(p.placements[0], "placement").machineId);
    expect(a).not.toBe(b);
  });

  it("host ports: with one machine, the second job waits, explained as a port in use", () => {
    const machines = [machine()];
    const { plans } = planRound(machines, [
      job({ vocabulary: vocabulary({ ports: [8080] }) }),
      job({ vocabulary: vocabulary({ ports: [8080, 9090] }) }),
    ]);
    expect(plans[1]?.placements).toEqual([]);
    expect(plans[1]?.explanation?.rejected).toEqual({ "host port in use": 1 });
  });

  it("other ports share a machine", () => {
    const { plans } = planRound(
      [machine()],
      [
        job({ vocabulary: vocabulary({ ports: [8080] }) }),
        job({ vocabulary: vocabulary({ ports: [9090] }) }),
      ],
    );
    expect(plans.map((p) => p.placements.length)).toEqual([1, 1]);
  });

  it("anti-affinity: a job keeps out of the zone where the plan put a job it repels", () => {
    const machines = zonedMachines(["a", "b"], 1);
    const [inA] = machines;
    const labelled = job({ labels: { app: "db" }, constraints: { selector: { zone: "a" } } });
    const repeller = job({ vocabulary: vocabulary({ antiAffinity: [db] }) });
    const { plans } = planRound(machines, [labelled, repeller]);
    expect(plans[0]?.placements[0]?.machineId).toBe(inA?.id);
    expect(plans[1]?.placements[0]?.machineId).not.toBe(inA?.id);
  });

  it("anti-affinity, the other direction: a labelled job keeps away from a repeller the plan placed", () => {
    const machines = zonedMachines(["a", "b"], 1);
    const [inA] = machines;
    const repeller = job({
      constraints: { selector: { zone: "a" } },
      vocabulary: vocabulary({ antiAffinity: [{ selector: { app: "db" }, topologyKey: "machine" }] }),
    });
    // Leased while the repeller was pending: its vocabulary names the repeller's term, no domain yet.
    const labelled = job({
      labels: { app: "db" },
      vocabulary: {
        ...vocabulary({}),
        forbidden: [{ topologyKey: "machine", domains: new Set(), self: false }],
      },
    });
    const { plans } = planRound(machines, [repeller, labelled]);
    expect(plans[0]?.placements[0]?.machineId).toBe(inA?.id);
    expect(plans[1]?.placements[0]?.machineId).not.toBe(inA?.id);
  });

  it("anti-affinity: with every zone taken by the plan, the job waits, explained", () => {
    const machines = zonedMachines(["a"], 2);
    const { plans } = planRound(machines, [
      job({ labels: { app: "db" } }),
      job({ vocabulary: vocabulary({ antiAffinity: [db] }) }),
    ]);
    expect(plans[1]?.placements).toEqual([]);
    expect(plans[1]?.explanation?.rejected).toEqual({ "job anti-affinity": 2 });
  });

  it("affinity: a job goes to the zone where the plan put the job it is drawn to", () => {
    const machines = zonedMachines(["a", "b", "c"], 2);
    const anchor = job({ labels: { app: "db" }, constraints: { selector: { zone: "b" } } });
    const follower = job({ tasks: 4, vocabulary: vocabulary({ affinity: [db] }) });
    const { plans } = planRound(machines, [anchor, follower]);
    const zoneOf = (id: number) => machines.find((m) => m.id === id)?.labels.zone;
    expect(plans[1]?.placements.map((p) => zoneOf(p.machineId))).toEqual(["b", "b", "b", "b"]);
  });

  it("preemption holds to it too: no victim is chosen where the plan holds the port", () => {
    const full = (id: number) => machine({ id, used: { cpu: 4000, memory: 8192 } });
    const machines = [full(9001), full(9002)];
    const inflight = new InFlight();
    const holder = job({ vocabulary: vocabulary({ ports: [8080] }) });
    inflight.add(holder, 9001);
    const victim = (taskId: number): VictimView => ({
      taskId,
      jobId: 1,
      priority: 0,
      request: { cpu: 4000, memory: 8192, gpu: 0, disk: 0 },
      gangMin: null,
      jobClaims: 2,
    });
    const preemptor = job({ priority: 150, vocabulary: vocabulary({ ports: [8080] }) });
    const victimsOn = new Map([
      [9001, [victim(1)]],
      [9002, [victim(2)]],
    ]);
    const placements = planPreemption(machines, machines, preemptor, [1, 2], 0, inflight, victimsOn);
    expect(placements.map((p) => p.machineId)).toEqual([9002]);
  });
});
