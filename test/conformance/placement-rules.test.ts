import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaseWork } from "../../src/db/scheduling.ts";
import { CellSnapshot } from "../../src/db/snapshot.ts";
import { bandOf } from "../../src/domain/priority.ts";
import { InFlight, mulberry32, planJob } from "../../src/placement/index.ts";
import { mayPreempt } from "../../src/placement/preemption.ts";
import { batchProfile } from "../../src/placement/profiles.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  allowAnyPriority,
  commitPlan,
  emptyState,
  type MachineSpec,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  setQuota,
  setTenantLimits,
  submitJob,
} from "../support/factories.ts";

/**
 * Ported from kube-scheduler's plugin tests (pkg/scheduler/framework/plugins/…, read with the search
 * tool), as facts in omega's vocabulary — each upstream case that has a meaning here became a row:
 * - tainttoleration TestTaintTolerationFilter: no tolerations vs a NoSchedule taint; tolerated by
 *   key, value and effect; Equal with another value; Exists tolerates every value; several taints
 *   all tolerated; same key and value with another effect; no effect named; PreferNoSchedule never
 *   filters (with and without tolerations); plus NoExecute, empty-key Exists and the default effect.
 * - nodeaffinity TestNodeAffinity: In / NotIn / Exists / DoesNotExist with the label present,
 *   absent or another value; Gt / Lt (above, equal, below, not an integer, missing); every term must
 *   hold; selector and affinity both must hold. Not ported: matchFields (omega has no node fields),
 *   several nodeSelectorTerms ORed (a job's affinity is one term list, ANDed).
 * - podtopologyspread TestSingleConstraint / TestMultipleConstraints: skew over the eligible domains
 *   (1 of 2 at maxSkew 1, 2 of 3 at maxSkew 2), already ahead by maxSkew, a node without the key,
 *   domains the selector or affinity excludes and draining machines not counted, key per machine,
 *   two constraints both holding, other pods not counted, ScheduleAnyway never filters. Not ported:
 *   labelSelector and minDomains / nodeTaintsPolicy (spread counts the job's own tasks).
 * - interpodaffinity TestRequiredAffinitySingleNode / MultipleNodes: affinity satisfied or not by
 *   the labels there (selectors ANDed), the first of a self-affine group, a node without the
 *   topology key; anti-affinity in both directions (symmetry: the existing pod's anti-affinity is
 *   respected when the incoming pod has none); affinity and anti-affinity together (both satisfied;
 *   anti-affinity failing; the affine pod repelling the incoming one). Not ported: namespaces,
 *   matchExpressions operators (omega's selectors are label equality), namespaceSelector.
 * - nodeports TestNodePorts / TestFits: no ports (skip), other port, the same port, one of several
 *   conflicting, several none conflicting. Not ported: protocols and hostIP (an omega port is held
 *   whole on its machine).
 *
 * One rule, one verdict. The planner (TypeScript) and the commit procedure (SQL) both apply the
 * placement rules; if they disagree, a scheduler proposes what the commit refuses, forever (Nomad
 * #9506), or never proposes what the commit would take. Each case below is a machine, a job and
 * what is already there, with the number of the job's tasks that may land on that machine; it is
 * run through the real planner (on a real snapshot and a real lease) and through
 * omega.commit_plan, and both must give that number.
 */
interface Case {
  name: string;
  /** The machine the job's tasks are proposed on. */
  machine: MachineSpec & { state?: "draining" | "down" };
  /** Machines no task can use (no capacity) that still count as values of a spread label. */
  others?: (MachineSpec & { state?: "draining" | "down" })[];
  /** Resources already held on the machine (by a best-effort filler job of another tenant). */
  used?: { cpu?: number; memory?: number; gpu?: number; disk?: number };
  job: Record<string, unknown>;
  /**
   * Jobs of another tenant holding one task each, placed before the verdict: on the machine, or on
   * `others[n]` (give that machine room for exactly one task, so the planner cannot use it).
   */
  neighbours?: { job: Record<string, unknown>; on: "same" | number }[];
  /** Tasks of the job placed on the machine before the verdict. */
  alreadyPlaced?: number;
  quota?: { band: "batch" | "production"; resources: Record<string, number> };
  /** How many of the job's pending tasks may land on the machine. */
  placed: number;
}

const one = { cpu: 1000, memory: 1024 };
const CASES: Record<string, Case[]> = {
  fit: [
    { name: "fits exactly", machine: { cpu: 4000 }, used: { cpu: 3000 }, job: { resources: one }, placed: 1 },
    {
      name: "one millicore short",
      machine: { cpu: 4000 },
      used: { cpu: 3001 },
      job: { resources: one },
      placed: 0,
    },
    {
      name: "memory short",
      machine: { memory: 2048 },
      used: { memory: 1025 },
      job: { resources: one },
      placed: 0,
    },
    { name: "no gpu on the machine", machine: { gpu: 0 }, job: { resources: { gpu: 1 } }, placed: 0 },
    { name: "two of three fit", machine: { cpu: 2000 }, job: { tasks: 3, resources: one }, placed: 2 },
    { name: "disk counts", machine: { disk: 100 }, job: { resources: { disk: 101 } }, placed: 0 },
  ],
  "machine state": [
    { name: "up", machine: {}, job: { resources: one }, placed: 1 },
    { name: "draining", machine: { state: "draining" }, job: { resources: one }, placed: 0 },
    { name: "down", machine: { state: "down" }, job: { resources: one }, placed: 0 },
  ],
  selector: [
    {
      name: "matches",
      machine: { labels: { disk: "ssd", zone: "a" } },
      job: { constraints: { selector: { disk: "ssd" } } },
      placed: 1,
    },
    {
      name: "other value",
      machine: { labels: { disk: "hdd" } },
      job: { constraints: { selector: { disk: "ssd" } } },
      placed: 0,
    },
    { name: "label missing", machine: {}, job: { constraints: { selector: { disk: "ssd" } } }, placed: 0 },
    { name: "empty selector", machine: {}, job: { constraints: { selector: {} } }, placed: 1 },
  ],
  affinity: [
    ...(
      [
        ["In, value listed", { zone: "a" }, { key: "zone", op: "In", values: ["a", "b"] }, 1],
        ["In, value not listed", { zone: "c" }, { key: "zone", op: "In", values: ["a", "b"] }, 0],
        ["In, label missing", {}, { key: "zone", op: "In", values: ["a"] }, 0],
        // (In with no values is refused at submission, over HTTP and SQL alike: submission.test.ts.)
        ["NotIn, value listed", { zone: "a" }, { key: "zone", op: "NotIn", values: ["a"] }, 0],
        ["NotIn, other value", { zone: "b" }, { key: "zone", op: "NotIn", values: ["a"] }, 1],
        ["NotIn, label missing", {}, { key: "zone", op: "NotIn", values: ["a"] }, 1],
        ["Exists", { gpu: "" }, { key: "gpu", op: "Exists" }, 1],
        ["Exists, missing", {}, { key: "gpu", op: "Exists" }, 0],
        ["DoesNotExist", {}, { key: "gpu", op: "DoesNotExist" }, 1],
        ["DoesNotExist, present", { gpu: "x" }, { key: "gpu", op: "DoesNotExist" }, 0],
        // `operator` (Kubernetes' name) and Gt/Lt, ported from kube-scheduler's nodeaffinity tests
        // (TestNodeAffinity) and its NodeSelectorRequirement semantics.
        ["operator In", { zone: "a" }, { key: "zone", operator: "In", values: ["a"] }, 1],
        ["operator NotIn", { zone: "a" }, { key: "zone", operator: "NotIn", values: ["a"] }, 0],
        ["Gt, label above", { kernel: "6" }, { key: "kernel", operator: "Gt", values: ["5"] }, 1],
        ["Gt, label equal", { kernel: "5" }, { key: "kernel", operator: "Gt", values: ["5"] }, 0],
        ["Gt, label below", { kernel: "4" }, { key: "kernel", operator: "Gt", values: ["5"] }, 0],
        ["Lt, label below", { kernel: "4" }, { key: "kernel", operator: "Lt", values: ["5"] }, 1],
        ["Lt, label equal", { kernel: "5" }, { key: "kernel", operator: "Lt", values: ["5"] }, 0],
        ["Gt, negative bound", { kernel: "0" }, { key: "kernel", operator: "Gt", values: ["-1"] }, 1],
        [
          "Gt, a label that is no integer",
          { kernel: "6.1" },
          { key: "kernel", operator: "Gt", values: ["5"] },
          0,
        ],
        ["Lt, a word label", { kernel: "high" }, { key: "kernel", operator: "Lt", values: ["5"] }, 0],
        ["Gt, label missing", {}, { key: "kernel", operator: "Gt", values: ["5"] }, 0],
        ["Lt, signed label", { kernel: "+3" }, { key: "kernel", op: "Lt", values: ["5"] }, 1],
        [
          "Gt, past int64",
          { kernel: "9223372036854775808" },
          { key: "kernel", operator: "Gt", values: ["5"] },
          0,
        ],
        [
          "Gt, int64 max",
          { kernel: "9223372036854775807" },
          { key: "kernel", operator: "Gt", values: ["5"] },
          1,
        ],
        [
          "Gt, numbers compared as numbers",
          { cores: "10" },
          { key: "cores", operator: "Gt", values: ["9"] },
          1,
        ],
      ] as const
    ).map(([name, labels, term, placed]) => ({
      name,
      machine: { labels: { ...labels } },
      job: { constraints: { affinity: [term] } },
      placed,
    })),
    {
      name: "every term must hold",
      machine: { labels: { zone: "a", disk: "ssd" } },
      job: {
        constraints: {
          affinity: [
            { key: "zone", op: "In", values: ["a"] },
            { key: "disk", op: "NotIn", values: ["ssd"] },
          ],
        },
      },
      placed: 0,
    },
    {
      // TestNodeAffinity: "Pod with matchExpressions and nodeSelector ... both must be satisfied".
      name: "selector and affinity must both hold",
      machine: { labels: { zone: "a", disk: "hdd" } },
      job: {
        constraints: {
          selector: { zone: "a" },
          affinity: [{ key: "disk", operator: "In", values: ["ssd"] }],
        },
      },
      placed: 0,
    },
  ],
  // Ported from kube-scheduler's TestTaintTolerationFilter (plugins/tainttoleration), as facts:
  // Kubernetes' ToleratesTaint, a taint without effect being NoSchedule.
  tolerations: [
    ...(
      [
        ["no taints", [], [], 1],
        [
          "no tolerations, a NoSchedule taint",
          [{ key: "dedicated", value: "user1", effect: "NoSchedule" }],
          [],
          0,
        ],
        [
          "tolerated by key, value and effect",
          [{ key: "dedicated", value: "user1", effect: "NoSchedule" }],
          [{ key: "dedicated", value: "user1", effect: "NoSchedule" }],
          1,
        ],
        [
          "Equal with another value",
          [{ key: "dedicated", value: "user1", effect: "NoSchedule" }],
          [{ key: "dedicated", operator: "Equal", value: "user2", effect: "NoSchedule" }],
          0,
        ],
        [
          "Exists tolerates every value",
          [{ key: "foo", value: "bar", effect: "NoSchedule" }],
          [{ key: "foo", operator: "Exists", effect: "NoSchedule" }],
          1,
        ],
        [
          "several taints, all tolerated",
          [
            { key: "dedicated", value: "user2", effect: "NoSchedule" },
            { key: "foo", value: "bar", effect: "NoSchedule" },
          ],
          [
            { key: "dedicated", operator: "Equal", value: "user2", effect: "NoSchedule" },
            { key: "foo", operator: "Exists", effect: "NoSchedule" },
          ],
          1,
        ],
        [
          "key and value match, another effect",
          [{ key: "foo", value: "bar", effect: "NoSchedule" }],
          [{ key: "foo", operator: "Equal", value: "bar", effect: "PreferNoSchedule" }],
          0,
        ],
        [
          "key and value match, no effect named",
          [{ key: "foo", value: "bar", effect: "NoSchedule" }],
          [{ key: "foo", operator: "Equal", value: "bar" }],
          1,
        ],
        [
          "a PreferNoSchedule taint never filters",
          [{ key: "dedicated", value: "user1", effect: "PreferNoSchedule" }],
          [{ key: "dedicated", operator: "Equal", value: "user2", effect: "NoSchedule" }],
          1,
        ],
        [
          "PreferNoSchedule, no tolerations",
          [{ key: "dedicated", value: "user1", effect: "PreferNoSchedule" }],
          [],
          1,
        ],
        ["a NoExecute taint filters", [{ key: "k", effect: "NoExecute" }], [], 0],
        [
          "NoExecute tolerated for a while still admits",
          [{ key: "k", effect: "NoExecute" }],
          [{ key: "k", operator: "Exists", effect: "NoExecute", tolerationSeconds: 60 }],
          1,
        ],
        ["a taint without effect is NoSchedule", [{ key: "k" }], [{ key: "k", effect: "NoSchedule" }], 1],
        [
          "a NoSchedule toleration, a NoExecute taint",
          [{ key: "k", effect: "NoExecute" }],
          [{ key: "k", effect: "NoSchedule" }],
          0,
        ],
        [
          "an empty key with Exists tolerates everything",
          [
            { key: "a", value: "x" },
            { key: "b", effect: "NoExecute" },
          ],
          [{ operator: "Exists" }],
          1,
        ],
        ["same key and value", [{ key: "dedicated", value: "ml" }], [{ key: "dedicated", value: "ml" }], 1],
        ["other value", [{ key: "dedicated", value: "ml" }], [{ key: "dedicated", value: "web" }], 0],
        [
          "Equal without a value, a valued taint",
          [{ key: "dedicated", value: "ml" }],
          [{ key: "dedicated" }],
          0,
        ],
        ["Equal without a value, a taint without one", [{ key: "dedicated" }], [{ key: "dedicated" }], 1],
        [
          "valued toleration, taint without value",
          [{ key: "dedicated" }],
          [{ key: "dedicated", value: "ml" }],
          0,
        ],
        ["other key", [{ key: "dedicated" }], [{ key: "gpu", operator: "Exists" }], 0],
        ["every taint must be tolerated", [{ key: "a" }, { key: "b" }], [{ key: "a" }], 0],
      ] as const
    ).map(([name, taints, tolerations, placed]) => ({
      name,
      machine: { taints: [...taints] },
      job: { constraints: { tolerations: [...tolerations] } },
      placed,
    })),
  ],
  // Ported from kube-scheduler's nodeports tests (TestNodePorts): a host port held on the machine
  // conflicts, another port or another machine does not; each task of a job holds its ports.
  "host ports": [
    { name: "nothing held", machine: {}, job: { ports: [8080] }, placed: 1 },
    { name: "no ports asked (the filter is skipped)", machine: {}, job: {}, placed: 1 },
    {
      name: "several ports, none held (multiple non-conflicting ports)",
      machine: {},
      neighbours: [{ job: { ports: [9090, 9191, 8080] }, on: "same" }],
      job: { ports: [80, 90, 100] },
      placed: 1,
    },
    {
      name: "the same port held",
      machine: {},
      neighbours: [{ job: { ports: [8080] }, on: "same" }],
      job: { ports: [8080] },
      placed: 0,
    },
    {
      name: "one of several ports held",
      machine: {},
      neighbours: [{ job: { ports: [9090, 8080] }, on: "same" }],
      job: { ports: [80, 8080] },
      placed: 0,
    },
    {
      name: "another port held",
      machine: {},
      neighbours: [{ job: { ports: [8081] }, on: "same" }],
      job: { ports: [8080] },
      placed: 1,
    },
    {
      name: "held on another machine",
      machine: {},
      others: [{ cpu: 1000, memory: 1024 }],
      neighbours: [{ job: { ports: [8080] }, on: 0 }],
      job: { ports: [8080] },
      placed: 1,
    },
    { name: "two tasks of one job: one per machine", machine: {}, job: { tasks: 3, ports: [80] }, placed: 1 },
    {
      name: "no ports beside a held port",
      machine: {},
      neighbours: [{ job: { ports: [8080] }, on: "same" }],
      job: {},
      placed: 1,
    },
  ],
  // Ported from kube-scheduler's interpodaffinity filter tests (TestRequiredAffinitySingleNode,
  // TestRequiredAffinityMultipleNodes): anti-affinity in both directions, topology domains, the
  // first pod of a self-affine group, a node without the topology key.
  "job anti-affinity": [
    {
      name: "a selector's labels are ANDed: the job there has one of two",
      machine: {},
      neighbours: [{ job: { labels: { app: "db" } }, on: "same" }],
      job: {
        constraints: { jobAntiAffinity: [{ selector: { app: "db", tier: "x" }, topologyKey: "machine" }] },
      },
      placed: 1,
    },
    {
      name: "a selector's labels are ANDed: the job there has both, and more",
      machine: {},
      neighbours: [{ job: { labels: { app: "db", tier: "x", team: "t" } }, on: "same" }],
      job: {
        constraints: { jobAntiAffinity: [{ selector: { app: "db", tier: "x" }, topologyKey: "machine" }] },
      },
      placed: 0,
    },
    {
      name: "a matching job on the machine",
      machine: {},
      neighbours: [{ job: { labels: { app: "db" } }, on: "same" }],
      job: { constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "machine" }] } },
      placed: 0,
    },
    {
      name: "a job with other labels",
      machine: {},
      neighbours: [{ job: { labels: { app: "web" } }, on: "same" }],
      job: { constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "machine" }] } },
      placed: 1,
    },
    {
      name: "a matching job on another machine, key machine",
      machine: { labels: { zone: "a" } },
      others: [{ cpu: 1000, memory: 1024, labels: { zone: "a" } }],
      neighbours: [{ job: { labels: { app: "db" } }, on: 0 }],
      job: { constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "machine" }] } },
      placed: 1,
    },
    {
      name: "a matching job in the same zone",
      machine: { labels: { zone: "a" } },
      others: [{ cpu: 1000, memory: 1024, labels: { zone: "a" } }],
      neighbours: [{ job: { labels: { app: "db" } }, on: 0 }],
      job: { constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "zone" }] } },
      placed: 0,
    },
    {
      name: "a matching job in another zone",
      machine: { labels: { zone: "a" } },
      others: [{ cpu: 1000, memory: 1024, labels: { zone: "b" } }],
      neighbours: [{ job: { labels: { app: "db" } }, on: 0 }],
      job: { constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "zone" }] } },
      placed: 1,
    },
    {
      name: "a machine without the topology key",
      machine: {},
      others: [{ cpu: 1000, memory: 1024, labels: { zone: "a" } }],
      neighbours: [{ job: { labels: { app: "db" } }, on: 0 }],
      job: { constraints: { jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "zone" }] } },
      placed: 1,
    },
    {
      name: "the other direction: a job there repels this one",
      machine: {},
      neighbours: [
        {
          job: { constraints: { jobAntiAffinity: [{ selector: { app: "web" }, topologyKey: "machine" }] } },
          on: "same",
        },
      ],
      job: { labels: { app: "web" } },
      placed: 0,
    },
    {
      name: "the other direction, in its zone",
      machine: { labels: { zone: "a" } },
      others: [{ cpu: 1000, memory: 1024, labels: { zone: "a" } }],
      neighbours: [
        {
          job: { constraints: { jobAntiAffinity: [{ selector: { app: "web" }, topologyKey: "zone" }] } },
          on: 0,
        },
      ],
      job: { labels: { app: "web", tier: "front" } },
      placed: 0,
    },
    {
      name: "the other direction, labels it does not repel",
      machine: {},
      neighbours: [
        {
          job: { constraints: { jobAntiAffinity: [{ selector: { app: "web" }, topologyKey: "machine" }] } },
          on: "same",
        },
      ],
      job: { labels: { app: "api" } },
      placed: 1,
    },
    {
      name: "its own tasks repel each other",
      machine: {},
      job: {
        tasks: 3,
        labels: { app: "web" },
        constraints: { jobAntiAffinity: [{ selector: { app: "web" }, topologyKey: "machine" }] },
      },
      placed: 1,
    },
  ],
  "job affinity": [
    {
      name: "the job there does not match the selector",
      machine: { labels: { zone: "a" } },
      neighbours: [{ job: { labels: { app: "web" } }, on: "same" }],
      job: { constraints: { jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }] } },
      placed: 0,
    },
    {
      name: "affinity and anti-affinity both satisfied",
      machine: { labels: { zone: "a" } },
      neighbours: [{ job: { labels: { app: "cache" } }, on: "same" }],
      job: {
        constraints: {
          jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }],
          jobAntiAffinity: [{ selector: { app: "db" }, topologyKey: "machine" }],
        },
      },
      placed: 1,
    },
    {
      name: "affinity satisfied, anti-affinity not (the same job selected by both)",
      machine: { labels: { zone: "a" } },
      neighbours: [{ job: { labels: { app: "cache" } }, on: "same" }],
      job: {
        constraints: {
          jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }],
          jobAntiAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }],
        },
      },
      placed: 0,
    },
    {
      name: "affinity satisfied, but the job it is drawn to repels it (symmetry)",
      machine: { labels: { zone: "a" } },
      neighbours: [
        {
          job: {
            labels: { app: "cache" },
            constraints: { jobAntiAffinity: [{ selector: { app: "web" }, topologyKey: "zone" }] },
          },
          on: "same",
        },
      ],
      job: {
        labels: { app: "web" },
        constraints: { jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }] },
      },
      placed: 0,
    },
    {
      name: "a matching job in the zone",
      machine: { labels: { zone: "a" } },
      others: [{ cpu: 1000, memory: 1024, labels: { zone: "a" } }],
      neighbours: [{ job: { labels: { app: "cache" } }, on: 0 }],
      job: { tasks: 2, constraints: { jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }] } },
      placed: 2,
    },
    {
      name: "a matching job in another zone only",
      machine: { labels: { zone: "a" } },
      others: [{ cpu: 1000, memory: 1024, labels: { zone: "b" } }],
      neighbours: [{ job: { labels: { app: "cache" } }, on: 0 }],
      job: { constraints: { jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }] } },
      placed: 0,
    },
    {
      name: "no matching job anywhere",
      machine: { labels: { zone: "a" } },
      job: { constraints: { jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }] } },
      placed: 0,
    },
    {
      name: "none anywhere, but it matches itself: the first of the group",
      machine: { labels: { zone: "a" } },
      job: {
        tasks: 2,
        labels: { app: "cache" },
        constraints: { jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }] },
      },
      placed: 2,
    },
    {
      name: "a machine without the topology key",
      machine: {},
      neighbours: [{ job: { labels: { app: "cache" } }, on: "same" }],
      job: { constraints: { jobAffinity: [{ selector: { app: "cache" }, topologyKey: "zone" }] } },
      placed: 0,
    },
    {
      name: "key machine, on the machine",
      machine: {},
      neighbours: [{ job: { labels: { app: "cache" } }, on: "same" }],
      job: { constraints: { jobAffinity: [{ selector: { app: "cache" }, topologyKey: "machine" }] } },
      placed: 1,
    },
  ],
  // Ported from kube-scheduler's podtopologyspread filter tests (TestSingleConstraint,
  // TestMultipleConstraints): skew over the eligible domains, a node without the key, nodes the
  // pod's node affinity excludes not counted, ScheduleAnyway never filters.
  "topology spread": [
    {
      name: "another job's tasks do not count (another namespace or selector)",
      machine: { labels: { zone: "a" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      neighbours: [{ job: {}, on: "same" }],
      job: { tasks: 1, constraints: { topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] } },
      placed: 1,
    },
    {
      name: "maxSkew 1 over two zones: one of two",
      machine: { labels: { zone: "a" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: { tasks: 2, constraints: { topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] } },
      placed: 1,
    },
    {
      name: "maxSkew 2 over two zones: two of three",
      machine: { labels: { zone: "a" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: {
        tasks: 3,
        constraints: {
          topologySpread: [{ topologyKey: "zone", maxSkew: 2, whenUnsatisfiable: "DoNotSchedule" }],
        },
      },
      placed: 2,
    },
    {
      name: "ScheduleAnyway never filters",
      machine: { labels: { zone: "a" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: {
        tasks: 3,
        constraints: {
          topologySpread: [{ topologyKey: "zone", maxSkew: 1, whenUnsatisfiable: "ScheduleAnyway" }],
        },
      },
      placed: 3,
    },
    {
      name: "a machine without the key",
      machine: {},
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: { constraints: { topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] } },
      placed: 0,
    },
    {
      name: "already ahead by maxSkew",
      machine: { labels: { zone: "a" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: { tasks: 1, constraints: { topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] } },
      alreadyPlaced: 1,
      placed: 0,
    },
    {
      name: "a zone the selector excludes does not count",
      machine: { labels: { zone: "a", disk: "ssd" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: {
        tasks: 3,
        constraints: { selector: { disk: "ssd" }, topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] },
      },
      placed: 3,
    },
    {
      name: "a zone of draining machines does not count",
      machine: { labels: { zone: "a" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0, state: "draining" }],
      job: { tasks: 2, constraints: { topologySpread: [{ topologyKey: "zone", maxSkew: 1 }] } },
      placed: 2,
    },
    {
      name: "key machine: one per machine at maxSkew 1",
      machine: {},
      others: [
        { cpu: 0, memory: 0 },
        { cpu: 0, memory: 0 },
      ],
      job: { tasks: 3, constraints: { topologySpread: [{ topologyKey: "machine", maxSkew: 1 }] } },
      placed: 1,
    },
    {
      name: "two terms, both must hold",
      machine: { labels: { zone: "a", rack: "r1" } },
      others: [{ labels: { zone: "a", rack: "r2" }, cpu: 0, memory: 0 }],
      job: {
        tasks: 2,
        constraints: {
          topologySpread: [
            { topologyKey: "zone", maxSkew: 5 },
            { topologyKey: "rack", maxSkew: 1 },
          ],
        },
      },
      placed: 1,
    },
  ],
  "machine task cap": [
    { name: "two of three", machine: { maxTasks: 2 }, job: { tasks: 3 }, placed: 2 },
    { name: "full", machine: { maxTasks: 1 }, job: { tasks: 1 }, alreadyPlaced: 1, placed: 0 },
    {
      name: "other jobs' tasks count",
      machine: { maxTasks: 2 },
      used: { cpu: 100 },
      job: { tasks: 2 },
      placed: 1,
    },
  ],
  maxPerMachine: [
    { name: "one of two", machine: {}, job: { tasks: 2, constraints: { maxPerMachine: 1 } }, placed: 1 },
    {
      name: "already there",
      machine: {},
      job: { tasks: 2, constraints: { maxPerMachine: 1 } },
      alreadyPlaced: 1,
      placed: 0,
    },
    { name: "room for three", machine: {}, job: { tasks: 3, constraints: { maxPerMachine: 3 } }, placed: 3 },
  ],
  spread: [
    {
      name: "share of one value: ceil(2 / 2)",
      machine: { labels: { zone: "a" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: { tasks: 2, constraints: { spreadBy: "zone" } },
      placed: 1,
    },
    {
      name: "machine without the label",
      machine: {},
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: { tasks: 2, constraints: { spreadBy: "zone" } },
      placed: 0,
    },
    {
      name: "a value only: every task",
      machine: { labels: { zone: "a" } },
      job: { tasks: 3, constraints: { spreadBy: "zone" } },
      placed: 3,
    },
    {
      name: "share taken already: ceil(2 / 2) held",
      machine: { labels: { zone: "a" } },
      others: [{ labels: { zone: "b" }, cpu: 0, memory: 0 }],
      job: { tasks: 1, constraints: { spreadBy: "zone" } },
      alreadyPlaced: 1,
      placed: 0,
    },
  ],
  gang: [
    {
      name: "room for the gang",
      machine: { cpu: 3000 },
      job: { tasks: 3, resources: one, gang: { minAvailable: 3 } },
      placed: 3,
    },
    {
      name: "room for less",
      machine: { cpu: 2000 },
      job: { tasks: 3, resources: one, gang: { minAvailable: 3 } },
      placed: 0,
    },
    {
      name: "room for minAvailable",
      machine: { cpu: 2000 },
      job: { tasks: 3, resources: one, gang: { minAvailable: 2 } },
      placed: 2,
    },
  ],
  quota: [
    {
      name: "within",
      machine: {},
      job: { tasks: 2, resources: one, priority: "batch" },
      quota: { band: "batch", resources: { cpu: 2000 } },
      placed: 2,
    },
    {
      name: "one of two",
      machine: {},
      job: { tasks: 2, resources: one, priority: "batch" },
      quota: { band: "batch", resources: { cpu: 1500 } },
      placed: 1,
    },
    {
      name: "another band's quota does not count",
      machine: {},
      job: { tasks: 2, resources: one, priority: "production" },
      quota: { band: "batch", resources: { cpu: 1000 } },
      placed: 2,
    },
  ],
};

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

async function arrange(c: Case): Promise<{ machineId: number; jobId: number }> {
  await emptyState(db.pool);
  await makeCell(db.pool);
  await makeTenant(db.pool);
  await makeTenant(db.pool, "filler");
  // Placement rules, not admission: any band, and requests of any size (issue 17's limits).
  await allowAnyPriority(db.pool);
  for (const tenant of ["acme", "filler"])
    await setTenantLimits(db.pool, { minTaskRequest: { cpu: 0 } }, tenant);
  const { state, ...spec } = c.machine;
  const machine = await makeMachine(db.pool, { cpu: 4000, memory: 8192, gpu: 0, disk: 1000, ...spec });
  const others = [];
  for (const { state: otherState, ...other } of c.others ?? []) {
    const made = await makeMachine(db.pool, other);
    others.push(made);
    if (otherState)
      await db.pool.query("select omega.set_machine_state('east', $1, $2)", [made.name, otherState]);
  }
  for (const n of c.neighbours ?? []) {
    const target = n.on === "same" ? machine : others[n.on];
    if (!target) throw new Error("a neighbour on a machine the case does not have");
    const id = await submitJob(db.pool, { priority: 50, resources: one, ...n.job }, "filler");
    const placed = await commitPlan(db.pool, [
      { taskId: (await pendingTaskIds(db.pool, id))[0] as number, machineId: target.id, version: 0 },
    ]);
    expect(placed[0]?.outcome).toBe("committed");
  }
  if (c.used) {
    const filler = await submitJob(db.pool, { priority: 50, resources: { ...c.used } }, "filler");
    const placed = await commitPlan(db.pool, [
      { taskId: (await pendingTaskIds(db.pool, filler))[0] as number, machineId: machine.id, version: 0 },
    ]);
    expect(placed[0]?.outcome).toBe("committed");
  }
  if (c.quota) await setQuota(db.pool, c.quota.resources, { band: c.quota.band });
  const alreadyPlaced = c.alreadyPlaced ?? 0;
  const tasks = ((c.job.tasks as number | undefined) ?? 1) + alreadyPlaced;
  const jobId = await submitJob(db.pool, { resources: one, ...c.job, tasks });
  if (alreadyPlaced > 0) {
    const ids = (await pendingTaskIds(db.pool, jobId)).slice(0, alreadyPlaced);
    await commitPlan(
      db.pool,
      ids.map((taskId) => ({ taskId, machineId: machine.id, version: 0 })),
    );
  }
  if (state) await db.pool.query("select omega.set_machine_state('east', $1, $2)", [machine.name, state]);
  return { machineId: machine.id, jobId };
}

/** The planner's verdict: its tasks placed on the machine, planned on a fresh snapshot and lease. */
async function plannerVerdict(machineId: number, jobId: number): Promise<number> {
  const snapshot = new CellSnapshot(db.pool, "east");
  await snapshot.sync();
  const scheduler = (await db.pool.query("select scheduler from omega.jobs where id = $1", [jobId])).rows[0];
  const { views } = await leaseWork(db.pool, {
    cell: "east",
    scheduler: scheduler.scheduler,
    owner: "conformance",
    limit: 10,
    leaseSeconds: 5,
  });
  const view = views.find((v) => v.id === jobId);
  if (!view) throw new Error("the job was not leased");
  // Every filter on, and every machine sampled: the verdict is the rules', not the sampling's.
  const profile = { ...batchProfile, sampleSize: 1_000 };
  const plan = planJob(snapshot.list(), view, profile, new InFlight(), mulberry32(1));
  return plan.placements.filter((p) => p.machineId === machineId).length;
}

/** The commit procedure's verdict: every pending task proposed on the machine, in one plan. */
async function commitVerdict(machineId: number, jobId: number): Promise<number> {
  const tasks = await pendingTaskIds(db.pool, jobId);
  const outcomes = await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId, version: 0 })),
  );
  return outcomes.filter((o) => o.outcome === "committed").length;
}

describe.each(Object.entries(CASES))("%s: the planner and the commit agree", (_rule, cases) => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const { machineId, jobId } = await arrange(c);
    const planner = await plannerVerdict(machineId, jobId);
    const commit = await commitVerdict(machineId, jobId);
    expect({ planner, commit }).toEqual({ planner: c.placed, commit: c.placed });
  });
});

describe("priority rules: TypeScript and SQL agree on every boundary", () => {
  const priorities = [0, 1, 50, 99, 100, 101, 150, 199, 200, 201, 250, 999];
  it("may preempt (strictly lower, never production by production)", async () => {
    const pairs = priorities.flatMap((victim) => priorities.map((preemptor) => [victim, preemptor] as const));
    const { rows } = await db.pool.query<{ v: number; p: number; may: boolean }>(
      "select v, p, omega.may_preempt(v, p) as may from unnest($1::int[], $2::int[]) as x(v, p)",
      [pairs.map(([v]) => v), pairs.map(([, p]) => p)],
    );
    expect(rows.map((r) => mayPreempt(r.p, r.v))).toEqual(rows.map((r) => r.may));
    expect(rows.filter((r) => r.may).length).toBeGreaterThan(0);
  });
  it("band", async () => {
    const { rows } = await db.pool.query<{ p: number; band: string }>(
      "select p, omega.band(p) as band from generate_series(0, 999) p",
    );
    expect(rows.map((r) => bandOf(r.p))).toEqual(rows.map((r) => r.band));
  });
});
