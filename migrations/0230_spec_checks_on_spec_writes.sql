-- The checks on what a job or a machine *is* (its spec) run when its spec is written, not at every
-- write of the row.
--
-- PostgreSQL prepares every CHECK constraint of a table anew for each INSERT or UPDATE statement
-- (it reads the stored expression back into a tree, simplifies and compiles it), whichever
-- columns the statement sets. omega.jobs had 26, omega.machines 12; the hot path updates a job's
-- lease and counts and a machine's usage, several statements per job, and never their specs. Those
-- preparations were about 1 ms of backend CPU per lease and commit (scripts/commit-cost.ts, with
-- and without them). A row trigger on INSERT and UPDATE OF the spec columns applies the same rules,
-- with the same error (check_violation, naming the constraint it replaces), and costs nothing to a
-- statement that does not set those columns.
--
-- Checks on what changes with scheduling stay CHECK constraints: pending, finished and waiting
-- counts and the job's state; a machine's usage within capacity and its task cap (the no-overcommit
-- invariant is enforced by the table itself, whoever writes).

-- A CHECK passes when its expression is true or null: each rule below is `is false`.
create function omega.check_job_spec() returns trigger
language plpgsql as $$
declare
  v_failed text;
begin
  v_failed := case
    when (jsonb_typeof(new.affinity) = 'array') is false then 'jobs_affinity_check'
    when (new.gang_min >= 1 and new.gang_min <= new.task_count) is false then 'jobs_check'
    when (new.gang_min is null or new.gang_min <= new.task_count) is false then 'jobs_check3'
    when (length(new.client_token) >= 1 and length(new.client_token) <= 255) is false then 'jobs_client_token_check'
    when (jsonb_typeof(new.labels) = 'object') is false then 'jobs_labels_check'
    when (jsonb_typeof(new.locality) = 'object') is false then 'jobs_locality_check'
    when (new.max_per_machine >= 1 and new.max_per_machine <= 100000) is false then 'jobs_max_per_machine_check'
    when (new.max_retries >= 0 and new.max_retries <= 100) is false then 'jobs_max_retries_check'
    when (new.max_unavailable >= 0 and new.max_unavailable <= 100000) is false then 'jobs_max_unavailable_check'
    when (length(new.name) <= 253) is false then 'jobs_name_check'
    when (new.priority >= 0 and new.priority <= 999) is false then 'jobs_priority_check'
    when (new.runtime_max_ms >= 0 and new.runtime_max_ms <= 31536000000) is false then 'jobs_runtime_max_ms_check'
    when (new.runtime_min_ms >= 0 and new.runtime_min_ms <= 31536000000) is false then 'jobs_runtime_min_ms_check'
    when (new.runtime_min_ms <= new.runtime_max_ms) is false then 'jobs_runtime_range'
    when (jsonb_typeof(new.selector) = 'object') is false then 'jobs_selector_check'
    when (length(new.spread_by) >= 1 and length(new.spread_by) <= 253) is false then 'jobs_spread_by_check'
    when (new.task_count >= 1 and new.task_count <= 100000) is false then 'jobs_task_count_check'
    when (jsonb_typeof(new.tolerations) = 'array') is false then 'jobs_tolerations_check'
    when (jsonb_typeof(new.vocabulary) = 'object') is false then 'jobs_vocabulary_check'
  end;
  if v_failed is not null then
    raise exception using errcode = 'check_violation', schema = 'omega', table = 'jobs', constraint = v_failed,
      message = format('new row for relation "jobs" violates check constraint "%s"', v_failed);
  end if;
  return new;
end $$;

create function omega.check_machine_spec() returns trigger
language plpgsql as $$
declare
  v_failed text;
begin
  v_failed := case
    when (jsonb_typeof(new.labels) = 'object') is false then 'machines_labels_check'
    when (new.max_tasks >= 1 and new.max_tasks <= 100000) is false then 'machines_max_tasks_check'
    when (new.name ~ '^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$') is false then 'machines_name_check'
    when (jsonb_typeof(new.no_execute_since) = 'object') is false then 'machines_no_execute_since_check'
    when (new.state = any (array['up', 'draining', 'down'])) is false then 'machines_state_check'
    when (jsonb_typeof(new.taints) = 'array') is false then 'machines_taints_check'
  end;
  if v_failed is not null then
    raise exception using errcode = 'check_violation', schema = 'omega', table = 'machines', constraint = v_failed,
      message = format('new row for relation "machines" violates check constraint "%s"', v_failed);
  end if;
  return new;
end $$;

-- The trigger's name sorts after the tables' other BEFORE triggers (PostgreSQL fires them by
-- name): it sees the row as they leave it, as the constraints did.
create trigger jobs_spec_checked before insert or update of affinity, gang_min, task_count, client_token, labels,
  locality, max_per_machine, max_retries, max_unavailable, name, priority, runtime_max_ms, runtime_min_ms, selector,
  spread_by, tolerations, vocabulary
  on omega.jobs for each row execute function omega.check_job_spec();
create trigger machines_spec_checked before insert or update of labels, max_tasks, name, no_execute_since, state, taints
  on omega.machines for each row execute function omega.check_machine_spec();

alter table omega.jobs
  drop constraint jobs_affinity_check,
  drop constraint jobs_check,
  drop constraint jobs_check3,
  drop constraint jobs_client_token_check,
  drop constraint jobs_labels_check,
  drop constraint jobs_locality_check,
  drop constraint jobs_max_per_machine_check,
  drop constraint jobs_max_retries_check,
  drop constraint jobs_max_unavailable_check,
  drop constraint jobs_name_check,
  drop constraint jobs_priority_check,
  drop constraint jobs_runtime_max_ms_check,
  drop constraint jobs_runtime_min_ms_check,
  drop constraint jobs_runtime_range,
  drop constraint jobs_selector_check,
  drop constraint jobs_spread_by_check,
  drop constraint jobs_task_count_check,
  drop constraint jobs_tolerations_check,
  drop constraint jobs_vocabulary_check;

alter table omega.machines
  drop constraint machines_labels_check,
  drop constraint machines_max_tasks_check,
  drop constraint machines_name_check,
  drop constraint machines_no_execute_since_check,
  drop constraint machines_state_check,
  drop constraint machines_taints_check;

-- Run by the triggers only.
revoke execute on function omega.check_job_spec() from public;
revoke execute on function omega.check_machine_spec() from public;
