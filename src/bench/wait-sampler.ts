import type { Pool } from "../db/pool.ts";

/** How often each (state, wait event, statement) was seen among the server's active backends. */
export interface WaitSample {
  wait: string;
  query: string;
  samples: number;
  /** Share of all active-backend samples. */
  share: number;
}

export interface WaitSampler {
  stop(): Promise<WaitSample[]>;
}

/**
 * Samples pg_stat_activity every `everyMs` while a measurement runs: what the server's busy
 * backends are doing — on the CPU ("CPU"), or waiting (a lock, a WAL flush, a client). Statement
 * time alone cannot tell a commit that computes from one that waits; this can. It holds one
 * connection of `pool` for as long as it runs.
 */
export async function startWaitSampler(pool: Pool, everyMs = 5): Promise<WaitSampler> {
  const client = await pool.connect();
  const counts = new Map<string, number>();
  let total = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await client.query<{ wait: string; query: string }>(
        // A lock wait names what holds it up: the blockers' application, state and statement.
        `select coalesce(wait_event_type || ':' || wait_event, 'CPU')
                  || case when wait_event_type = 'Lock' then coalesce(' behind ' || (
                       select string_agg(distinct b.application_name || ' (' || b.state || ') '
                                         || left(regexp_replace(b.query, '\\s+', ' ', 'g'), 60), '; ')
                       from pg_stat_activity b where b.pid = any (pg_blocking_pids(a.pid))), '') else '' end as wait,
                left(regexp_replace(a.query, '\\s+', ' ', 'g'), 90) as query
         from pg_stat_activity a
         where a.state = 'active' and a.pid <> pg_backend_pid() and a.backend_type = 'client backend'`,
      );
      for (const r of rows) {
        const key = `${r.wait}\u0000${r.query}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        total++;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      client.release();
      return [...counts]
        .map(([key, samples]) => {
          const [wait = "", query = ""] = key.split("\u0000");
          return { wait, query, samples, share: Math.round((1000 * samples) / Math.max(1, total)) / 10 };
        })
        .sort((a, b) => b.samples - a.samples)
        .slice(0, 20);
    },
  };
}
