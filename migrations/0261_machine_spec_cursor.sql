-- A second change cursor per machine, for what it is rather than what it holds.
--
-- Every scheduler syncs its snapshot of a cell by reading the machines changed since its last sync
-- (changed_xid, 0001). Nearly every change is a commit or a release moving a machine's usage, yet
-- the sync sent each changed machine whole, as a JSON object of 16 columns with its labels and
-- taints: with 4 schedulers on 10,000 machines, a quarter of their time went to syncing (the
-- throughput bench), each reading the machines the others' commits had touched. On 10,000 rows
-- the whole objects cost 28 ms to build and 2.2 MB; the usage alone, as arrays, 7 ms and 260 kB.
--
-- spec_xid moves with what a snapshot keeps besides usage (name, state, capacity, max_tasks,
-- labels, taints), whoever writes it: the trigger compares the columns, so no writer can change
-- them without moving it. A sync sends in full the machines whose spec_xid passed its cursor and
-- only the usage of the others (src/db/snapshot.ts). A new machine takes its creator's id, so a
-- snapshot meets it whole first.
alter table omega.machines add column spec_xid xid8 not null default pg_current_xact_id();

create function omega.touch_machine_spec() returns trigger
language plpgsql as $$
begin
  new.spec_xid := pg_current_xact_id();
  return new;
end $$;

create trigger machines_spec before update on omega.machines
  for each row when ((new.name, new.state, new.cpu, new.memory, new.gpu, new.disk, new.max_tasks, new.labels, new.taints)
    is distinct from (old.name, old.state, old.cpu, old.memory, old.gpu, old.disk, old.max_tasks, old.labels, old.taints))
  execute function omega.touch_machine_spec();
