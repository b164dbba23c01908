import { existsSync, readFileSync } from "node:fs";
import { mkdir, open, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { isAlive } from "./process-tree.ts";

/** What `omega start` writes into `<data>/omega.pid` while it runs. */
export interface LockOwner {
  pid: number;
  url?: string;
  startedAt: string;
}

export class InstanceRunning extends Error {
  constructor(
    readonly dataDir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `${dataDir} is in use by a running omega (pid ${owner.pid}${owner.url ? `, ${owner.url}` : ""}) — ` +
        `stop it first (kill ${owner.pid}), or use --data for another instance`,
    );
  }
}

export interface InstanceLock {
  /** Adds what others should know (the API's address) once it is known. */
  update(fields: Partial<LockOwner>): Promise<void>;
  release(): Promise<void>;
}

const FILE = "omega.pid";

/** The owner recorded in `<dataDir>/omega.pid`, if that process is still alive. */
export function liveOwner(dataDir: string): LockOwner | undefined {
  const file = path.join(dataDir, FILE);
  if (!existsSync(file)) return undefined;
  try {
    const owner = JSON.parse(readFileSync(file, "utf8")) as LockOwner;
    return owner.pid > 0 && owner.pid !== process.pid && isAlive(owner.pid) ? owner : undefined;
  } catch {
    return undefined; // half-written or foreign: nobody we can ask
  }
}

/**
 * Takes the data directory for this process, or refuses with InstanceRunning. The lock is a file
 * holding the owner's pid, checked for life: a process killed outright (SIGKILL, a power cut)
 * leaves it behind, and the next start takes it over. O_EXCL makes two starts racing for a free
 * directory agree on one winner.
 */
export async function lockInstance(dataDir: string): Promise<InstanceLock> {
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, FILE);
  let owner: LockOwner = { pid: process.pid, startedAt: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(file, "wx", 0o644);
      await handle.writeFile(`${JSON.stringify(owner)}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 3) throw error;
      const live = liveOwner(dataDir);
      if (live) throw new InstanceRunning(dataDir, live);
      await rm(file, { force: true }); // stale: its owner is dead
    }
  }
  return {
    async update(fields) {
      owner = { ...owner, ...fields };
      const handle = await open(file, "w", 0o644);
      await handle.writeFile(`${JSON.stringify(owner)}\n`);
      await handle.close();
    },
    async release() {
      // Only our own: a lock another process took after ours lapsed is theirs.
      const text = await readFile(file, "utf8").catch(() => "");
      if (text.includes(`"pid":${process.pid},`)) await rm(file, { force: true });
    },
  };
}
