import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { MachineInfo } from "./machine-info.ts";
import { round } from "./stats.ts";

/** Where results go: bench/results, or OMEGA_BENCH_RESULTS (the tests write elsewhere). */
export const RESULTS_DIR = process.env.OMEGA_BENCH_RESULTS || "bench/results";

export type Cell = string | number | boolean | null;

/** Prints rows as an aligned text table (numbers right-aligned), under a title. */
export function printTable(title: string, rows: readonly Record<string, Cell>[]): void {
  const first = rows[0];
  if (!first) return;
  const columns = Object.keys(first);
  const text = (v: Cell) =>
    v === null ? "—" : typeof v === "number" ? v.toLocaleString("en-US") : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => text(r[c] ?? null).length)));
  const line = (cells: string[], numeric: boolean[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join("  ");
  const numeric = columns.map((c) => typeof first[c] === "number");
  console.log(`\n${title}`);
  console.log(line(columns, numeric));
  console.log(
    line(
      widths.map((w) => "-".repeat(w)),
      numeric,
    ),
  );
  for (const r of rows)
    console.log(
      line(
        columns.map((c) => text(r[c] ?? null)),
        numeric,
      ),
    );
}

/**
 * Writes `bench/results/<scenario>.json`: the machine and exact command first, then the options,
 * the scenario's results, and the wall time of the whole run.
 */
export async function writeResults(
  scenario: string,
  report: { machine: MachineInfo; options: object; wallSeconds: number } & Record<string, unknown>,
): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${scenario}.json`);
  const { machine, options, wallSeconds, ...results } = report;
  const ordered = { scenario, machine, options, wallSeconds: round(wallSeconds, 1), ...results };
  await writeFile(file, `${JSON.stringify(ordered, null, 2)}\n`);
  return file;
}
