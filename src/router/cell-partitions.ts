import pg from "pg";

/**
 * Which partitions hold `cells`, as the router's directory says (a cell not listed: where its name
 * hashes): the distinct partition URLs, in partition order. A cell that is moving is where it was
 * until the move ends; a worker started then serves the old partition, which is harmless (the cell
 * is gone from it afterwards) but stale: restart workers after moving cells.
 */
export async function partitionsOfCells(
  routerUrl: string,
  partitions: readonly string[],
  cells: readonly string[],
): Promise<{ url: string; index: number; cells: string[] }[]> {
  const client = new pg.Client({ connectionString: routerUrl, application_name: "omega-worker" });
  await client.connect();
  try {
    const { rows } = await client.query<{ cell: string; p: number }>(
      `select c as cell, coalesce((select partition from omega_router.cells where cell = c), hashtext(c)) & ($2 - 1) as p
       from unnest($1::text[]) c`,
      [cells, partitions.length],
    );
    const byPartition = new Map<number, string[]>();
    for (const { cell, p } of rows) byPartition.set(p, [...(byPartition.get(p) ?? []), cell]);
    return [...byPartition]
      .sort(([a], [b]) => a - b)
      .map(([index, owned]) => ({ index, url: partitions[index] ?? "", cells: owned }));
  } finally {
    await client.end();
  }
}
