-- Wake-ups that every worker of a scheduler answers, beside those one worker answers.
--
-- omega.wake notifies every worker of a scheduler, and each leased at once: at 200 jobs/s with two
-- workers, one leased the job and the other leased nothing — a statement, a plan of the verdict
-- step's connection warmed, and a core's time slice for nothing — or both leased part of a batch,
-- two smaller plans racing for the same packed machines (machine_busy). One worker instead gave
-- half the latency (placed p50 12.4 / 13.2 ms against 24.0 / 23.6 with two).
--
-- So the workers of a scheduler elect one (src/queue/wake-listener.ts: the session advisory lock
-- of its listening connection) that answers every wake-up; the others answer only the wake-ups
-- sent to every worker, which carry a third word, '*': the leader's when its evaluations of the
-- cell are all busy and none ends within 20 ms (src/queue/cell-loops.ts), a worker's that leased a
-- full batch (a backlog to share: src/scheduler/evaluate.ts), and the reconcile's, which is how a
-- stalled leader's work still reaches the others. omega.wake itself is unchanged: its payload
-- stays "<cell> <scheduler>".
create function omega.wake_every_worker(p_cell text, p_scheduler text) returns void
language plpgsql as $$
begin
  perform pg_notify('omega_wake', p_cell || ' ' || p_scheduler || ' *');
end $$;
call omega.grant_entry_point('wake_every_worker', '{omega_scheduler}');

-- The reconcile (0190), its wake-ups now to every worker.
create or replace function omega.wake_stale() returns integer
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  c record;
  n integer := 0;
begin
  perform set_config('synchronous_commit', 'off', true);
  for c in select name, capacity_epoch from omega.cells loop
    -- (Materialized: a LIMIT under a join may be run again for every row it joins.)
    with missed as materialized (
      select p.id from omega.jobs p
      where p.cell = c.name and p.blocked and p.state = 'pending'
        and coalesce(p.blocked_epoch, -1) < c.capacity_epoch
      order by coalesce(p.blocked_epoch, -1), p.priority desc, p.id
      limit 32
      for update skip locked)
    update omega.jobs j set blocked = false
    from missed where j.cell = c.name and j.id = missed.id;
  end loop;
  for c in
    select cl.name as cell, s.name as scheduler from omega.cells cl cross join omega.schedulers s
    where exists (select from omega.jobs j
                  where j.cell = cl.name and j.scheduler = s.name and j.state = 'pending' and not j.blocked and j.ready
                    and (j.lease_expires is null or j.lease_expires < now()))
  loop
    perform omega.wake_every_worker(c.cell, c.scheduler);
    n := n + 1;
  end loop;
  return n;
end $$;
call omega.grant_entry_point('wake_stale', '{omega_scheduler}');
