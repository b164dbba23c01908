import pg from "pg";

/**
 * The per-cell tables, parents before children: rows are inserted in this order and deleted in the
 * reverse. (`cells` is keyed by `name`; every other one by `cell`.) Tenants and schedulers are
 * global and already on every partition.
 */
// Every table keyed by cell, parents before children (rows are deleted from the source in the
// reverse order).
const CELL_TABLES = [
  "cells",
  "agent_tokens",
  "machines",
  "machine_agents",
  "machine_removals",
  "plans",
  "quotas",
  "cell_capacity",
  "tenant_usage",
  "workflows",
  "periodic",
  "periodic_launches",
  "jobs",
  "job_dependencies",
  "tasks",
  "claims",
  "claim_ports",
  "moves",
  "events",
] as const;

export interface MoveCellOptions {
  cell: string;
  /** The partitions' URLs, p0… as the router knows them. */
  partitions: readonly string[];
  routerUrl: string;
  /** The partition index to move the cell to. */
  to: number;
}

export interface MovedCell {
  from: number;
  to: number;
  /** Rows copied, per table. */
  rows: Record<string, number>;
  /** How long the source partition's writers were held (the copy), in ms. */
  heldMs: number;
  /** 1, or more when taking the locks deadlocked with a writer and was tried again. */
  attempts: number;
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: "omega-move-cell" });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/**
 * Moves a cell to another partition with nothing lost, in four steps:
 *
 * 1. **Freeze** in the router: the directory marks the cell moving, and the router refuses its
 *    calls (SQLSTATE OM503, "retry") — a client retrying with its idempotency key lands on the
 *    new partition afterwards.
 * 2. **Drain** the source: one transaction takes SHARE locks on the per-cell tables, which waits
 *    for every writer in flight (a submission that passed the router before the freeze, a plan
 *    being committed) and holds off new ones — for every cell of that partition, for the length
 *    of the copy (reported as `heldMs`). Schedulers keep reading; their next write waits.
 * 3. **Copy** the cell's rows in that snapshot to the target, in one transaction, with triggers off
 *    (the rows already carry their events and counters) and job leases cleared so that the
 *    target's workers take the jobs at once; the target's id sequences are moved past the copied
 *    ids. Then **switch** the directory to the target and unfreeze.
 * 4. **Delete** the cell's rows on the source (same transaction as the locks) and **resume**: the
 *    target's schedulers are woken (omega.wake_stale).
 *
 * Needs a superuser (or the owner with `session_replication_role` granted) on both partitions. If
 * it fails before the switch, everything is rolled back and the cell unfrozen. A crash after the
 * switch and before the delete leaves a stale copy on the source that nothing routes to; its
 * locks die with the session, and the README says how to delete it.
 */
export async function moveCell(options: MoveCellOptions): Promise<MovedCell> {
  const { cell, partitions, to } = options;
  const router = await connect(options.routerUrl);
  const clients: pg.Client[] = [router];
  try {
    const { rows } = await router.query<{ p: number }>(
      "select omega_router.partition_of($1) & ($2 - 1) as p",
      [cell, partitions.length],
    );
    const from = rows[0]?.p ?? 0;
    if (from === to) return { from, to, rows: {}, heldMs: 0, attempts: 0 };
    const source = await connect(partitions[from] ?? "");
    const target = await connect(partitions[to] ?? "");
    clients.push(source, target);
    // Taking the locks can deadlock with a writer that holds one table and waits for another we
    // already hold; PostgreSQL then cancels one of the two. If it was us, try again.
    for (let attempt = 1; ; attempt++) {
      try {
        return {
          ...(await copyAndSwitch({ router, source, target }, { cell, from, to })),
          attempts: attempt,
        };
      } catch (error) {
        if ((error as { code?: string }).code !== "40P01" || attempt >= 5) throw error;
      }
    }
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

interface Connections {
  router: pg.Client;
  source: pg.Client;
  target: pg.Client;
}

async function copyAndSwitch(
  { router, source, target }: Connections,
  { cell, from, to }: { cell: string; from: number; to: number },
): Promise<Omit<MovedCell, "attempts">> {
  await router.query(
    `insert into omega_router.cells (cell, partition, moving) values ($1, $2, true)
     on conflict (cell) do update set moving = true`,
    [cell, from],
  );
  const heldFrom = Date.now();
  let switched = false;
  try {
    await source.query("begin");
    await source.query(`lock table ${CELL_TABLES.map((t) => `omega.${t}`).join(", ")} in share mode`);
    // And the cell's rows, now: a writer that locked some of them (a plan's machines, a submission's
    // key share on the cell) waits for our table locks, so deleting them after the switch would
    // deadlock with it. Any deadlock happens here instead, before the switch, where retrying is safe.
    for (const table of CELL_TABLES) {
      if (table !== "events")
        await source.query(`select from omega.${table} where ${keyOf(table)} = $1 for update`, [cell]);
    }
    await target.query("begin");
    await target.query("set local session_replication_role = replica");
    const copied: Record<string, number> = {};
    for (const table of CELL_TABLES) copied[table] = await copyTable(source, target, table, cell);
    // The machine change log is the source's, by its transaction ids: not copied. A sync on the
    // target reads the cell whole first (0346_machine_changes_logged.sql).
    await target.query("update omega.cells set changes_horizon = pg_current_xact_id() where name = $1", [
      cell,
    ]);
    await advanceSequences(target);
    await target.query("commit");
    await router.query("update omega_router.cells set partition = $2, moving = false where cell = $1", [
      cell,
      to,
    ]);
    switched = true;
    await source.query("set local session_replication_role = replica");
    for (const table of [...CELL_TABLES].reverse()) {
      await source.query(`delete from omega.${table} where ${keyOf(table)} = $1`, [cell]);
    }
    await source.query("commit");
    const heldMs = Date.now() - heldFrom;
    await target.query("select omega.wake_stale()");
    return { from, to, rows: copied, heldMs };
  } catch (error) {
    await target.query("rollback").catch(() => {});
    await source.query("rollback").catch(() => {});
    if (!switched) {
      await router.query("update omega_router.cells set moving = false where cell = $1", [cell]);
      throw error;
    }
    // The cell lives on the target now; only the source's copy could not be deleted. Not retried.
    throw new Error(
      `cell ${cell} moved to partition ${to}, but its old rows on partition ${from} could not be deleted ` +
        `(${(error as Error).message}): delete them as the README says`,
      { cause: error },
    );
  }
}

const keyOf = (table: string) => (table === "cells" ? "name" : "cell");

/** Copies one table's rows of `cell`, as they are (ids included); returns how many. */
async function copyTable(source: pg.Client, target: pg.Client, table: string, cell: string): Promise<number> {
  // A lease belongs to a worker of the source partition: the target's workers take the job now.
  const row =
    table === "jobs"
      ? "to_jsonb(t) || jsonb_build_object('lease_owner', null, 'lease_expires', null)"
      : "to_jsonb(t)";
  const { rows } = await source.query<{ rows: unknown[] | null }>(
    `select json_agg(${row}) as rows from omega.${table} t where ${keyOf(table)} = $1`,
    [cell],
  );
  const data = rows[0]?.rows ?? [];
  if (data.length > 0) {
    // Generated columns (jobs.ready) are computed again by the target, never copied.
    const { rows: columns } = await target.query<{ name: string }>(
      `select quote_ident(attname) as name from pg_catalog.pg_attribute
       where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = ''
       order by attnum`,
      [`omega.${table}`],
    );
    const list = columns.map((c) => c.name).join(", ");
    await target.query(
      `insert into omega.${table} (${list}) overriding system value
       select ${list} from jsonb_populate_recordset(null::omega.${table}, $1)`,
      [JSON.stringify(data)],
    );
  }
  return data.length;
}

/**
 * Past every copied id: a new row of the moved cell must not take an id it already has. Partitions
 * migrated together have strided ids (migration 0061: partition k of N makes ids ≡ k+1 mod N), so
 * the copied ids, from the source's class, are ones the target never makes: its sequences are left
 * alone (moving one to the copied maximum would put it in the source's class). Only a sequence
 * with increment 1 — partitions not migrated together — is moved past them.
 */
async function advanceSequences(target: pg.Client): Promise<void> {
  const { rows } = await target.query<{ table_name: string }>(
    `select c.table_name from information_schema.columns c
     join pg_sequences s on s.schemaname || '.' || s.sequencename = pg_get_serial_sequence('omega.' || c.table_name, 'id')
     where c.table_schema = 'omega' and c.column_name = 'id' and c.is_identity = 'YES'
       and c.table_name = any($1) and s.increment_by = 1`,
    [CELL_TABLES],
  );
  for (const { table_name } of rows) {
    await target.query(
      `select setval(pg_get_serial_sequence($1, 'id'),
         greatest((select coalesce(max(id), 0) from omega.${table_name}), 1))`,
      [`omega.${table_name}`],
    );
  }
}
