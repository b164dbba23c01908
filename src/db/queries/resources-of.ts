import type { Resources } from "../../domain/resources.ts";

/** Reads `<prefix>cpu`, `<prefix>memory`, … of a row as a Resources vector (views may give null). */
export function resourcesOf(row: Record<string, unknown>, prefix = ""): Resources {
  const read = (dimension: string) => Number(row[`${prefix}${dimension}`] ?? 0);
  return { cpu: read("cpu"), memory: read("memory"), gpu: read("gpu"), disk: read("disk") };
}
