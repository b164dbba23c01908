-- A tenant's waiting tasks counted as they change, not summed at every submission.
--
-- Every submission checks the tenant's backlog against its maxPendingTasks (0040). 0220 summed
-- pending_count over the tenant's pending jobs once a transaction: a read of the whole backlog. In
-- `omega bench latency` (200 jobs/s, a backlog of a few dozen jobs, the index full of the entries
-- of jobs placed since) it took 184 µs a submission; in `omega bench burst`, where thousands of
-- jobs wait parked in a full cell, 410 µs, 3.6 s of the run's database time; serially with 4,000
-- jobs waiting, 323 µs of the 1.4 ms a submission costs.
--
-- omega.tenant_pending holds the count in rows of (tenant, backend): each backend adds to its own
-- row, so that writers never wait on each other nor lock in orders that could deadlock (a
-- submission batch adds tenant by tenant in request order). A statement trigger on omega.jobs adds
-- what each statement changed (a job counts its pending_count while it is pending); a refused
-- submission's savepoint takes its change back with it. omega.fold_pending_counts, run by the
-- workers every second, folds the rows of backends that have ended into row 0 (and drops the rows
-- of tenants that no longer exist), so a tenant has about as many rows as connections write for it.

create table omega.tenant_pending (
  tenant_id bigint not null,
  -- The backend (pid) that wrote the row; 0 for what the ended ones left.
  backend integer not null,
  -- A row may go below zero (a job submitted by one backend, placed by another); the sum of a
  -- tenant's rows is its jobs' pending tasks.
  tasks bigint not null default 0,
  primary key (tenant_id, backend)
);

create function omega.jobs_count_pending() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  tenants bigint[];
  deltas bigint[];
begin
  if tg_op = 'TRUNCATE' then
    delete from omega.tenant_pending;
    return null;
  end if;
  -- (Each trigger names only the transition tables it has.)
  if tg_op = 'INSERT' then
    select array_agg(c.tenant_id), array_agg(c.tasks) into tenants, deltas
    from (select n.tenant_id, sum(n.pending_count) as tasks from new_jobs n where n.state = 'pending' group by 1) c;
  elsif tg_op = 'DELETE' then
    select array_agg(c.tenant_id), array_agg(-c.tasks) into tenants, deltas
    from (select o.tenant_id, sum(o.pending_count) as tasks from old_jobs o where o.state = 'pending' group by 1) c;
  else
    select array_agg(c.tenant_id), array_agg(c.tasks) into tenants, deltas
    from (select c.tenant_id, sum(c.tasks) as tasks
          from (select n.tenant_id, n.pending_count as tasks from new_jobs n where n.state = 'pending'
                union all
                select o.tenant_id, -o.pending_count from old_jobs o where o.state = 'pending') c
          group by 1 having sum(c.tasks) <> 0) c;
  end if;
  if tenants is not null then
    insert into omega.tenant_pending as p (tenant_id, backend, tasks)
    select u.tenant_id, pg_backend_pid(), u.tasks from unnest(tenants, deltas) as u(tenant_id, tasks)
    on conflict (tenant_id, backend) do update set tasks = p.tasks + excluded.tasks;
  end if;
  return null;
end $$;
revoke execute on function omega.jobs_count_pending() from public;

-- (A trigger with transition tables takes one event.)
create trigger jobs_pending_inserted after insert on omega.jobs
  referencing new table as new_jobs for each statement execute function omega.jobs_count_pending();
create trigger jobs_pending_updated after update on omega.jobs
  referencing old table as old_jobs new table as new_jobs for each statement execute function omega.jobs_count_pending();
create trigger jobs_pending_deleted after delete on omega.jobs
  referencing old table as old_jobs for each statement execute function omega.jobs_count_pending();
create trigger jobs_pending_truncated after truncate on omega.jobs
  for each statement execute function omega.jobs_count_pending();

-- What is waiting now (the table is locked by the triggers' creation until this commits).
insert into omega.tenant_pending (tenant_id, backend, tasks)
select j.tenant_id, 0, sum(j.pending_count) from omega.jobs j where j.state = 'pending' group by j.tenant_id;

create or replace function omega.tenant_pending_tasks(p_tenant_id bigint) returns bigint
language plpgsql as $$
begin
  return (select coalesce(sum(p.tasks), 0) from omega.tenant_pending p where p.tenant_id = p_tenant_id);
end $$;

-- The count is kept by the trigger, within the transaction too: nothing more to record.
create or replace function omega.count_pending_tasks(p_tenant_id bigint, p_pending bigint) returns void
language plpgsql as $$
begin
end $$;

create function omega.fold_pending_counts() returns integer
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  folded integer;
begin
  with ended as (
    delete from omega.tenant_pending p
    where p.ctid = any (array(
      select x.ctid from omega.tenant_pending x
      where x.backend <> 0 and not exists (select from pg_stat_activity a where a.pid = x.backend)
      for update skip locked))
    returning p.tenant_id, p.tasks
  ), into_zero as (
    insert into omega.tenant_pending as p (tenant_id, backend, tasks)
    select e.tenant_id, 0, sum(e.tasks) from ended e
    where exists (select from omega.tenants t where t.id = e.tenant_id)
    group by e.tenant_id order by e.tenant_id
    on conflict (tenant_id, backend) do update set tasks = p.tasks + excluded.tasks
  )
  select count(*) into folded from ended;
  delete from omega.tenant_pending p
  where p.backend = 0 and not exists (select from omega.tenants t where t.id = p.tenant_id);
  return folded;
end $$;
call omega.grant_entry_point('fold_pending_counts', '{omega_scheduler}');
