/** Rows as aligned columns, as `nomad job status` prints them: a header, two spaces between. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i]?.length ?? 0)));
  return `${cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** Base units for people: 2500 millicores → "2.5", 8192 MiB → "8Gi". */
export function cpu(millicores: number): string {
  return millicores % 1000 === 0 ? String(millicores / 1000) : `${millicores}m`;
}

export function memory(mib: number): string {
  if (mib >= 1024 && mib % 1024 === 0) return `${mib / 1024}Gi`;
  if (mib >= 1024) return `${(mib / 1024).toFixed(1)}Gi`;
  return mib === 0 ? "0" : `${mib}Mi`;
}

export function percent(used: number, capacity: number): string {
  return capacity > 0 ? `${Math.round((100 * used) / capacity)}%` : "-";
}

/** `--json` output: what the API answered, pretty-printed, for scripts and jq. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
