import { describe, expect, it } from "vitest";
import { affinity, termMatches } from "../../src/placement/filters/affinity.ts";
import { capacity, shortDimension } from "../../src/placement/filters/capacity.ts";
import { machineState } from "../../src/placement/filters/machine-state.ts";
import { jobTasksOn, maxPerMachine } from "../../src/placement/filters/max-per-machine.ts";
import { labelsInclude, selector } from "../../src/placement/filters/selector.ts";
import { isTolerated, tolerations } from "../../src/placement/filters/tolerations.ts";
import { InFlight } from "../../src/placement/inflight.ts";
import type { AffinityTerm, FilterResult, Taint, Toleration } from "../../src/placement/types.ts";
import { job, machine, other } from "./placement-factories.ts";

const ok: FilterResult = { ok: true };
const no = (reason: string) => ({ ok: false, reason });
const none = new InFlight();

describe("machineState", () => {
  it.each([
    ["up", ok],
    ["draining", no("machine not up")],
    ["down", no("machine not up")],
  ] as const)("%s → %o", (state, expected) => {
    expect(machineState(machine({ state }), job(), none)).toEqual(expected);
  });
});

describe("capacity", () => {
  const cap = { cpu: 4000, memory: 8192, gpu: 1, disk: 100 };
  it.each([
    ["exact fit", { cpu: 4000, memory: 8192, gpu: 1, disk: 100 }, {}, ok],
    ["room to spare", { cpu: 1 }, {}, ok],
    ["a zero request on a full machine", { cpu: 0, memory: 0 }, cap, ok],
    ["cpu one short", { cpu: 4001 }, {}, no("insufficient cpu")],
    ["memory one short", { memory: 8193 }, {}, no("insufficient memory")],
    ["gpu short", { gpu: 2 }, {}, no("insufficient gpu")],
    ["disk short", { disk: 101 }, {}, no("insufficient disk")],
    [
      "short in all: names cpu first",
      { cpu: 9999, memory: 99999, gpu: 9, disk: 999 },
      {},
      no("insufficient cpu"),
    ],
    ["short in memory and disk: names memory", { memory: 9000, disk: 101 }, {}, no("insufficient memory")],
    ["used counts", { cpu: 1001 }, { cpu: 3000 }, no("insufficient cpu")],
    ["used leaves an exact fit", { cpu: 1000 }, { cpu: 3000 }, ok],
  ])("%s", (_name, request, used, expected) => {
    const m = machine({ capacity: cap, used });
    expect(capacity(m, job({ request }), none)).toEqual(expected);
  });

  it("counts what the plan already put on the machine", () => {
    const m = machine({ capacity: { cpu: 4000 } });
    const j = job({ request: { cpu: 1500, memory: 0 } });
    const plan = new InFlight();
    plan.add(other({ cpu: 2500 }), m.id);
    expect(capacity(m, j, plan)).toEqual(ok);
    plan.add(other({ cpu: 1 }), m.id);
    expect(capacity(m, j, plan)).toEqual(no("insufficient cpu"));
  });

  it.each([
    [{ cpu: 10, memory: 10, gpu: 0, disk: 0 }, { cpu: 10, memory: 10, gpu: 0, disk: 0 }, null],
    [{ cpu: 10, memory: 10, gpu: 0, disk: 0 }, { cpu: 10, memory: 11, gpu: 0, disk: 0 }, "memory"],
    [{ cpu: 10, memory: 10, gpu: 0, disk: 0 }, { cpu: 0, memory: 0, gpu: 1, disk: 0 }, "gpu"],
  ])("shortDimension(%o, request %o) = %s", (cap_, request, expected) => {
    const zero = { cpu: 0, memory: 0, gpu: 0, disk: 0 };
    expect(shortDimension(cap_, zero, zero, request)).toBe(expected);
  });
});

describe("selector", () => {
  it.each([
    ["empty selector matches any machine", {}, {}, true],
    ["empty selector matches a labelled machine", { zone: "a" }, {}, true],
    ["same key and value", { zone: "a", rack: "1" }, { zone: "a" }, true],
    ["all of several keys", { zone: "a", rack: "1" }, { zone: "a", rack: "1" }, true],
    ["different value", { zone: "b" }, { zone: "a" }, false],
    ["missing key", { rack: "1" }, { zone: "a" }, false],
    ["one of two keys missing", { zone: "a" }, { zone: "a", rack: "1" }, false],
    ["inherited keys are not labels", {}, { constructor: "x" }, false],
  ])("%s", (_name, labels, sel, expected) => {
    expect(labelsInclude(labels, sel)).toBe(expected);
    const result = selector(machine({ labels }), job({ constraints: { selector: sel } }), none);
    expect(result).toEqual(expected ? ok : no("selector mismatch"));
  });
});

describe("affinity", () => {
  const term = (op: AffinityTerm["op"], values?: string[]): AffinityTerm => ({ key: "zone", op, values });
  it.each([
    ["In, value listed", { zone: "a" }, term("In", ["a", "b"]), true],
    ["In, value not listed", { zone: "c" }, term("In", ["a", "b"]), false],
    ["In, label missing", {}, term("In", ["a"]), false],
    ["In, no values", { zone: "a" }, term("In"), false],
    ["NotIn, value listed", { zone: "a" }, term("NotIn", ["a"]), false],
    ["NotIn, value not listed", { zone: "b" }, term("NotIn", ["a"]), true],
    ["NotIn, label missing", {}, term("NotIn", ["a"]), true],
    ["Exists, present", { zone: "" }, term("Exists"), true],
    ["Exists, missing", {}, term("Exists"), false],
    ["DoesNotExist, missing", {}, term("DoesNotExist"), true],
    ["DoesNotExist, present", { zone: "a" }, term("DoesNotExist"), false],
    ["unknown op never matches", { zone: "a" }, { key: "zone", op: "Gt" } as unknown as AffinityTerm, false],
  ])("%s", (_name, labels, t, expected) => {
    expect(termMatches(labels, t)).toBe(expected);
  });

  it.each([
    ["no terms: any machine", [], ok],
    ["all terms hold", [term("In", ["a"]), { key: "gpu", op: "DoesNotExist" }], ok],
    ["one term fails", [term("In", ["a"]), { key: "gpu", op: "Exists" }], no("affinity mismatch")],
  ] as [string, AffinityTerm[], FilterResult][])("%s", (_name, terms, expected) => {
    const result = affinity(
      machine({ labels: { zone: "a" } }),
      job({ constraints: { affinity: terms } }),
      none,
    );
    expect(result).toEqual(expected);
  });
});

describe("tolerations", () => {
  it.each([
    ["no taints, no tolerations", [], [], true],
    [
      "taint with value, toleration of that value",
      [{ key: "k", value: "v" }],
      [{ key: "k", value: "v" }],
      true,
    ],
    [
      "taint with value, toleration of another value",
      [{ key: "k", value: "v" }],
      [{ key: "k", value: "w" }],
      false,
    ],
    // Kubernetes' Equal (the default): an absent value is the empty one, so it matches only a taint without one.
    ["taint with value, toleration without value", [{ key: "k", value: "v" }], [{ key: "k" }], false],
    ["taint with value, Exists", [{ key: "k", value: "v" }], [{ key: "k", operator: "Exists" }], true],
    [
      "an empty key with Exists tolerates every taint",
      [{ key: "k", value: "v" }, { key: "j" }],
      [{ operator: "Exists" }],
      true,
    ],
    [
      "the toleration's effect must be the taint's",
      [{ key: "k", effect: "NoExecute" }],
      [{ key: "k", effect: "NoSchedule" }],
      false,
    ],
    ["an omitted effect matches every effect", [{ key: "k", effect: "NoExecute" }], [{ key: "k" }], true],
    ["a taint without effect is NoSchedule", [{ key: "k" }], [{ key: "k", effect: "NoSchedule" }], true],
    ["PreferNoSchedule never filters", [{ key: "k", effect: "PreferNoSchedule" }], [], true],
    ["taint without value, toleration without value", [{ key: "k" }], [{ key: "k" }], true],
    ["taint without value, toleration with a value", [{ key: "k" }], [{ key: "k", value: "v" }], false],
    ["taint, no tolerations", [{ key: "k" }], [], false],
    ["other key tolerated", [{ key: "k" }], [{ key: "j" }], false],
    ["every taint must be tolerated", [{ key: "k" }, { key: "j" }], [{ key: "k" }], false],
    [
      "several tolerated taints",
      [{ key: "k" }, { key: "j", value: "1" }],
      [{ key: "j", value: "1" }, { key: "k" }],
      true,
    ],
    ["extra tolerations are harmless", [], [{ key: "k" }], true],
  ] as [string, Taint[], Toleration[], boolean][])("%s", (_name, taints, tols, expected) => {
    expect(taints.every((t) => t.effect === "PreferNoSchedule" || isTolerated(t, tols))).toBe(expected);
    const result = tolerations(machine({ taints }), job({ constraints: { tolerations: tols } }), none);
    expect(result).toEqual(expected ? ok : no("taint not tolerated"));
  });
});

describe("maxPerMachine", () => {
  it.each([
    ["no cap", null, 5, 3, ok],
    ["well below the cap", 5, 0, 1, ok],
    ["claims reach the cap", 2, 2, 0, no("max per machine reached")],
    ["plan reaches the cap", 2, 0, 2, no("max per machine reached")],
    ["claims and plan reach the cap together", 3, 1, 2, no("max per machine reached")],
    ["one below the cap", 3, 1, 1, ok],
  ] as const)("%s", (_name, max, placed, planned, expected) => {
    const m = machine();
    const j = job({ constraints: { maxPerMachine: max }, placedPerMachine: { [m.id]: placed } });
    const plan = new InFlight();
    for (let i = 0; i < planned; i++) plan.add(j, m.id);
    plan.add({ ...j, id: j.id + 1000 }, m.id); // another job's tasks do not count
    expect(jobTasksOn(j, plan, m.id)).toBe(placed + planned);
    expect(maxPerMachine(m, j, plan)).toEqual(expected);
  });
});
