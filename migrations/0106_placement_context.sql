-- What a scheduler needs to plan the placement vocabulary of the jobs it leased (issue 11), in one
-- round trip after the lease: their labels, ports, vocabulary, and resolved against the cell now —
--   port_machines   machines where a claim holds one of the job's host ports
--   forbidden       [{topologyKey, domains, self}]: domains the job's tasks may not land in, from
--                   its own anti-affinity (self: the job matches its own term, so its new tasks
--                   repel each other) and from the anti-affinity of live jobs matching its labels
--   required        [{topologyKey, domains, self}]: per jobAffinity term, the domains holding a
--                   matching task (self: the job matches the term, so its first task may go anywhere
--                   when no domain holds one)
-- A domain is a label value, or a machine id (as text) for the key `machine`. Jobs that use none
-- of it get a row of defaults. The commit re-checks all of it (plan_vocabulary_verdicts).
create function omega.placement_context(p_cell text, p_job_ids bigint[])
returns table (job_id bigint, labels jsonb, ports integer[], vocabulary jsonb, port_machines bigint[],
  forbidden jsonb, required jsonb)
language plpgsql stable set plan_cache_mode = force_generic_plan set enable_seqscan = off as $$
#variable_conflict use_column
begin
  return query
  with mine as (
    select j.id, j.labels, j.ports, j.vocabulary from omega.jobs j where j.cell = p_cell and j.id = any (p_job_ids)
  ), repellers as (
    select r.id, tt.term from omega.jobs r cross join lateral jsonb_array_elements(r.vocabulary -> 'jobAntiAffinity') tt(term)
    where r.cell = p_cell and r.vocabulary ? 'jobAntiAffinity' and r.state in ('pending', 'placed', 'running')
  )
  select m.id, m.labels, m.ports, m.vocabulary,
    case when m.ports <> '{}' then array(
      select distinct cp.machine_id from omega.claim_ports cp where cp.cell = p_cell and cp.port = any (m.ports)) end,
    (select coalesce(jsonb_agg(x.o), '[]') from (
       select jsonb_build_object('topologyKey', t ->> 'topologyKey', 'self', m.labels @> (t -> 'selector'),
         'domains', omega.domains_holding(p_cell, t -> 'selector', t ->> 'topologyKey')) as o
       from jsonb_array_elements(coalesce(m.vocabulary -> 'jobAntiAffinity', '[]')) t
       union all
       select jsonb_build_object('topologyKey', r.term ->> 'topologyKey', 'self', false,
         'domains', omega.domains_of_job(p_cell, r.id, r.term ->> 'topologyKey'))
       from repellers r where r.id <> m.id and m.labels @> (r.term -> 'selector')) x),
    (select coalesce(jsonb_agg(jsonb_build_object('topologyKey', t ->> 'topologyKey', 'self', m.labels @> (t -> 'selector'),
         'domains', omega.domains_holding(p_cell, t -> 'selector', t ->> 'topologyKey'))), '[]')
     from jsonb_array_elements(coalesce(m.vocabulary -> 'jobAffinity', '[]')) t)
  from mine m;
end $$;

-- The domains of p_key holding a claim of a live job matching p_selector.
create function omega.domains_holding(p_cell text, p_selector jsonb, p_key text) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(distinct omega.domain_of(mm.labels, mm.id, p_key)) filter (where omega.domain_of(mm.labels, mm.id, p_key) is not null), '[]')
  from omega.jobs k
  join omega.claims c on c.cell = k.cell and c.job_id = k.id
  join omega.machines mm on mm.cell = c.cell and mm.id = c.machine_id
  where k.cell = p_cell and k.labels @> p_selector and k.state in ('pending', 'placed', 'running')
    and (p_selector = '{}' or k.labels <> '{}')
$$;

-- The domains of p_key where job p_job_id holds a claim.
create function omega.domains_of_job(p_cell text, p_job_id bigint, p_key text) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(distinct omega.domain_of(mm.labels, mm.id, p_key)) filter (where omega.domain_of(mm.labels, mm.id, p_key) is not null), '[]')
  from omega.claims c join omega.machines mm on mm.cell = c.cell and mm.id = c.machine_id
  where c.cell = p_cell and c.job_id = p_job_id
$$;

call omega.grant_entry_point('placement_context', '{omega_scheduler}');
