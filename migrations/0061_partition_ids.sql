-- Ids unique across partitions, and tenants copied whole (issue 13: `omega serve` routing HTTP by
-- cell over several partitions).
--
-- Every identity column (jobs, tasks, events, plans, machines, tenants) of partition k of N hands
-- out the ids ≡ k+1 (mod N) only: a stride, set once by `omega migrate` with several partitions.
-- So an id says where it was made ((id - 1) mod N, its home partition) without a directory, no
-- two partitions ever make the same id, and a cell moved to another partition keeps its ids: they
-- are in the source's residue class, which the target never hands out. A stride rather than
-- disjoint ranges: ids stay small (JSON numbers, JavaScript's safe integers) and grow at the same
-- pace everywhere. One partition (N = 1) keeps increment 1.

-- Gives this database's identity columns the stride of partition p_index of p_count: increment
-- p_count, next value the least one above every id made so far (and above the sequence's
-- position) in the partition's residue class. Idempotent: a column already on that stride and
-- class is left alone.
create function omega.stride_ids(p_index integer, p_count integer) returns void
language plpgsql as $$
declare
  c record;
  v_max bigint;
  v_next bigint;
begin
  if p_count < 1 or p_index < 0 or p_index >= p_count then
    raise exception 'partition % of % does not exist', p_index, p_count;
  end if;
  for c in
    select a.attrelid::regclass as tab, s.seqrelid::regclass as seq, s.seqincrement as inc,
      s.seqstart as start
    from pg_attribute a
    join pg_class t on t.oid = a.attrelid
    join pg_namespace n on n.oid = t.relnamespace
    join pg_depend d on d.refobjid = a.attrelid and d.refobjsubid = a.attnum and d.deptype = 'i'
    join pg_sequence s on s.seqrelid = d.objid
    where n.nspname = 'omega' and a.attidentity <> '' and a.attname = 'id'
  loop
    if c.inc = p_count and ((c.start - 1) % p_count + p_count) % p_count = p_index then
      continue;
    end if;
    execute format('select greatest(coalesce(max(id), 0), coalesce((select last_value from %s), 0)) from %s',
      c.seq, c.tab) into v_max;
    -- The least v > v_max with (v - 1) mod N = k.
    v_next := v_max + 1 + ((p_index - v_max) % p_count + p_count) % p_count;
    execute format('alter table %s alter column id set increment by %s set start with %s restart with %s',
      c.tab, p_count, v_next, v_next);
  end loop;
end $$;
revoke all on function omega.stride_ids(integer, integer) from public;

-- A tenant's whole row (its name, token hash and every limit), as read from the partition that
-- took the write, made the same here: inserted with its id, or updated in place (its jobs point to
-- that id). The HTTP API under `omega serve --router` calls it on every other partition after each
-- tenant write; idempotent, so it may be sent again. Columns are taken from the table itself, so
-- limits added later are copied too.
create function omega.replicate_tenant_row(p_row jsonb) returns bigint
language plpgsql as $$
declare
  v_cols text;
  v_sets text;
  v_id bigint;
begin
  select string_agg(quote_ident(attname), ', ' order by attnum),
    string_agg(format('%1$I = excluded.%1$I', attname), ', ' order by attnum)
      filter (where attname <> 'id')
  into v_cols, v_sets
  from pg_attribute
  where attrelid = 'omega.tenants'::regclass and attnum > 0 and not attisdropped;
  execute format(
    'insert into omega.tenants (%1$s) overriding system value
     select %1$s from jsonb_populate_record(null::omega.tenants, $1)
     on conflict (id) do update set %2$s
     returning id', v_cols, v_sets)
  into v_id using p_row;
  return v_id;
end $$;
revoke all on function omega.replicate_tenant_row(jsonb) from public;
