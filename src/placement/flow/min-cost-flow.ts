/**
 * Min-cost max-flow by successive shortest paths with Johnson potentials (Dijkstra on reduced
 * costs), the textbook algorithm (Ahuja, Magnanti & Orlin, ch. 9). Pure: no I/O.
 *
 * Why this and not network simplex or cost scaling: the scheduler's graph is small by construction
 * (equivalence classes, see classes.ts: a few hundred nodes for 10,000 machines), and on such a
 * graph each augmentation saturates a class arc, so a few hundred Dijkstra runs over a few thousand
 * arcs finish in milliseconds. npm has no well-kept network-simplex package (`min-cost-flow` is the
 * same algorithm without potentials, a few hundred downloads a month).
 *
 * Costs must be non-negative integers on the arcs as added (all of the scheduler's are), so zero
 * potentials are valid at the start and no Bellman-Ford pass is needed.
 */
export class FlowGraph {
  // Residual arcs in pairs: arc a and its reverse a ^ 1. Adjacency as linked lists (head/next).
  readonly #to: number[] = [];
  readonly #residual: number[] = [];
  readonly #cost: number[] = [];
  readonly #next: number[] = [];
  readonly #head: number[] = [];

  get nodes(): number {
    return this.#head.length;
  }

  get arcs(): number {
    return this.#to.length / 2;
  }

  addNode(): number {
    this.#head.push(-1);
    return this.#head.length - 1;
  }

  /** Adds an arc and returns its id (for `flowOn`). `capacity` may be Infinity. */
  addArc(from: number, to: number, capacity: number, cost: number): number {
    if (!(cost >= 0) || !Number.isFinite(cost))
      throw new Error(`arc cost must be finite and >= 0, got ${cost}`);
    if (!(capacity >= 0)) throw new Error(`arc capacity must be >= 0, got ${capacity}`);
    const id = this.#to.length;
    this.#push(from, to, capacity, cost);
    this.#push(to, from, 0, -cost);
    return id;
  }

  /** Flow on an arc after `minCostMaxFlow` (the residual capacity of its reverse). */
  flowOn(arc: number): number {
    return this.#residual[arc ^ 1] as number;
  }

  #push(from: number, to: number, capacity: number, cost: number): void {
    this.#to.push(to);
    this.#residual.push(capacity);
    this.#cost.push(cost);
    this.#next.push(this.#head[from] as number);
    this.#head[from] = this.#to.length - 1;
  }

  /**
   * Sends as much flow as possible from `source` to `sink` at the least total cost among all
   * maximum flows. Returns the flow and its cost; per-arc flows via `flowOn`.
   */
  minCostMaxFlow(source: number, sink: number): { flow: number; cost: number; augmentations: number } {
    const n = this.#head.length;
    const potential = new Float64Array(n);
    const dist = new Float64Array(n);
    const via = new Int32Array(n);
    const heap = new MinHeap();
    let flow = 0;
    let cost = 0;
    let augmentations = 0;
    for (;;) {
      dist.fill(Number.POSITIVE_INFINITY);
      via.fill(-1);
      dist[source] = 0;
      heap.push(0, source);
      while (heap.size > 0) {
        const [d, u] = heap.pop();
        if (d > (dist[u] as number)) continue;
        const pu = potential[u] as number;
        for (let a = this.#head[u] as number; a !== -1; a = this.#next[a] as number) {
          if ((this.#residual[a] as number) <= 0) continue;
          const v = this.#to[a] as number;
          const nd = d + (this.#cost[a] as number) + pu - (potential[v] as number);
          if (nd < (dist[v] as number)) {
            dist[v] = nd;
            via[v] = a;
            heap.push(nd, v);
          }
        }
      }
      if (dist[sink] === Number.POSITIVE_INFINITY) break;
      // Unreachable nodes stay unreachable (augmenting only adds arcs between reachable ones).
      for (let v = 0; v < n; v++) {
        const d = dist[v] as number;
        if (d < Number.POSITIVE_INFINITY) potential[v] = (potential[v] as number) + d;
      }
      let push = Number.POSITIVE_INFINITY;
      for (let v = sink; v !== source; v = this.#to[(via[v] as number) ^ 1] as number) {
        push = Math.min(push, this.#residual[via[v] as number] as number);
      }
      if (push === Number.POSITIVE_INFINITY) throw new Error("unbounded flow: a path of infinite capacity");
      for (let v = sink; v !== source; v = this.#to[(via[v] as number) ^ 1] as number) {
        const a = via[v] as number;
        this.#residual[a] = (this.#residual[a] as number) - push;
        this.#residual[a ^ 1] = (this.#residual[a ^ 1] as number) + push;
        cost += push * (this.#cost[a] as number);
      }
      flow += push;
      augmentations++;
    }
    return { flow, cost, augmentations };
  }
}

/** A binary min-heap of (key, node) pairs; stale entries are skipped by the caller. */
class MinHeap {
  #keys: number[] = [];
  #nodes: number[] = [];

  get size(): number {
    return this.#keys.length;
  }

  push(key: number, node: number): void {
    const keys = this.#keys;
    const nodes = this.#nodes;
    let i = keys.length;
    keys.push(key);
    nodes.push(node);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((keys[parent] as number) <= key) break;
      keys[i] = keys[parent] as number;
      nodes[i] = nodes[parent] as number;
      i = parent;
    }
    keys[i] = key;
    nodes[i] = node;
  }

  pop(): [number, number] {
    const keys = this.#keys;
    const nodes = this.#nodes;
    const top: [number, number] = [keys[0] as number, nodes[0] as number];
    const lastKey = keys.pop() as number;
    const lastNode = nodes.pop() as number;
    const n = keys.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (keys[r] as number) < (keys[l] as number) ? r : l;
        if ((keys[c] as number) >= lastKey) break;
        keys[i] = keys[c] as number;
        nodes[i] = nodes[c] as number;
        i = c;
      }
      keys[i] = lastKey;
      nodes[i] = lastNode;
    }
    return top;
  }
}
