/**
 * The cluster's state as gauges, read from the database when /metrics is scraped (one statement,
 * at scrape intervals — never on the scheduling path): pending tasks by cell and reason class
 * (kube-scheduler's scheduler_pending_pods), the work queue's depth, leases held, machines and
 * resources per cell. Served by the API only: every worker reporting the same cluster-wide numbers
 * would count them once per worker.
 */
import { Gauge } from "prom-client";
import type { Pool } from "../db/pool.ts";
import { registry } from "./registry.ts";

// The reason class of a pending task: the first (most common) filter rejection of
// "0/12 machines fit: 9 insufficient cpu, 3 …", or the kind of wait.
const SQL = `
  with pending as (
    select cell,
      case
        when reason like 'waiting for the %' then 'unscheduled'
        when reason like 'quota:%' then 'quota'
        when reason like 'dependency%' then 'dependency'
        when reason like '%machines fit%' then coalesce(substring(reason from ': [0-9]+ ([^,]+)'), 'no machine')
        when reason like 'lost%' then 'lost'
        when reason like 'preempted%' then 'preempted'
        else 'other'
      end as class
    from omega.pending_tasks)
  select 'pending' as metric, cell, class as label, count(*)::float8 as value from pending group by 1, 2, 3
  union all
  select 'leases', cell, scheduler, count(*)::float8 from omega.jobs
    where lease_owner is not null and lease_expires > now() group by 1, 2, 3

  union all
  select 'machines', cell, state, count(*)::float8 from omega.machine_usage group by 1, 2, 3
  union all
  select 'capacity', cell, r.name, sum(r.v)::float8 from omega.machine_usage
    cross join lateral (values ('cpu', capacity_cpu), ('memory', capacity_memory), ('gpu', capacity_gpu)) r(name, v)
    group by 1, 2, 3
  union all
  select 'used', cell, r.name, sum(r.v)::float8 from omega.machine_usage
    cross join lateral (values ('cpu', used_cpu), ('memory', used_memory), ('gpu', used_gpu)) r(name, v)
    group by 1, 2, 3`;

// Apart: a role without access to the queue's schema still gets the rest.
const QUEUE_SQL = `select 'queue' as metric, '' as cell, task_identifier as label, count(*)::float8 as value
  from graphile_worker.jobs group by 1, 2, 3`;

interface Row {
  metric: string;
  cell: string;
  label: string;
  value: number;
}

let sources: Pool[] = [];

/**
 * The pools the gauges read from: the API's, or under `omega serve` over partitions every
 * partition's (cells are each on one partition, so their rows add up; the queue depths are summed).
 */
export function collectClusterFrom(...pools: Pool[]): void {
  sources = pools;
}

// One read per scrape, shared by the gauges below (each gauge's collect asks for it).
let current: { at: number; rows: Promise<Row[]> } | undefined;
function rows(): Promise<Row[]> {
  const pools = sources;
  if (pools.length === 0) return Promise.resolve([]);
  if (!current || Date.now() - current.at > 1000) {
    current = {
      at: Date.now(),
      rows: Promise.all(
        pools.flatMap((pool) =>
          [SQL, QUEUE_SQL].map((sql) =>
            pool.query<Row>(sql).then(
              (r) => r.rows,
              () => [],
            ),
          ),
        ),
      ).then((parts) => parts.flat()),
    };
  }
  return current.rows;
}

function gauge(name: string, help: string, metric: string, labelNames: readonly [string, string]): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const r of await rows()) {
        if (r.metric !== metric) continue;
        const labels = { [labelNames[0]]: r.cell, [labelNames[1]]: r.label };
        this.set(labels, r.value);
      }
    },
  });
}

gauge(
  "omega_pending_tasks",
  "Pending tasks by cell and reason class (unscheduled: not tried yet; quota; dependency; a filter rejection such as 'insufficient cpu'; lost; preempted)",
  "pending",
  ["cell", "reason"],
);
gauge("omega_job_leases", "Jobs leased by a scheduler worker right now, by cell and scheduler", "leases", [
  "cell",
  "scheduler",
]);
gauge("omega_machines", "Machines by cell and state", "machines", ["cell", "state"]);
gauge(
  "omega_cell_capacity",
  "Capacity of a cell's machines, by cell and resource (cpu in millicores, memory in MiB, gpu)",
  "capacity",
  ["cell", "resource"],
);
gauge("omega_cell_used", "Resources held by claims, by cell and resource", "used", ["cell", "resource"]);

new Gauge({
  name: "omega_queue_jobs",
  help: "Jobs waiting or running in the graphile-worker queue, by task (schedule:<scheduler>, maintenance)",
  labelNames: ["task"] as const,
  registers: [registry],
  async collect() {
    this.reset();
    for (const r of await rows()) if (r.metric === "queue") this.inc({ task: r.label }, r.value);
  },
});
