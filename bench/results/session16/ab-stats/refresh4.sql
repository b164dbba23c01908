create or replace function omega.refresh_statistics() returns text[]
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  t record;
  analyzed text[] := '{}';
  due boolean;
begin
  if not pg_try_advisory_xact_lock(hashtext('omega.refresh_statistics')) then
    return analyzed;
  end if;
  select bool_or(s.n_live_tup >= 4 * greatest(c.reltuples, 50)
           or (c.reltuples >= 1000 and s.n_live_tup <= c.reltuples / 4)
           or (s.n_mod_since_analyze >= greatest(500, s.n_live_tup / 4)
               and coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') < now() - interval '1 minute'))
    into due
  from pg_stat_user_tables s join pg_class c on c.oid = s.relid
  where s.schemaname = 'omega' and s.relname in ('jobs', 'tasks', 'claims', 'machines', 'quotas', 'cells');
  if not coalesce(due, false) then
    return analyzed;
  end if;
  for t in
    select s.relname from pg_stat_user_tables s
    join pg_class c on c.oid = s.relid
    where s.schemaname = 'omega'
      and s.relname in ('jobs', 'tasks', 'claims', 'machines', 'quotas', 'cells')
      and (s.n_live_tup >= 1.5 * greatest(c.reltuples, 50)
           or (c.reltuples >= 1000 and s.n_live_tup <= c.reltuples / 1.5)
           or (s.n_mod_since_analyze >= greatest(500, s.n_live_tup / 4)
               and coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') < now() - interval '1 minute'))
    order by s.relname
  loop
    execute format('analyze omega.%I', t.relname);
    analyzed := analyzed || t.relname::text;
  end loop;
  return analyzed;
end $$
