-- Taint effects, Kubernetes tolerations and the node-affinity operators (issue 11), as the
-- planner has them (src/placement/filters/tolerations.ts, affinity.ts); the conformance suite
-- (test/conformance/placement-rules.test.ts) runs each case through both.
--
-- Replaces tolerates (0002: effects; operator Equal/Exists; an empty key; an omitted effect) and
-- affinity_matches (0002: `operator` beside its alias `op`; Gt and Lt). constraints_match, which
-- the commit procedure calls, calls them: its body is unchanged.

-- Kubernetes' Toleration.ToleratesTaint. A taint with no effect is NoSchedule.
create function omega.toleration_matches(tol jsonb, taint jsonb) returns boolean
language sql immutable parallel safe as $$
  select (not (tol ? 'effect') or tol ->> 'effect' = coalesce(taint ->> 'effect', 'NoSchedule'))
    and (coalesce(tol ->> 'key', '') = '' or tol ->> 'key' = taint ->> 'key')
    and (tol ->> 'operator' = 'Exists' or coalesce(tol ->> 'value', '') = coalesce(taint ->> 'value', ''))
$$;

-- A new claim lands only where every NoSchedule and NoExecute taint is tolerated
-- (PreferNoSchedule only scores, in the planner).
create or replace function omega.tolerates(taints jsonb, tolerations jsonb) returns boolean
language sql immutable parallel safe as $$
  select not exists (
    select from jsonb_array_elements(taints) taint
    where coalesce(taint ->> 'effect', 'NoSchedule') <> 'PreferNoSchedule'
      and not exists (select from jsonb_array_elements(tolerations) tol where omega.toleration_matches(tol, taint)))
$$;

-- Node affinity terms, all of which must hold: {key, operator (or op): In|NotIn|Exists|DoesNotExist|
-- Gt|Lt, values}. Gt/Lt compare the label's integer value with the one value given; a missing or
-- non-integer label does not match.
create or replace function omega.affinity_matches(labels jsonb, affinity jsonb) returns boolean
language sql immutable parallel safe as $$
  select coalesce(bool_and(case coalesce(t ->> 'operator', t ->> 'op')
      when 'In' then coalesce((t -> 'values') ? (labels ->> (t ->> 'key')), false)
      when 'NotIn' then not coalesce((t -> 'values') ? (labels ->> (t ->> 'key')), false)
      when 'Exists' then labels ? (t ->> 'key')
      when 'DoesNotExist' then not (labels ? (t ->> 'key'))
      when 'Gt' then coalesce(omega.int64_of(labels ->> (t ->> 'key')) > omega.int64_of(t -> 'values' ->> 0), false)
      when 'Lt' then coalesce(omega.int64_of(labels ->> (t ->> 'key')) < omega.int64_of(t -> 'values' ->> 0), false)
      else false end), true)
  from jsonb_array_elements(affinity) t
$$;
