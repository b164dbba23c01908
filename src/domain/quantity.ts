import { type Dimension, MAX_QUANTITY } from "./resources.ts";

// Kubernetes quantity suffixes and what they multiply by.
const SUFFIX: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const PATTERN = /^(\d+(?:\.\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** What one unit of a plain Kubernetes quantity is worth in the dimension's base unit. */
const BASE: Record<Dimension, number> = { cpu: 1000, memory: 2 ** -20, disk: 2 ** -20, gpu: 1 };

/**
 * Parses a resource value: a number is already in base units (cpu millicores, memory/disk MiB, gpu
 * devices) and must be whole; a string is a Kubernetes quantity ("500m", "2", "512Mi", "4Gi"),
 * rounded up to the base unit as Kubernetes rounds requests. The same rules as omega.parse_quantity.
 */
export function parseQuantity(value: number | string, dimension: Dimension): number {
  let result: number;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new RangeError("a number must be a whole count of base units");
    result = value;
  } else {
    const match = PATTERN.exec(value);
    if (!match) throw new RangeError(`"${value}" is not a quantity (examples: "500m", "2", "512Mi", "4Gi")`);
    const scaled = Number(match[1]) * (SUFFIX[match[2] ?? ""] ?? 1) * BASE[dimension];
    // Guard float noise (0.1 * 1000 = 100.00000000000001) before rounding up.
    result = Math.ceil(Number(scaled.toPrecision(12)));
  }
  if (result < 0 || result > MAX_QUANTITY)
    throw new RangeError(`${value} is out of range (0 to 10^12 base units)`);
  return result;
}
