-- A cohort member that starts borrowing unparks the lenders' work that could reclaim from it.
--
-- A lender's job parks on its quota when the cohort is full and no member borrows anything it may
-- reclaim (everything used is the members' own). Parked work waits for capacity to be freed
-- (omega.capacity_freed), but a member that borrows afterwards frees nothing: it takes what the
-- lender does not use yet, and from then on the lender's parked job could reclaim it. Nothing
-- woke that job, so it waited for the next release in the cell, which in a cell whose work runs
-- long may be never (test/e2e/cohort-race saw a lender's job wait out its 60 s).
--
-- So when a claim takes a cohort member past its nominal quota while another member of the band's
-- cohort is under its own in a dimension borrowed (a lender whose work may now reclaim), the cell's
-- capacity epoch moves and those lenders' parked pending jobs are unblocked and their schedulers
-- woken, as capacity_freed does. The epoch closes the race with a job being parked meanwhile:
-- park_jobs reads it under a share lock and refuses to park on a snapshot older than the borrowing,
-- and a park that committed first is undone by the unblock that follows the epoch's update. A job
-- that still cannot reclaim (its victims' priority, say) parks again: once per borrowing commit,
-- not in a loop. Commits that borrow nothing, and cells without cohorts, pay one test of the rows
-- the quota update already returns.

create or replace function omega.claims_count_against_quotas() returns trigger
language plpgsql as $$
declare
  sign integer := case when tg_op = 'INSERT' then 1 else -1 end;
  borrower record;
  lenders bigint[];
  s record;
begin
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
    -- Lenders: members under their own quota in a dimension this member borrows.
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
  return null;
end $$;
