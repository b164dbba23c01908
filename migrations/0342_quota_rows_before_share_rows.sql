-- Every writer locks a tenant's quota rows before its share rows (session 19).
--
-- A commit locks the quota rows of its jobs' tenants in plan_lock, then counts its claims in their
-- tenants' shares (omega.tenant_usage, a row per tenant and backend id modulo 16) as it inserts
-- them. 0330 folded the claims triggers into omega.claims_changed, which counted the shares before
-- it charged the quotas (before 0330 two triggers did, the quota's first). So a release
-- (cancel_job, a preemption, a lapsed task) held its tenant's share row while it waited for the
-- quota row a commit had locked, and the commit waited for that share row: two connections whose
-- backend ids agree modulo 16 deadlocked (the race test, in session 19's CI;
-- test/db/lock-order.test.ts). The trigger now charges the quotas (and unparks a borrower's
-- lenders) first and counts the shares last. Nothing else changes.
create or replace function omega.claims_changed() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  sign integer := case when tg_op = 'INSERT' then 1 else -1 end;
  borrower record;
  lenders bigint[];
  s record;
begin
  if tg_op = 'INSERT' then
    insert into omega.claim_ports (cell, machine_id, port, task_id)
    select n.cell, n.machine_id, p.port, n.task_id
    from (select distinct n.cell, n.job_id from changed n) k
    cross join lateral (select j.ports from omega.jobs j
                        where j.cell = k.cell and j.id = k.job_id and j.ports <> '{}' offset 0) j
    join changed n on n.cell = k.cell and n.job_id = k.job_id
    cross join lateral unnest(j.ports) as p(port);
  end if;

  -- Quota rows first, share rows last: the order every writer locks them in.
  for borrower in
    with charged as (
      update omega.quotas q
      set used_cpu = q.used_cpu + sign * d.cpu, used_memory = q.used_memory + sign * d.memory,
          used_gpu = q.used_gpu + sign * d.gpu, used_disk = q.used_disk + sign * d.disk
      from (select c.cell, c.tenant_id, omega.band(c.priority) as band,
                   sum(c.cpu) as cpu, sum(c.memory) as memory, sum(c.gpu) as gpu, sum(c.disk) as disk
            from changed c group by 1, 2, 3) d
      where q.cell = d.cell and q.tenant_id = d.tenant_id and q.band = d.band
      returning q.cell, q.band, q.cohort, q.tenant_id, q.used_cpu > q.nominal_cpu as cpu,
        q.used_memory > q.nominal_memory as memory, q.used_gpu > q.nominal_gpu as gpu,
        q.used_disk > q.nominal_disk as disk
    )
    select c.* from charged c
    where sign = 1 and c.cohort is not null and (c.cpu or c.memory or c.gpu or c.disk)
  loop
    -- A borrowing member unparks its lenders' work (0241): members under their own quota in a
    -- dimension this member borrows.
    lenders := array(
      select l.tenant_id from omega.quotas l
      where l.cell = borrower.cell and l.band = borrower.band and l.cohort = borrower.cohort
        and l.tenant_id <> borrower.tenant_id
        and (borrower.cpu and l.used_cpu < l.nominal_cpu or borrower.memory and l.used_memory < l.nominal_memory
             or borrower.gpu and l.used_gpu < l.nominal_gpu or borrower.disk and l.used_disk < l.nominal_disk));
    if cardinality(lenders) = 0 then
      continue;
    end if;
    update omega.cells set capacity_epoch = capacity_epoch + 1 where name = borrower.cell;
    for s in
      with unblocked as (
        update omega.jobs j set blocked = false
        -- (Skip locked: a job another commit is unblocking, or one being cancelled, is served.)
        from (select p.id from omega.jobs p
              where p.tenant_id = any (lenders) and p.cell = borrower.cell and p.state = 'pending'
                and p.blocked and omega.band(p.priority) = borrower.band
              for update skip locked) b
        where j.cell = borrower.cell and j.id = b.id
        returning j.scheduler)
      select distinct u.scheduler from unblocked u
    loop
      perform omega.wake(borrower.cell, s.scheduler);
    end loop;
  end loop;

  insert into omega.tenant_usage as u (cell, tenant_id, shard, cpu, memory, gpu, disk, tasks)
  select c.cell, c.tenant_id, pg_backend_pid() % 16,
    sign * sum(c.cpu), sign * sum(c.memory), sign * sum(c.gpu), sign * sum(c.disk), sign * count(*)
  from changed c group by c.cell, c.tenant_id order by c.cell, c.tenant_id
  on conflict (cell, tenant_id, shard) do update
    set cpu = u.cpu + excluded.cpu, memory = u.memory + excluded.memory, gpu = u.gpu + excluded.gpu,
        disk = u.disk + excluded.disk, tasks = u.tasks + excluded.tasks;
  return null;
end $$;
