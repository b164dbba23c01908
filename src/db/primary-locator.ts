import pg from "pg";
import type { ConnectionTargets, HostTarget } from "./connection-string.ts";

/**
 * Which of a connection string's hosts takes new connections: the first, in the order written,
 * that answers and (with target_session_attrs=read-write) is not read-only — libpq's rule. The
 * answer is remembered until a connection to it fails or finds it read-only (a failover), so a
 * steady pool pays for no probing; then every host is probed again, at once (a dead host costs
 * one connect timeout, not one per host).
 */
export interface PrimaryLocator {
  /** The host to connect to now; rejects with an 08001 error while none qualifies. */
  current(): Promise<HostTarget>;
  /** `target` failed or is read-only: find another on the next call. */
  forget(target: HostTarget): void;
  readonly readWrite: boolean;
}

/** How long a probe may take to connect and answer: a standby being promoted answers quickly. */
const PROBE_TIMEOUT_MS = 2_000;

export function primaryLocator(targets: ConnectionTargets): PrimaryLocator {
  let known: HostTarget | undefined;
  let finding: Promise<HostTarget> | undefined;

  async function qualifies(target: HostTarget): Promise<boolean> {
    const client = new pg.Client({ connectionString: target.url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
    client.on("error", () => {});
    try {
      await client.connect();
      if (!targets.readWrite) return true;
      return await isWritable(client);
    } catch {
      return false;
    } finally {
      client.end().catch(() => {});
    }
  }

  async function find(): Promise<HostTarget> {
    const answers = await Promise.all(targets.targets.map(qualifies));
    const found = targets.targets.find((_, i) => answers[i]);
    if (!found) throw noServer(targets);
    known = found;
    return found;
  }

  return {
    readWrite: targets.readWrite,
    current() {
      if (known) return Promise.resolve(known);
      finding ??= find().finally(() => {
        finding = undefined;
      });
      return finding;
    },
    forget(target) {
      if (known === target) known = undefined;
    },
  };
}

/** libpq's read-write test: the server says its sessions are not read-only. */
export async function isWritable(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ transaction_read_only: string }>("show transaction_read_only");
  return rows[0]?.transaction_read_only === "off";
}

/** Class 08 (connection exception): what isDatabaseUnavailable and every retry loop recognise. */
export function noServer(targets: ConnectionTargets): Error {
  const hosts = targets.targets.map((t) => `${t.host}:${t.port}`).join(", ");
  const what = targets.readWrite ? "read-write (primary) server" : "server that answers";
  return Object.assign(new Error(`no ${what} among ${hosts}`), { code: "08001" });
}
