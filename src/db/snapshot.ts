import type { Dimension, Resources } from "../domain/resources.ts";
import type { MachineView, Taint } from "../placement/types.ts";
import type { Snapshot } from "../scheduler/interfaces.ts";
import type { Pool } from "./pool.ts";

/**
 * A scheduler's in-memory copy of one cell's machines and their usage, kept current by incremental
 * syncs: each sync reads only the machine rows changed since the previous one — whole where what
 * the machine is changed (spec_xid), and otherwise its usage alone, which is what commits move.
 *
 * The change cursor is the xmin of the previous sync's snapshot: every transaction with an older
 * id had finished when that sync read, so its changes were seen then; anything that changes a
 * machine later logs it under its own id (omega.machine_changes), which is ≥ that xmin. A
 * transaction that took its id early and committed late is therefore still read by the next
 * sync, never missed. A sync costs what changed since the oldest transaction then running, not the
 * size of the cell.
 */
export class CellSnapshot implements Snapshot {
  readonly machines = new Map<number, MachineView>();
  /** Capacity epoch of the cell as of the last sync (see omega.park_job). */
  capacityEpoch = 0;
  /** Counts syncs that changed something: with the evaluation id it seeds candidate shuffles. */
  stateVersion = 0;
  private cursor: string | null = null;
  private cachedList: MachineView[] | null = null;
  /** Each machine's index in `cachedList`. */
  private positions = new Map<number, number>();
  /** A lease's statement read the sync (absorb): the next sync() has nothing to read. */
  private absorbed = false;
  private lastSync = { changed: 0, removed: 0 };

  constructor(
    private readonly pool: Pool,
    readonly cell: string,
  ) {}

  list(): readonly MachineView[] {
    if (this.cachedList === null) {
      this.cachedList = [...this.machines.values()].sort((a, b) => a.id - b.id);
      this.positions = new Map(this.cachedList.map((m, i) => [m.id, i]));
    }
    return this.cachedList;
  }

  /** The cursor a sync read along with other work starts from (see `absorb`). */
  get since(): string | null {
    return this.cursor;
  }

  /**
   * Takes in a sync read elsewhere — by a lease, in its statement (db/scheduling.ts) — so that the
   * sync() right after it is skipped: the planning that follows a lease needs no round trip of its own.
   */
  absorb(head: SyncRow): void {
    this.lastSync = this.apply(head);
    this.absorbed = true;
  }

  /** Pulls what changed; returns how many machine rows were read and removed. */
  async sync(): Promise<{ changed: number; removed: number }> {
    if (this.absorbed) {
      this.absorbed = false;
      return this.lastSync;
    }
    // One statement, so one snapshot for the cursor and the rows it covers, and one round trip
    // (a transaction of four statements cost five at every evaluation). Named, and the first sync
    // apart, so that a connection plans each once (see syncQuery).
    const { rows } = await this.pool.query<SyncRow>(
      this.cursor === null
        ? { name: "omega.snapshot_read", text: syncQuery("$1", null), values: [this.cell] }
        : {
            name: "omega.snapshot_sync",
            text: syncQuery("$1", "$2"),
            values: [this.cell, this.cursor],
          },
    );
    const head = rows[0];
    if (!head) throw new Error("the snapshot query returned no row");
    this.lastSync = this.apply(head);
    return this.lastSync;
  }

  /** A copy of the list (a plan under way keeps its own) with each replaced machine in its place. */
  private patched(list: readonly MachineView[], replaced: readonly MachineView[]): MachineView[] {
    const next = list.slice();
    for (const view of replaced) next[this.positions.get(view.id) as number] = view;
    return next;
  }

  private apply(head: SyncRow): { changed: number; removed: number } {
    // What the row is, not what the cursor is now: another evaluation's sync may have moved it.
    if (head.whole) this.machines.clear();
    // Machines known before and after: the sorted list is patched in their places rather than
    // sorted again (sorting 10,000 machines per sync was 3 % of a busy worker's CPU).
    const replaced: MachineView[] = [];
    let reshaped = head.whole || head.removed.length > 0;
    for (const row of head.changed) {
      const view = toMachineView(row);
      if (!this.machines.has(row.id)) reshaped = true;
      this.machines.set(row.id, view);
      replaced.push(view);
    }
    let unknown = false;
    for (const [id, version, cpu, memory, gpu, disk, tasks] of head.usage) {
      const known = this.machines.get(id);
      // Cannot happen (a machine is met whole first); if it did, the next sync reads the cell whole.
      if (!known) unknown = true;
      else {
        const view = { ...known, version, used: { cpu, memory, gpu, disk }, tasks };
        this.machines.set(id, view);
        replaced.push(view);
      }
    }
    for (const id of head.removed) this.machines.delete(id);
    // (A cell not there yet moves nothing: the next sync reads it whole.)
    if (head.capacity_epoch !== null) {
      this.cursor = unknown ? null : head.xmin;
      this.capacityEpoch = head.capacity_epoch;
    }
    const changed = head.changed.length + head.usage.length;
    if (changed + head.removed.length > 0) {
      this.cachedList = reshaped || this.cachedList === null ? null : this.patched(this.cachedList, replaced);
      this.stateVersion++;
    }
    return { changed, removed: head.removed.length };
  }
}

/** The machine columns planning needs, as `toMachineView` reads them. */
export const MACHINE_COLUMNS =
  "id, name, state, cpu, memory, gpu, disk, used_cpu, used_memory, used_gpu, used_disk, tasks, max_tasks, labels, taints, version";

export interface SyncRow {
  /** The cell whole (read without a cursor), rather than what changed since one. */
  whole: boolean;
  xmin: string;
  capacity_epoch: number | null;
  changed: MachineRow[];
  usage: UsageRow[];
  removed: number[];
}

/** A machine whose usage alone changed: id, version, used cpu, memory, gpu, disk, tasks. */
type UsageRow = [number, number, number, number, number, number, number];

/**
 * A sync's one row, as a query over the parameters holding the cell and the cursor: the cell whole
 * when there is no cursor yet (a worker's first sync, or one after a machine it did not know), or
 * when the cursor is older than what omega.machine_changes still holds (the cell's changes_horizon,
 * 0346_machine_changes_logged.sql). Otherwise the machines the log names since the cursor: those
 * whose spec_xid passed it come whole, and the others, changed only in usage, as
 * [id, version, used_cpu, used_memory, used_gpu, used_disk, tasks]
 * (0261_machine_spec_cursor.sql: a quarter of the JSON's cost, a ninth of its size).
 *
 * The cursor is compared through a subquery: its value hidden from the planner, a plan made for
 * one cursor costs what a generic plan costs, so PostgreSQL keeps the generic plan. Compared
 * directly, every call was planned anew (3,291 plans in 3,283 calls at 200 jobs/s, 0.36 ms each),
 * a custom plan always looking cheaper (session 12).
 */
export function syncQuery(cell: string, cursor: string | null): string {
  const xmin = "pg_snapshot_xmin(pg_current_snapshot())::text as xmin";
  const whole = `coalesce((select json_agg(m) from (select ${MACHINE_COLUMNS} from omega.machines where cell = ${cell}) m), '[]')`;
  if (cursor === null) {
    return `select true as whole, ${xmin},
    (select capacity_epoch from omega.cells where name = ${cell}) as capacity_epoch,
    ${whole} as changed, '[]'::json as usage, '[]'::json as removed`;
  }
  const since = `(select ${cursor}::xid8)`;
  // One scan of the machines the log names (by key, in id order), split by spec_xid into the two
  // lists; with a horizon past the cursor, none (the cell comes whole instead).
  return `select coalesce(k.stale, false) as whole, ${xmin}, k.capacity_epoch,
    case when k.stale then ${whole} else coalesce(d.changed::json, '[]') end as changed,
    coalesce(d.usage, '[]') as usage,
    (select coalesce(json_agg(machine_id), '[]') from omega.machine_removals
     where cell = ${cell} and removed_xid >= ${since}) as removed
  from (select c.capacity_epoch, c.changes_horizon, c.changes_horizon >= ${since} as stale
        from (select) as one left join omega.cells c on c.name = ${cell}) k
  cross join lateral (
    select jsonb_agg(to_jsonb(m) - 'spec_changed') filter (where m.spec_changed) as changed,
      json_agg(json_build_array(m.id, m.version, m.used_cpu, m.used_memory, m.used_gpu, m.used_disk, m.tasks))
        filter (where not m.spec_changed) as usage
    from (select ${MACHINE_COLUMNS}, spec_xid >= ${since} as spec_changed from omega.machines
          where cell = ${cell} and id = any (array(
            select x from omega.machine_changes l cross join lateral unnest(l.machine_ids) as x
            where l.cell = ${cell} and l.xid >= ${since} and k.changes_horizon < ${since}))) m) d`;
}

export interface MachineRow extends Record<Dimension, number> {
  id: number;
  name: string;
  state: MachineView["state"];
  used_cpu: number;
  used_memory: number;
  used_gpu: number;
  used_disk: number;
  tasks: number;
  max_tasks: number;
  labels: Record<string, string>;
  taints: Taint[];
  version: number;
}

export function toMachineView(row: MachineRow): MachineView {
  const capacity: Resources = { cpu: row.cpu, memory: row.memory, gpu: row.gpu, disk: row.disk };
  const used: Resources = {
    cpu: row.used_cpu,
    memory: row.used_memory,
    gpu: row.used_gpu,
    disk: row.used_disk,
  };
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    capacity,
    used,
    tasks: row.tasks,
    maxTasks: row.max_tasks,
    labels: row.labels,
    taints: row.taints,
    version: row.version,
  };
}
