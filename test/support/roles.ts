import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createPool, type Pool } from "../../src/db/pool.ts";

export type GroupRole = "omega_api" | "omega_scheduler" | "omega_reader";

export interface LoginRole {
  name: string;
  /** The test database's URL, logging in as this role. */
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** The prefix of every login role a run creates: the global setup sweeps leftovers by it. */
export function loginRolePrefix(runPid: number): string {
  return `omega_test_${runPid}_`;
}

/**
 * A login role that is a member of `group`, for one test: roles are cluster-wide and other suites
 * use the same server at the same time, so its name is unique and it is dropped afterwards. It has
 * a password so that it logs in whatever the server's authentication method.
 */
export async function createLoginRole(databaseUrl: string, group: GroupRole): Promise<LoginRole> {
  const name = `${loginRolePrefix(process.ppid)}${randomBytes(5).toString("hex")}`;
  const password = randomBytes(12).toString("hex");
  await asSuperuser((c) => c.query(`create role ${name} login password '${password}' in role ${group}`));
  const url = new URL(databaseUrl);
  url.username = name;
  url.password = password;
  const pool = createPool(url.toString(), { max: 4, name: `omega-test-${group}` });
  return {
    name,
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      await asSuperuser((c) => c.query(`drop role if exists ${name}`));
    },
  };
}

async function asSuperuser(work: (client: pg.Client) => Promise<unknown>): Promise<void> {
  const client = new pg.Client({ connectionString: inject("serverUrl") });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
