-- omega.count_pending_tasks (0220) as PL/pgSQL: a SQL-language function is planned at every call
-- (before PostgreSQL 18), which cost 0.12 ms a submission — more than the read it saves.
create or replace function omega.count_pending_tasks(p_tenant_id bigint, p_pending bigint) returns void
language plpgsql as $$
begin
  perform set_config('omega.pending_tasks_' || p_tenant_id, p_pending::text, true);
end $$;
