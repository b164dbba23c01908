#!/usr/bin/env bash
# A third-party scheduler written against omega's SQL surface alone: no TypeScript, no library,
# only psql. It registers a scheduler profile, then loops: lease pending jobs of that scheduler
# (omega.lease_work), pick a machine for each pending task (a random one of the up machines its selector
# allows that have room for it), commit the plan
# through omega.commit_plan, and give the leases back. It runs beside the built-in schedulers on the
# same cell: the commit procedure re-checks every rule (capacity, taints, affinity, spread, ports,
# quotas, priorities) whoever proposes, so a naive policy can only lose placements, never break
# the state; what it loses is retried on fresh state next round.
#
#   DATABASE_URL=postgres://… CELL=east SCHEDULER=firstfit examples/sql-scheduler.sh
#
# Jobs reach it with "scheduler": "firstfit" in their spec. ROUNDS=0 (the default) loops forever.
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL is required}"
CELL=${CELL:-east}
SCHEDULER=${SCHEDULER:-firstfit}
OWNER=${OWNER:-sql-scheduler-$$}
ROUNDS=${ROUNDS:-0}
IDLE=${IDLE:-0.5}

psql() { command psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -v cell="$CELL" -v scheduler="$SCHEDULER" -v owner="$OWNER" "$@"; }

psql >/dev/null <<'SQL'
select omega.register_scheduler(:'scheduler', '{"description": "random fit, in psql (examples/sql-scheduler.sh)"}');
SQL
echo "scheduler $SCHEDULER started on cell $CELL as $OWNER"

round=0
while [ "$ROUNDS" = 0 ] || [ "$round" -lt "$ROUNDS" ]; do
  round=$((round + 1))
  # One transaction per round: lease, plan in SQL, commit, release. Prints "committed rejected".
  result=$(psql -At <<'SQL'
begin;
create temporary table leased on commit drop as
  select * from omega.lease_work(:'cell', :'scheduler', :'owner', 16, 10);
create temporary table proposal on commit drop as
  with tasks as (
    select l.id as job_id, t.task_id, l.cpu, l.memory, l.gpu, l.disk, l.selector
    from leased l cross join lateral unnest(l.pending) as t(task_id)
  )
  select t.task_id, m.id as machine_id, m.version
  from tasks t
  cross join lateral (
    select m.id, m.version from omega.machines m
    where m.cell = :'cell' and m.state = 'up' and m.labels @> t.selector
      and m.cpu - m.used_cpu >= t.cpu and m.memory - m.used_memory >= t.memory
      and m.gpu - m.used_gpu >= t.gpu and m.disk - m.used_disk >= t.disk
    -- A random machine among those with room (the plan does not see its own placements: the
    -- commit refuses what overflows, and the next round places it).
    order by random()
    limit 1
  ) m;
select coalesce(sum((outcome = 'committed')::int), 0) || ' ' || coalesce(sum((outcome = 'rejected')::int), 0)
from omega.commit_plan(:'cell', :'scheduler',
  coalesce((select array_agg(task_id) from proposal), '{}'),
  coalesce((select array_agg(machine_id) from proposal), '{}'),
  coalesce((select array_agg(version) from proposal), '{}'),
  'incremental', 'fine', :'owner');
select omega.release_leases(:'cell', coalesce((select array_agg(id) from leased), '{}'), :'owner') \g /dev/null
commit;
SQL
)
  read -r committed rejected <<<"$result"
  if [ "${committed:-0}" -gt 0 ] || [ "${rejected:-0}" -gt 0 ]; then
    echo "round $round: $committed committed, $rejected rejected"
  else
    sleep "$IDLE"
  fi
done
