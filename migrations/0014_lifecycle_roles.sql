-- The lifecycle's entry points and tables for the least-privilege roles (see 0009_roles.sql).

-- Scheduler workers run the lost-machine check.
call omega.grant_entry_point('watch_machines', '{omega_scheduler}');
call omega.grant_entry_point('mark_machine_lost', '{omega_scheduler}');
call omega.grant_entry_point('return_lost_tasks', '{omega_scheduler}');

-- The API serves agents and idempotent submission (0013 replaced submit_job with a wrapper).
call omega.grant_entry_point('heartbeat', '{omega_api}');
call omega.grant_entry_point('report_task', '{omega_api}');
call omega.grant_entry_point('submit_job', '{omega_api}');

-- Agent tokens: the API issues and rotates them; nobody else reads their hashes.
revoke select on omega.agent_tokens from omega_scheduler, omega_reader;
grant select (cell, created_at) on omega.agent_tokens to omega_scheduler, omega_reader;
grant insert (cell, token_hash), update (token_hash, created_at) on omega.agent_tokens to omega_api;

-- The event triggers write omega.events as the owner; nobody calls them directly.
revoke execute on function omega.record_task_events(), omega.record_job_event() from public;
