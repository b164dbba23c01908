/** Placement rules as plain SQL over the base tables, written apart from the product's own rule functions. */

/** SQL: the affinity terms of job `j` that the labels of machine `m` fail, with plain jsonb operators. */
export const failedAffinityTerms = (j: string, m: string) => `
  select term from jsonb_array_elements(${j}.affinity) term
  cross join lateral (select ${m}.labels ? (term ->> 'key') as has_key,
    coalesce(term -> 'values', '[]') @> jsonb_build_array(${m}.labels ->> (term ->> 'key')) as value_listed,
    case when ${m}.labels ->> (term ->> 'key') ~ '^[+-]?[0-9]{1,19}$'
      then (${m}.labels ->> (term ->> 'key'))::numeric end as label_int) l
  where not coalesce(case coalesce(term ->> 'operator', term ->> 'op')
    when 'In' then l.has_key and l.value_listed
    when 'NotIn' then not (l.has_key and l.value_listed)
    when 'Exists' then l.has_key
    when 'DoesNotExist' then not l.has_key
    when 'Gt' then l.label_int > (term -> 'values' ->> 0)::numeric
    when 'Lt' then l.label_int < (term -> 'values' ->> 0)::numeric end, false)`;

/**
 * SQL: the NoSchedule and NoExecute taints of machine `m` that no toleration of job `j` tolerates
 * (Kubernetes' ToleratesTaint: the effect if named, the key if named, then Exists or the same value;
 * a taint without an effect is NoSchedule). Written apart from omega.toleration_matches.
 */
export const untoleratedTaints = (j: string, m: string) => `
  select taint from jsonb_array_elements(${m}.taints) taint
  where coalesce(taint ->> 'effect', 'NoSchedule') in ('NoSchedule', 'NoExecute')
    and not exists (
    select from jsonb_array_elements(${j}.tolerations) tol
    where (tol ->> 'effect' is null or tol ->> 'effect' = coalesce(taint ->> 'effect', 'NoSchedule'))
      and (coalesce(tol ->> 'key', '') = '' or tol ->> 'key' = taint ->> 'key')
      and (tol ->> 'operator' = 'Exists' or coalesce(tol ->> 'value', '') = coalesce(taint ->> 'value', '')))`;
