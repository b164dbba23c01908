-- The state of the cluster, as rows. Every per-cell table carries `cell` in its primary key so the
-- schema can be distributed by cell (Citus) without a redesign; tenants and schedulers are small,
-- global reference tables.

create schema if not exists omega;

-- Resource values are integers in base units: cpu in millicores, memory and disk in MiB, gpu in
-- devices. 10^12 of any of them is far beyond any machine and keeps sums of 100,000 tasks in bigint.
create domain omega.quantity as bigint not null default 0 check (value >= 0 and value <= 1000000000000);

create domain omega.name as text check (value ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$');

create table omega.cells (
  name omega.name primary key,
  -- Bumped by every transaction that frees capacity (release, machine added or undrained). A job is
  -- parked as blocked only if the epoch it planned against is still current: no lost wake-ups.
  capacity_epoch bigint not null default 0,
  created_at timestamptz not null default now()
);

-- Scheduler profiles known to the database, so a job naming a typo is refused at submission.
create table omega.schedulers (
  name omega.name primary key,
  profile jsonb not null default '{}' check (jsonb_typeof(profile) = 'object'),
  updated_at timestamptz not null default now()
);
insert into omega.schedulers (name) values ('batch'), ('service');

create table omega.tenants (
  id bigint generated always as identity primary key,
  name omega.name not null unique,
  token_hash bytea not null unique check (octet_length(token_hash) = 32),
  created_at timestamptz not null default now()
);

create table omega.machines (
  cell omega.name not null references omega.cells (name),
  id bigint generated always as identity,
  name text not null check (name ~ '^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$'),
  cpu omega.quantity,
  memory omega.quantity,
  gpu omega.quantity,
  disk omega.quantity,
  -- Sums of the machine's claims, kept by the procedures that write claims. The CHECKs make
  -- overcommit impossible even for a buggy procedure: the database refuses the row.
  used_cpu bigint not null default 0,
  used_memory bigint not null default 0,
  used_gpu bigint not null default 0,
  used_disk bigint not null default 0,
  tasks integer not null default 0 check (tasks >= 0),
  labels jsonb not null default '{}' check (jsonb_typeof(labels) = 'object'),
  taints jsonb not null default '[]' check (jsonb_typeof(taints) = 'array'),
  state text not null default 'up' check (state in ('up', 'draining', 'down')),
  -- Omega's per-machine sequence number: coarse-grained conflict detection compares it.
  version bigint not null default 1,
  -- The transaction that last changed the row; snapshot sync reads rows changed at or after the
  -- xmin of its previous read, which cannot miss a transaction that committed out of order.
  changed_xid xid8 not null default pg_current_xact_id(),
  created_at timestamptz not null default now(),
  primary key (cell, id),
  unique (cell, name),
  constraint machines_used_cpu check (used_cpu between 0 and cpu),
  constraint machines_used_memory check (used_memory between 0 and memory),
  constraint machines_used_gpu check (used_gpu between 0 and gpu),
  constraint machines_used_disk check (used_disk between 0 and disk)
);
create index machines_changed on omega.machines (cell, changed_xid);

-- Tombstones so an incremental snapshot sync learns that a machine is gone.
create table omega.machine_removals (
  cell omega.name not null references omega.cells (name),
  machine_id bigint not null,
  removed_xid xid8 not null default pg_current_xact_id(),
  removed_at timestamptz not null default now(),
  primary key (cell, machine_id)
);
create index machine_removals_xid on omega.machine_removals (cell, removed_xid);

create table omega.jobs (
  cell omega.name not null references omega.cells (name),
  id bigint generated always as identity,
  tenant_id bigint not null references omega.tenants (id),
  name text not null default '' check (length(name) <= 253),
  priority integer not null check (priority between 0 and 999),
  scheduler omega.name not null references omega.schedulers (name),
  task_count integer not null check (task_count between 1 and 100000),
  cpu omega.quantity,
  memory omega.quantity,
  gpu omega.quantity,
  disk omega.quantity,
  selector jsonb not null default '{}' check (jsonb_typeof(selector) = 'object'),
  affinity jsonb not null default '[]' check (jsonb_typeof(affinity) = 'array'),
  tolerations jsonb not null default '[]' check (jsonb_typeof(tolerations) = 'array'),
  max_per_machine integer check (max_per_machine between 1 and 100000),
  spread_by text check (length(spread_by) between 1 and 253),
  gang_min integer check (gang_min between 1 and task_count),
  state text not null default 'pending'
    check (state in ('pending', 'placed', 'running', 'succeeded', 'failed', 'cancelled')),
  pending_count integer not null check (pending_count between 0 and task_count),
  -- Work distribution between scheduler workers: a lease that expires if its holder dies.
  lease_owner text,
  lease_expires timestamptz,
  -- Set when the scheduler could not place the pending tasks; cleared when capacity appears.
  blocked boolean not null default false,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (cell, id),
  check ((state = 'pending') = (pending_count > 0) or state = 'cancelled'),
  check (gang_min is null or gang_min <= task_count)
);
create index jobs_schedulable on omega.jobs (cell, scheduler, priority desc, id)
  where state = 'pending' and not blocked;
create index jobs_by_id on omega.jobs (id);
create index jobs_by_tenant on omega.jobs (tenant_id, id);

create table omega.tasks (
  cell omega.name not null,
  id bigint generated always as identity,
  job_id bigint not null,
  index integer not null check (index >= 0),
  state text not null default 'pending'
    check (state in ('pending', 'placed', 'running', 'succeeded', 'failed', 'cancelled')),
  pending_since timestamptz not null default now(),
  -- Why the task is still pending, written by the scheduler that last tried to place it.
  reason text,
  primary key (cell, id),
  unique (cell, job_id, index),
  foreign key (cell, job_id) references omega.jobs (cell, id)
);
create index tasks_pending on omega.tasks (cell, job_id, id) where state = 'pending';

create table omega.plans (
  cell omega.name not null references omega.cells (name),
  id bigint generated always as identity,
  scheduler omega.name not null,
  worker text not null default '',
  transaction_mode text not null check (transaction_mode in ('incremental', 'all-or-nothing')),
  conflict_mode text not null check (conflict_mode in ('fine', 'coarse')),
  attempted integer not null check (attempted >= 0),
  committed integer not null check (committed between 0 and attempted),
  rejected jsonb not null default '{}' check (jsonb_typeof(rejected) = 'object'),
  -- Claims of lower-priority tasks this plan evicted to make room (preemption).
  evicted integer not null default 0 check (evicted >= 0),
  committed_at timestamptz not null default now(),
  duration_ms double precision not null default 0,
  primary key (cell, id)
);
create index plans_by_scheduler on omega.plans (scheduler);

create table omega.claims (
  cell omega.name not null,
  -- One claim per task: the primary key is the invariant.
  task_id bigint not null,
  job_id bigint not null,
  machine_id bigint not null,
  tenant_id bigint not null,
  priority integer not null,
  cpu omega.quantity,
  memory omega.quantity,
  gpu omega.quantity,
  disk omega.quantity,
  scheduler omega.name not null,
  plan_id bigint,
  placed_at timestamptz not null default now(),
  primary key (cell, task_id),
  foreign key (cell, task_id) references omega.tasks (cell, id),
  foreign key (cell, machine_id) references omega.machines (cell, id)
);
create index claims_by_machine on omega.claims (cell, machine_id);
create index claims_by_job on omega.claims (cell, job_id);

create table omega.quotas (
  cell omega.name not null references omega.cells (name),
  tenant_id bigint not null references omega.tenants (id),
  band text not null check (band in ('batch', 'production')),
  cpu omega.quantity,
  memory omega.quantity,
  gpu omega.quantity,
  disk omega.quantity,
  -- What the tenant's claims in this band use, kept by a trigger on claims (0007_quotas.sql), so
  -- that the check below makes invariant 3 a property of every row, whoever writes the claims.
  used_cpu bigint not null default 0,
  used_memory bigint not null default 0,
  used_gpu bigint not null default 0,
  used_disk bigint not null default 0,
  primary key (cell, tenant_id, band),
  constraint quotas_used_cpu check (used_cpu between 0 and cpu),
  constraint quotas_used_memory check (used_memory between 0 and memory),
  constraint quotas_used_gpu check (used_gpu between 0 and gpu),
  constraint quotas_used_disk check (used_disk between 0 and disk)
);

-- Every change to a machine row moves its cursor and, when capacity or placement rules changed, its
-- version; done by trigger so that no code path can forget it.
create function omega.touch_machine() returns trigger language plpgsql as $$
begin
  new.changed_xid := pg_current_xact_id();
  new.version := old.version + 1;
  return new;
end $$;
create trigger machines_touch before update on omega.machines
  for each row execute function omega.touch_machine();
