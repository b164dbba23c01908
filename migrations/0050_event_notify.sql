-- Watchable events: every statement that appends to omega.events sends one NOTIFY on channel
-- `omega_events`, so that the API streams new events (GET /v1/events?follow=true, a job's events)
-- the moment they commit, without polling.
--
-- Cheap on the hot path by design: a statement-level trigger (commit_plan inserts thousands of
-- events in one statement: one notification, not thousands), and a small payload that says where
-- to read rather than what happened — per cell, the lowest and highest event id the statement
-- wrote: [{"cell":"east","lo":1001,"hi":2000}]. Listeners read those rows by the primary key
-- (cell, id). Notifications are delivered when, and in the order that, transactions commit, so a
-- listener never reads a range before its rows are visible — where a reader polling `id > last`
-- would skip the ids of a transaction that committed after a later one.
create function omega.notify_events() returns trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
  payload text;
begin
  select json_agg(json_build_object('cell', r.cell, 'lo', r.lo, 'hi', r.hi))::text into payload
  from (select cell, min(id) as lo, max(id) as hi from new_events group by cell) r;
  if payload is not null then
    perform pg_notify('omega_events', payload);
  end if;
  return null;
end $$;

create trigger events_notify after insert on omega.events
  referencing new table as new_events
  for each statement execute function omega.notify_events();

-- As the other event triggers (0014): run by the trigger only, never called directly.
revoke execute on function omega.notify_events() from public;
