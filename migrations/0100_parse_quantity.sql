-- Quantities as Kubernetes parses them (issue 11): every form resource.Quantity takes — decimal
-- and binary SI suffixes, n/u/m, exponents ("1e3", "1E-2"), a sign, a leading or trailing dot —
-- computed exactly (a fraction of whole numbers) and rounded up to the base unit. A GPU is a whole
-- device: a fractional gpu is refused, never rounded. The same rules as src/domain/quantity.ts.
--
-- Replaces parse_quantity of 0040: the string branch only; numbers, nulls, the length limit and
-- the range check are as they were.
create or replace function omega.parse_quantity(v jsonb, dimension text) returns bigint
language plpgsql immutable as $$
declare
  m text[];
  s text;
  digits numeric;
  ten integer;
  two integer;
  num numeric;
  den numeric;
  result numeric;
begin
  if v is null or jsonb_typeof(v) = 'null' then
    return 0;
  elsif jsonb_typeof(v) = 'number' then
    result := v::text::numeric;
    if result <> trunc(result) then
      raise exception using errcode = 'OM422', message = format('resources.%s: a number must be a whole count of base units', dimension);
    end if;
  elsif jsonb_typeof(v) = 'string' then
    s := v #>> '{}';
    if length(s) > 64 then
      raise exception using errcode = 'OM422', message = format('resources.%s: is not a quantity (too long)', dimension);
    end if;
    -- sign, number, exponent, suffix ("1E" is an exa; "1E3" an exponent).
    m := regexp_match(s, '^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$');
    if m is null then
      raise exception using errcode = 'OM422',
        message = format('resources.%s: %s is not a quantity (examples: "500m", "2", "512Mi", "4Gi", "1e3", ".5")', dimension, v);
    end if;
    digits := coalesce(nullif(replace(m[2], '.', ''), ''), '0')::numeric;
    if digits = 0 then
      return 0;
    end if;
    if m[1] = '-' then
      raise exception using errcode = 'OM422', message = format('resources.%s: %s is out of range (0 to 10^12 base units)', dimension, v);
    end if;
    -- value = digits × 10^ten × 2^two
    ten := case when m[3] is not null then least(greatest(m[3]::numeric, -1000), 1000)::integer
                else case m[4] when 'n' then -9 when 'u' then -6 when 'm' then -3 when 'k' then 3 when 'M' then 6
                  when 'G' then 9 when 'T' then 12 when 'P' then 15 when 'E' then 18 else 0 end end
      - coalesce(length(split_part(m[2], '.', 2)), 0)
      + case dimension when 'cpu' then 3 else 0 end;
    two := case m[4] when 'Ki' then 10 when 'Mi' then 20 when 'Gi' then 30 when 'Ti' then 40 when 'Pi' then 50
             when 'Ei' then 60 else 0 end
      + case when dimension in ('memory', 'disk') then -20 else 0 end;
    if ten > 100 then
      raise exception using errcode = 'OM422', message = format('resources.%s: %s is out of range (0 to 10^12 base units)', dimension, v);
    end if;
    if ten < -100 then
      num := 1;
      den := 2;
    else
      num := digits * 10::numeric ^ greatest(ten, 0) * 2::numeric ^ greatest(two, 0);
      den := 10::numeric ^ greatest(-ten, 0) * 2::numeric ^ greatest(-two, 0);
    end if;
    if dimension = 'gpu' and mod(num, den) <> 0 then
      raise exception using errcode = 'OM422',
        message = format('resources.gpu: %s is a fraction of a GPU: a gpu request is a whole number of devices', v);
    end if;
    result := div(num + den - 1, den);
  else
    raise exception using errcode = 'OM422', message = format('resources.%s: expected a number or a quantity string', dimension);
  end if;
  if result < 0 or result > 1000000000000 then
    raise exception using errcode = 'OM422', message = format('resources.%s: %s is out of range (0 to 10^12 base units)', dimension, v);
  end if;
  return result::bigint;
end $$;
