import type { Pool } from "../../src/db/pool.ts";
import { failedAffinityTerms, untoleratedTaints } from "./sql-rules.ts";

/**
 * The race's last word: pending work that could be placed now, by plain SQL over the base tables
 * (as the invariants are checked, never through the product's own rule functions) plus a bound on
 * what the vocabulary lets a job take at once. At quiescence it must be empty.
 */

/** SQL: whether machines `a` and `b` share a domain of topology key `key` (a jsonb text expression). */
const sameDomain = (key: string, a: string, b: string) =>
  `case when ${key} = 'machine' then ${a}.id = ${b}.id else ${a}.labels ->> (${key}) = ${b}.labels ->> (${key}) end`;

/**
 * SQL: the vocabulary rules that keep a new task of job `j` off machine `m`: a claim there holds one
 * of its host ports; a task of a job it repels (or that repels it) holds a claim in the domain; a
 * DoNotSchedule spread term that one more task in the domain would break. Written apart from
 * omega.plan_vocabulary_verdicts.
 */
const vocabularyForbids = (j: string, m: string) => `
  select from omega.claim_ports cp where cp.cell = ${m}.cell and cp.machine_id = ${m}.id and cp.port = any (${j}.ports)
  union all
  select from jsonb_array_elements(coalesce(${j}.vocabulary -> 'jobAntiAffinity', '[]')) t
    join omega.jobs k on k.cell = ${j}.cell and k.labels @> (t -> 'selector')
    join omega.claims kc on kc.cell = k.cell and kc.job_id = k.id
    join omega.machines km on km.cell = kc.cell and km.id = kc.machine_id
    where ${sameDomain("t ->> 'topologyKey'", "km", m)}
  union all
  select from omega.jobs r cross join lateral jsonb_array_elements(r.vocabulary -> 'jobAntiAffinity') t
    join omega.claims rc on rc.cell = r.cell and rc.job_id = r.id
    join omega.machines rm on rm.cell = rc.cell and rm.id = rc.machine_id
    where r.cell = ${j}.cell and r.id <> ${j}.id and r.vocabulary ? 'jobAntiAffinity'
      and ${j}.labels @> (t -> 'selector') and ${sameDomain("t ->> 'topologyKey'", "rm", m)}
  union all
  select from jsonb_array_elements(coalesce(${j}.vocabulary -> 'topologySpread', '[]')) t
    cross join lateral (
      select count(sc.task_id) filter (where ${sameDomain("t ->> 'topologyKey'", "dm", m)}) as here
      from omega.claims sc join omega.machines dm on dm.cell = sc.cell and dm.id = sc.machine_id
      where sc.cell = ${j}.cell and sc.job_id = ${j}.id) h
    cross join lateral (
      select min(n) as least from (
        select count(ec.task_id) as n
        from omega.machines em
        left join omega.claims ec on ec.cell = em.cell and ec.machine_id = em.id and ec.job_id = ${j}.id
        where em.cell = ${j}.cell and em.state = 'up' and em.labels @> ${j}.selector
          and (t ->> 'topologyKey' = 'machine' or em.labels ? (t ->> 'topologyKey'))
          and not exists (${failedAffinityTerms(j, "em")})
        group by case when t ->> 'topologyKey' = 'machine' then em.id::text else em.labels ->> (t ->> 'topologyKey') end) d) l
    where coalesce(t ->> 'whenUnsatisfiable', 'DoNotSchedule') = 'DoNotSchedule'
      and (h.here + 1 - l.least > (t ->> 'maxSkew')::integer
        or not (t ->> 'topologyKey' = 'machine' or ${m}.labels ? (t ->> 'topologyKey')))`;

/**
 * Pending work that could be placed now: for each job with pending tasks, how many more of its tasks
 * fit on up machines whose labels and taints it accepts and that its ports, inter-job anti-affinity
 * and topology spread allow (free capacity and maxPerMachine counted per machine). A job is listed when one more task fits — or, for a gang that holds no claim yet,
 * when minAvailable would fit. At quiescence this must be empty: every schedulable task is placed.
 * Each row carries the pending tasks' own explanation (pending_tasks.reason) to say why it waits.
 */
export async function schedulableButPending(pool: Pool): Promise<Record<string, unknown>[]> {
  const { rows } = await pool.query<PendingRoom>(`
    with pending as (
      select j.*, (select count(*) from omega.claims c where c.cell = j.cell and c.job_id = j.id) as claims
      from omega.jobs j where j.state = 'pending' and j.ready and j.pending_count > 0
    ),
    room as (
      select p.cell, p.id as job_id, m.name as machine, m.labels as mlabels, m.id as machine_id,
        least(
          case when p.cpu > 0 then (m.cpu - m.used_cpu) / p.cpu end,
          case when p.memory > 0 then (m.memory - m.used_memory) / p.memory end,
          case when p.gpu > 0 then (m.gpu - m.used_gpu) / p.gpu end,
          case when p.disk > 0 then (m.disk - m.used_disk) / p.disk end,
          p.max_per_machine - (select count(*) from omega.claims c
                               where c.cell = p.cell and c.job_id = p.id and c.machine_id = m.id),
          -- A task holds its host ports, and one that repels its own job stands alone in its domain.
          case when p.ports <> '{}' or exists (
            select from jsonb_array_elements(coalesce(p.vocabulary -> 'jobAntiAffinity', '[]')) t
            where p.labels @> (t -> 'selector')) then 1 end
        ) as fits
      from pending p
      join omega.machines m on m.cell = p.cell and m.state = 'up'
      where m.labels @> p.selector
        and not exists (${failedAffinityTerms("p", "m")})
        and not exists (${untoleratedTaints("p", "m")})
        and not exists (${vocabularyForbids("p", "m")})
    )
    select p.id as job_id, p.scheduler, p.priority, p.pending_count, p.gang_min, p.claims, p.blocked,
      p.lease_owner, sum(greatest(r.fits, 0))::int as could_place,
      (select string_agg(distinct coalesce(t.reason, '(none)'), '; ') from omega.tasks t
       where t.cell = p.cell and t.job_id = p.id and t.state = 'pending') as reason,
      p.cell, p.labels as job_labels, p.vocabulary,
      jsonb_agg(jsonb_build_object('id', r.machine_id, 'labels', r.mlabels, 'fits', greatest(r.fits, 0))) as rooms
    from pending p join room r on r.cell = p.cell and r.job_id = p.id
    group by p.cell, p.id, p.scheduler, p.priority, p.pending_count, p.gang_min, p.claims, p.blocked, p.lease_owner,
      p.labels, p.vocabulary
    having sum(greatest(r.fits, 0)) >= case when p.gang_min is not null and p.claims = 0
                                            then least(p.gang_min, p.pending_count) else 1 end
    order by p.id`);
  const stuck: Record<string, unknown>[] = [];
  for (const { cell, job_labels, vocabulary, rooms, ...row } of rows) {
    const needed =
      row.gang_min !== null && Number(row.claims) === 0 ? Math.min(row.gang_min, row.pending_count) : 1;
    if ((await placeable(pool, cell, row.job_id, job_labels, vocabulary, rooms)) >= needed) stuck.push(row);
  }
  return stuck;
}

interface PendingRoom {
  job_id: number;
  pending_count: number;
  gang_min: number | null;
  claims: string;
  cell: string;
  job_labels: Record<string, string>;
  vocabulary: {
    jobAntiAffinity?: { selector: Record<string, string>; topologyKey: string }[];
    topologySpread?: { topologyKey: string; maxSkew: number; whenUnsatisfiable?: string }[];
  } | null;
  rooms: { id: number; labels: Record<string, string>; fits: number }[];
  [column: string]: unknown;
}

/**
 * How many of the job's tasks the rooms can take at once, where the per-machine sum says too much:
 * a job that repels itself takes one machine per domain, and a DoNotSchedule spread fills the
 * domains only as far as the skew allows (filled one task at a time into the emptiest domain with
 * room, as any placement order at best could). Both matter for a gang, which needs them at once.
 */
async function placeable(
  pool: Pool,
  cell: string,
  jobId: number,
  labels: Record<string, string>,
  vocabulary: PendingRoom["vocabulary"],
  rooms: PendingRoom["rooms"],
): Promise<number> {
  const domainOf = (r: { id: number; labels: Record<string, string> }, key: string) =>
    key === "machine" ? String(r.id) : r.labels[key];
  let total = rooms.reduce((sum, r) => sum + r.fits, 0);
  for (const t of vocabulary?.jobAntiAffinity ?? []) {
    if (!Object.entries(t.selector).every(([k, v]) => labels[k] === v)) continue;
    const domains = new Set(rooms.filter((r) => r.fits > 0).map((r) => domainOf(r, t.topologyKey)));
    total = Math.min(total, domains.size);
  }
  for (const t of vocabulary?.topologySpread ?? []) {
    if ((t.whenUnsatisfiable ?? "DoNotSchedule") !== "DoNotSchedule") continue;
    const { rows } = await pool.query<{ dom: string; n: number }>(
      `select case when $3 = 'machine' then m.id::text else m.labels ->> $3 end as dom, count(c.task_id)::int as n
       from omega.jobs j
       join omega.machines m on m.cell = j.cell and m.state = 'up' and m.labels @> j.selector
         and ($3 = 'machine' or m.labels ? $3) and not exists (${failedAffinityTerms("j", "m")})
       left join omega.claims c on c.cell = m.cell and c.machine_id = m.id and c.job_id = j.id
       where j.cell = $1 and j.id = $2
       group by 1`,
      [cell, jobId, t.topologyKey],
    );
    const counts = new Map(rows.map((r) => [r.dom, r.n]));
    const room = new Map<string, number>();
    for (const r of rooms) {
      const d = domainOf(r, t.topologyKey);
      if (d !== undefined) room.set(d, (room.get(d) ?? 0) + r.fits);
    }
    let placed = 0;
    for (;;) {
      const least = Math.min(...counts.values());
      const next = [...counts.entries()]
        .filter(([d, n]) => (room.get(d) ?? 0) > 0 && n + 1 - least <= t.maxSkew)
        .sort((a, b) => a[1] - b[1])[0];
      if (!next) break;
      counts.set(next[0], next[1] + 1);
      room.set(next[0], (room.get(next[0]) ?? 0) - 1);
      placed++;
    }
    total = Math.min(total, placed);
  }
  return total;
}
