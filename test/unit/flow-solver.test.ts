/**
 * The min-cost flow solver against brute force: on small random networks, every integer flow is
 * enumerated, and the solver's must be a maximum flow of the least cost among maximum flows.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FlowGraph } from "../../src/placement/flow/min-cost-flow.ts";

interface Arc {
  from: number;
  to: number;
  capacity: number;
  cost: number;
}

/** Every integer flow within capacities that conserves flow at inner nodes: best (value, cost). */
function bruteForce(nodes: number, arcs: readonly Arc[]): { flow: number; cost: number } {
  let best = { flow: -1, cost: 0 };
  const x = arcs.map(() => 0);
  const visit = (i: number) => {
    if (i === arcs.length) {
      const net = new Array(nodes).fill(0);
      let cost = 0;
      arcs.forEach((a, k) => {
        net[a.from] -= x[k] as number;
        net[a.to] += x[k] as number;
        cost += (x[k] as number) * a.cost;
      });
      for (let v = 2; v < nodes; v++) if (net[v] !== 0) return;
      const flow = net[0] === 0 ? 0 : -net[0];
      if (flow > best.flow || (flow === best.flow && cost < best.cost)) best = { flow, cost };
      return;
    }
    for (let f = 0; f <= (arcs[i] as Arc).capacity; f++) {
      x[i] = f;
      visit(i + 1);
    }
    x[i] = 0;
  };
  visit(0);
  return best;
}

const network = fc.integer({ min: 3, max: 5 }).chain((nodes) =>
  fc.record({
    nodes: fc.constant(nodes),
    arcs: fc.array(
      fc.record({
        from: fc.integer({ min: 0, max: nodes - 1 }),
        to: fc.integer({ min: 0, max: nodes - 1 }),
        capacity: fc.integer({ min: 0, max: 2 }),
        cost: fc.integer({ min: 0, max: 9 }),
      }),
      { minLength: 1, maxLength: 7 },
    ),
  }),
);

describe("min-cost max-flow", () => {
  it("finds a maximum flow of least cost (brute force on small random networks)", () => {
    fc.assert(
      fc.property(network, ({ nodes, arcs }) => {
        // Node 0 is the source, node 1 the sink. A flow into the source or out of the sink is a
        // loop through them: the solver never needs one, and brute force counts it as no gain.
        const usable = arcs.filter((a) => a.from !== a.to && a.to !== 0 && a.from !== 1);
        const g = new FlowGraph();
        for (let v = 0; v < nodes; v++) g.addNode();
        const ids = usable.map((a) => g.addArc(a.from, a.to, a.capacity, a.cost));
        const got = g.minCostMaxFlow(0, 1);
        const want = bruteForce(nodes, usable);
        expect(got.flow).toBe(want.flow);
        expect(got.cost).toBe(want.cost);
        // Per-arc flows are within capacity and add up to the reported cost.
        let cost = 0;
        usable.forEach((a, k) => {
          const f = g.flowOn(ids[k] as number);
          expect(f).toBeGreaterThanOrEqual(0);
          expect(f).toBeLessThanOrEqual(a.capacity);
          cost += f * a.cost;
        });
        expect(cost).toBe(got.cost);
      }),
      { numRuns: 300 },
    );
  });

  it("routes through infinite-capacity arcs and refuses negative costs", () => {
    const g = new FlowGraph();
    const [s, t, a] = [g.addNode(), g.addNode(), g.addNode()];
    g.addArc(s, a, 5, 0);
    const cheap = g.addArc(a, t, 3, 1);
    const dear = g.addArc(a, t, Number.POSITIVE_INFINITY, 10);
    expect(g.minCostMaxFlow(s, t)).toMatchObject({ flow: 5, cost: 3 + 20 });
    expect([g.flowOn(cheap), g.flowOn(dear)]).toEqual([3, 2]);
    expect(() => g.addArc(s, t, 1, -1)).toThrow(/cost/);
  });
});
