-- The flow scheduler (issue 16; SPEC "Rebalancing and global placement"): `flow` is a built-in
-- profile name, so jobs may name it before a flow worker first registers; and a job may say where
-- its data is, `locality: {"label": "rack", "values": ["r1", "r2"]}`, which the flow scheduler
-- costs (a task placed on a machine whose label is not one of the values costs a locality miss).
-- A preference, never a filter: the commit procedure has nothing to re-check for it.

insert into omega.schedulers (name) values ('flow') on conflict (name) do nothing;

alter table omega.jobs add column locality jsonb
  constraint jobs_locality_check check (jsonb_typeof(locality) = 'object');

-- The spec's `locality`, checked as POST /v1/jobs checks it (src/domain/job-spec.ts): an object of
-- exactly a label key and 1-100 label values.
create function omega.check_locality(p_locality jsonb) returns void
language plpgsql immutable as $$
declare
  v jsonb;
  i integer := 0;
begin
  if jsonb_typeof(p_locality) is distinct from 'object'
     or exists (select from jsonb_object_keys(p_locality) k where k not in ('label', 'values'))
     or jsonb_typeof(p_locality -> 'label') is distinct from 'string' then
    raise exception using errcode = 'OM422', message = 'locality: an object {label, values} is required';
  end if;
  perform omega.check_label_key(p_locality ->> 'label', 'locality.label');
  if jsonb_typeof(p_locality -> 'values') is distinct from 'array'
     or jsonb_array_length(p_locality -> 'values') not between 1 and 100 then
    raise exception using errcode = 'OM422', message = 'locality.values: an array of 1-100 label values is required';
  end if;
  for v in select value from jsonb_array_elements(p_locality -> 'values') loop
    perform omega.check_label_value(v, format('locality.values.%s', i));
    i := i + 1;
  end loop;
end $$;

-- What the flow scheduler reads beside omega.lease_work's rows, for the jobs it leased: locality
-- and how long the job has waited (its oldest pending task). Only the flow scheduler pays for it.
create function omega.flow_inputs(p_cell text, p_job_ids bigint[])
returns table (job_id bigint, locality jsonb, wait_seconds double precision)
language sql stable
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
as $$
  select j.id, j.locality,
    coalesce(extract(epoch from now() - (select min(t.pending_since) from omega.tasks t
      where t.cell = p_cell and t.job_id = j.id and t.state = 'pending')), 0)::double precision
  from omega.jobs j
  where j.cell = p_cell and j.id = any (p_job_ids)
$$;
call omega.grant_entry_point('flow_inputs', '{omega_scheduler}');
