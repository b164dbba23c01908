-- A tenant's pending count read once a transaction again.
--
-- 0321 replaced the sum over the backlog with the counted rows of omega.tenant_pending and dropped
-- 0220's running figure (the count read once per tenant and transaction, then carried along by
-- omega.count_pending_tasks). At 1,000 jobs/s the counted rows, a few rows rewritten thousands of
-- times a second, cost 0.62 ms a read (their versions and their one page contended), read for every
-- job of a group-committed batch: 5.0 s of 10 s, and 2,017 requests shed against none for
-- session 16's code. The figure is read from the rows once per tenant and transaction again, and
-- carried along as 0220 did.

create or replace function omega.tenant_pending_tasks(p_tenant_id bigint) returns bigint
language plpgsql as $$
declare
  v_counted text := current_setting('omega.pending_tasks_' || p_tenant_id, true);
begin
  -- Unset, or '' once a transaction that set it has ended: read the count.
  if v_counted is not null and v_counted <> '' then
    return v_counted::bigint;
  end if;
  return (select coalesce(sum(p.tasks), 0) from omega.tenant_pending p where p.tenant_id = p_tenant_id);
end $$;

-- Records the tenant's waiting tasks after a submission, for the rest of this transaction (0221).
create or replace function omega.count_pending_tasks(p_tenant_id bigint, p_pending bigint) returns void
language plpgsql as $$
begin
  perform set_config('omega.pending_tasks_' || p_tenant_id, p_pending::text, true);
end $$;
