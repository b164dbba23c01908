-- What a tenant is told about why its task waits must not name another tenant's work: commit_plan
-- records a preempted task's reason as "preempted by job N (task M)" (useful to an operator, in
-- omega.events and omega.pending_tasks), which over the API would tell a tenant another tenant's job
-- ids. The API shows tenants this reason instead. Immutable and small, so it can run in a GROUP BY
-- over a 100,000-task job: grouping by it also folds one reason per victim into one line.
create function omega.tenant_reason(p_reason text) returns text
language sql immutable parallel safe as $$
  select regexp_replace(p_reason, '^preempted by (job|task) [0-9]+( \(task [0-9]+\))?$', 'preempted by higher-priority work')
$$;
