/**
 * The rebalancer with real processes: the API, simulated agents, a batch worker placing jobs and two
 * rebalance workers racing each other. Each cell is skewed or fragmented on purpose, then left to
 * the rebalancers; the database says what happened (moves, events, invariants).
 */
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Api, startApi } from "../support/api-client.ts";
import { makeAgentToken, makeCell, makeMachine, makeTenant } from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";
import { scratchFile } from "../support/scratch.ts";

const PERIOD_MS = 400;

let api: Api;
let token: string;
const processes: OmegaProcess[] = [];

async function setState(cell: string, machines: string[], state: "up" | "draining") {
  for (const m of machines)
    await api.db.pool.query("select omega.set_machine_state($1, $2, $3)", [cell, m, state]);
}

async function submit(body: Record<string, unknown>): Promise<number> {
  const reply = await api.call("POST", "/v1/jobs", { token, body });
  expect(reply.status, reply.text).toBe(201);
  return reply.body.id;
}

async function jobState(id: number): Promise<string> {
  const { rows } = await api.db.pool.query("select state from omega.jobs where id = $1", [id]);
  return rows[0]?.state;
}

async function runningTasks(id: number): Promise<number> {
  const { rows } = await api.db.pool.query(
    "select count(*)::int as n from omega.tasks where job_id = $1 and state = 'running'",
    [id],
  );
  return rows[0].n;
}

/** Utilisation (fullest dimension) of the cell's up machines. */
async function utilisation(cell: string): Promise<number[]> {
  const { rows } = await api.db.pool.query(
    `select greatest(used_cpu::float8 / cpu, used_memory::float8 / memory) as u
     from omega.machines where cell = $1 and state = 'up' order by name`,
    [cell],
  );
  return rows.map((r) => r.u);
}

function agent(cell: string, prefix: string, agentToken: string): OmegaProcess {
  return omega(
    [
      "agent",
      "--simulate",
      "4",
      "--cell",
      cell,
      "--prefix",
      prefix,
      "--heartbeat",
      "200ms",
      "--poll",
      "200ms",
    ],
    { OMEGA_API_URL: api.url, OMEGA_AGENT_TOKEN: agentToken },
  );
}

beforeAll(async () => {
  api = await startApi();
  token = (await makeTenant(api.db.pool)).token;
  for (const [cell, prefix] of [
    ["east", "e"],
    ["west", "w"],
  ] as const) {
    await makeCell(api.db.pool, cell);
    for (let i = 1; i <= 4; i++)
      await makeMachine(api.db.pool, { cell, name: `${prefix}-0${i}`, cpu: 4000, memory: 8192 });
    processes.push(agent(cell, prefix, await makeAgentToken(api.db.pool, cell)));
  }
  processes.push(omega(["worker", "--scheduler", "batch"], { DATABASE_URL: api.db.url }));
}, 60_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await api?.close();
});

/** Starts the two racing rebalancers (once the cells are set up as the test wants them). */
async function startRebalancers(): Promise<void> {
  const profiles = scratchFile("rebalance-profiles.json");
  await writeFile(
    profiles,
    JSON.stringify({
      rebalance: {
        extends: "rebalance",
        strategies: ["Defragment", "LowNodeUtilization"],
        periodMs: PERIOD_MS,
        lowThreshold: 0.3,
        highThreshold: 0.6,
        maxMovesPerMinute: 1000,
      },
    }),
  );
  for (let i = 0; i < 2; i++)
    processes.push(
      omega(["worker", "--scheduler", "rebalance", "--profiles", profiles], { DATABASE_URL: api.db.url }),
    );
}

describe("the rebalancer, with real workers and agents", () => {
  it("balances a skewed cell, holds the disruption budget at every sample, never leaves a task without a claim, and makes room for a gang", async () => {
    // east: every task of a 4-task job on e-01 (100%), the other machines drained meanwhile.
    await setState("east", ["e-02", "e-03", "e-04"], "draining");
    const skewed = await submit({
      cell: "east",
      tasks: 4,
      resources: { cpu: "1", memory: "1Gi" },
      disruptionBudget: { maxUnavailable: 1 },
    });
    // west: one 1-core task on each machine, so no machine is free for a 4-core task.
    const small: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const others = [1, 2, 3, 4].filter((j) => j !== i).map((j) => `w-0${j}`);
      await setState("west", others, "draining");
      await setState("west", [`w-0${i}`], "up");
      const id = await submit({ cell: "west", tasks: 1, resources: { cpu: "1", memory: "1Gi" } });
      await waitFor(async () => (await runningTasks(id)) === 1, 30_000, `small job ${i} running`);
      small.push(id);
    }
    await waitFor(async () => (await runningTasks(skewed)) === 4, 30_000, "the skewed job to run");
    await setState("east", ["e-02", "e-03", "e-04"], "up");
    await setState("west", ["w-01", "w-02", "w-03"], "up");
    const gang = await submit({
      cell: "west",
      tasks: 2,
      resources: { cpu: "4", memory: "1Gi" },
      gang: { minAvailable: 2 },
    });
    await waitFor(
      async () => {
        const { rows } = await api.db.pool.query("select blocked from omega.jobs where id = $1", [gang]);
        return rows[0]?.blocked === true;
      },
      30_000,
      "the gang to wait, blocked: it fits nowhere",
    );
    expect(Math.max(...(await utilisation("east")))).toBe(1);

    await startRebalancers();

    // Sampled while the rebalancers work: the budget and the invariants hold at every sample.
    const samples: { unavailable: number; violations: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await api.db.pool.query(
          "select coalesce(max(unavailable), 0)::int as n from omega.disruption where job_id = $1",
          [skewed],
        );
        const violations = await invariantViolations(api.db.pool);
        samples.push({ unavailable: rows[0].n, violations: violations.length });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await waitFor(async () => Math.max(...(await utilisation("east"))) <= 0.6, 60_000, "east balanced");
    await waitFor(
      async () => ["placed", "running"].includes(await jobState(gang)),
      60_000,
      "the gang placed",
    );
    await waitFor(async () => (await runningTasks(skewed)) === 4, 30_000, "every moved task running again");
    // No oscillation: once balanced, further periods move nothing.
    const movesAt = async () =>
      (await api.db.pool.query("select count(*)::int as n from omega.moves")).rows[0].n as number;
    const settled = await movesAt();
    await new Promise((r) => setTimeout(r, PERIOD_MS * 6));
    sampling = false;
    await sampler;
    expect(await movesAt()).toBe(settled);

    expect(samples.length).toBeGreaterThan(5);
    expect(Math.max(...samples.map((s) => s.unavailable))).toBeLessThanOrEqual(1);
    expect(samples.filter((s) => s.violations > 0)).toEqual([]);

    const { rows: moves } = await api.db.pool.query(
      "select cell, strategy, count(*)::int as n from omega.moves group by 1, 2 order by 1, 2",
    );
    // east: 4 tasks on 4 cores down to at most 60%: two moves; west: two small tasks out of the way.
    expect(moves).toEqual([
      { cell: "east", strategy: "LowNodeUtilization", n: 2 },
      { cell: "west", strategy: "Defragment", n: 2 },
    ]);

    // The event log: every move is one `moved` event; no moved task ever went back to pending.
    const { rows: log } = await api.db.pool.query(
      `select
         (select count(*)::int from omega.events where kind = 'moved') as moved_events,
         (select count(*)::int from omega.moves) as moves,
         (select count(*)::int from omega.events e where e.kind in ('returned', 'preempted', 'lost', 'retried', 'pending')
            and e.task_id in (select task_id from omega.moves)) as left_without_claim,
         (select count(*)::int from omega.moves mv where not exists (
            select from omega.events e where e.task_id = mv.task_id and e.kind = 'placed'
              and e.at = (select m2.at from omega.events m2 where m2.task_id = mv.task_id and m2.kind = 'moved' limit 1))) as moves_without_placement`,
    );
    expect(log[0]).toEqual({ moved_events: 4, moves: 4, left_without_claim: 0, moves_without_placement: 0 });
    for (const id of small) expect(await jobState(id)).toBe("running");

    // Two rebalancers raced: nothing was committed twice.
    const { rows: twice } = await api.db.pool.query(
      "select task_id, count(*)::int as n from omega.moves group by task_id having count(*) > 1",
    );
    expect(twice).toEqual([]);
    const { rows: stats } = await api.db.pool.query(
      "select sum(committed)::int as committed from omega.plans where scheduler = 'rebalance'",
    );
    expect(stats[0].committed).toBe(4);
    expect(await invariantViolations(api.db.pool)).toEqual([]);
    expect(small).toHaveLength(4);
  }, 240_000);
});
