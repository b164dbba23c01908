-- A full cell stays cheap: capacity that comes back unparks the parked jobs it could serve, not all
-- of them.
--
-- Until now omega.capacity_freed unparked every parked job of the cell whenever any capacity came
-- back. In a full cell where tasks end at 100 a second beside 4,000 parked jobs, that is 400,000
-- job evaluations a second — each leased, planned and parked again — to place about 100 tasks: the
-- thundering herd kube-scheduler tames with queueing hints (a cluster event requeues only the pods
-- it could help) and backoff. And the reconcile (omega.wake_stale) unparked every job parked on an
-- older capacity epoch than its cell's, which after any change is all of them, every 2 s per
-- worker (313 ms a call in a burst run with 4,200 parked jobs).
--
-- Now:
-- * release_claims notes, for the rest of its transaction, which machines got room back;
--   capacity_freed then unparks, in the order parked jobs are served (oldest parking first, then
--   priority, then id), only those whose tasks fit in the room of those machines — counting
--   cpu, memory, gpu, disk and task slots, and taking each job's share of the room as it goes —
--   looking at no more than 256 parked jobs. A job that does not fit the room is left parked and
--   costs nothing more. Constraints are not looked at: an unparked job that cannot use the room
--   after all parks again, on the new epoch, and goes to the back of the line.
-- * capacity that does not come from released claims (a machine up, a quota raised) still
--   unparks every parked job of the cell, as before: such events are rare and their room is large.
-- * the reconcile unparks at most 32 jobs per cell per call, oldest parking first, among those
--   parked on an older epoch: a job the freed room was not offered to (skipped while another
--   transaction held its row, or beyond the 256) is retried within a bounded time, at a bounded
--   cost, instead of every parked job at once.
-- * the reconcile's wake-ups ask, per cell and scheduler, whether any pending job nobody holds
--   exists (an index probe), instead of reading every pending job.

-- Parked jobs in the order they are offered room. (Jobs parked by a worker of before 0021 have no
-- epoch: they come first.)
create index jobs_parked_in_turn on omega.jobs (cell, (coalesce(blocked_epoch, -1)), priority desc, id)
  where blocked and state = 'pending';
drop index omega.jobs_parked;

-- As in 0004, and noting the machines that got room back for capacity_freed (a setting local to
-- the transaction: the callers call capacity_freed after, in the same transaction).
create or replace function omega.release_claims(p_cell text, p_task_ids bigint[]) returns integer
language plpgsql as $$
declare
  released integer;
  freed bigint[];
begin
  perform from omega.machines m
  where m.cell = p_cell
    and m.id in (select c.machine_id from omega.claims c where c.cell = p_cell and c.task_id = any (p_task_ids))
  order by m.id for update;
  with gone as (
    delete from omega.claims c where c.cell = p_cell and c.task_id = any (p_task_ids) returning c.*
  ), per_machine as (
    select machine_id, sum(cpu) as cpu, sum(memory) as memory, sum(gpu) as gpu, sum(disk) as disk, count(*) as n
    from gone group by machine_id
  ), machine_updates as (
    update omega.machines m
    set used_cpu = m.used_cpu - pm.cpu, used_memory = m.used_memory - pm.memory,
        used_gpu = m.used_gpu - pm.gpu, used_disk = m.used_disk - pm.disk, tasks = m.tasks - pm.n
    from per_machine pm where m.cell = p_cell and m.id = pm.machine_id
    returning m.id
  )
  select (select count(*) from gone), array(select id from machine_updates) into released, freed;
  if cardinality(freed) > 0 then
    perform set_config('omega.freed_machines',
      concat_ws(',', nullif(current_setting('omega.freed_machines', true), ''), array_to_string(freed, ',')), true);
  end if;
  return released;
end $$;

-- Unparks, in turn, the parked jobs of a cell whose tasks fit in the given room, each taking its
-- share; returns the schedulers to wake. Looks at 256 parked jobs at most.
create function omega.unpark_within(p_cell text, p_cpu bigint, p_memory bigint, p_gpu bigint, p_disk bigint, p_slots bigint)
returns setof text
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  j record;
  n bigint;
  schedulers text[] := '{}';
begin
  for j in
    select p.id, p.scheduler, p.pending_count, p.cpu, p.memory, p.gpu, p.disk from omega.jobs p
    where p.cell = p_cell and p.blocked and p.state = 'pending'
    order by coalesce(p.blocked_epoch, -1), p.priority desc, p.id
    limit 256
    for update skip locked
  loop
    exit when p_slots <= 0;
    -- How many of its pending tasks the room holds: one is enough to be worth a try.
    n := least(j.pending_count, p_slots,
      case when j.cpu > 0 then p_cpu / j.cpu else p_slots end,
      case when j.memory > 0 then p_memory / j.memory else p_slots end,
      case when j.gpu > 0 then p_gpu / j.gpu else p_slots end,
      case when j.disk > 0 then p_disk / j.disk else p_slots end);
    continue when n < 1;
    update omega.jobs set blocked = false where cell = p_cell and id = j.id;
    p_cpu := p_cpu - n * j.cpu;
    p_memory := p_memory - n * j.memory;
    p_gpu := p_gpu - n * j.gpu;
    p_disk := p_disk - n * j.disk;
    p_slots := p_slots - n;
    if not j.scheduler = any (schedulers) then
      schedulers := schedulers || j.scheduler::text;
    end if;
  end loop;
  return query select unnest(schedulers);
end $$;

create or replace function omega.capacity_freed(p_cell text) returns void
language plpgsql set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
declare
  freed bigint[] := string_to_array(nullif(current_setting('omega.freed_machines', true), ''), ',')::bigint[];
  room record;
  s text;
begin
  update omega.cells set capacity_epoch = capacity_epoch + 1 where name = p_cell;
  if freed is null then
    -- Not released claims (a machine up, a quota raised): every parked job may have a chance.
    for s in
      with unblocked as (
        update omega.jobs j set blocked = false
        from (select id from omega.jobs
              where cell = p_cell and blocked and state = 'pending'
              for update skip locked) b
        where j.cell = p_cell and j.id = b.id
        returning j.scheduler)
      select distinct scheduler from unblocked
    loop
      perform omega.wake(p_cell, s);
    end loop;
    return;
  end if;
  perform set_config('omega.freed_machines', '', true);
  select coalesce(sum(greatest(m.cpu - m.used_cpu, 0)), 0)::bigint as cpu,
         coalesce(sum(greatest(m.memory - m.used_memory, 0)), 0)::bigint as memory,
         coalesce(sum(greatest(m.gpu - m.used_gpu, 0)), 0)::bigint as gpu,
         coalesce(sum(greatest(m.disk - m.used_disk, 0)), 0)::bigint as disk,
         coalesce(sum(greatest(m.max_tasks - m.tasks, 0)), 0)::bigint as slots
  into room
  from omega.machines m
  where m.cell = p_cell and m.id = any (freed) and m.state = 'up';
  for s in select omega.unpark_within(p_cell, room.cpu, room.memory, room.gpu, room.disk, room.slots) loop
    perform omega.wake(p_cell, s);
  end loop;
end $$;

-- The reconcile every worker runs (see 0021), bounded: per cell, 32 jobs parked on an older epoch
-- than the cell's, in turn; then a wake-up per cell and scheduler that has pending work nobody holds.
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
                  where j.cell = cl.name and j.scheduler = s.name and j.state = 'pending' and not j.blocked
                    and (j.lease_expires is null or j.lease_expires < now()))
  loop
    perform omega.wake(c.cell, c.scheduler);
    n := n + 1;
  end loop;
  return n;
end $$;
call omega.grant_entry_point('wake_stale', '{omega_scheduler}');
