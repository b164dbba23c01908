import { type Dimension, MAX_QUANTITY } from "./resources.ts";

/**
 * Kubernetes' resource.Quantity grammar (k8s.io/apimachinery/pkg/api/resource):
 *
 *   <quantity>  ::= <sign>? <number> <suffix>
 *   <number>    ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
 *   <suffix>    ::= <binarySI> | <decimalSI> | (e|E) <sign>? <digits>
 *   binarySI    Ki Mi Gi Ti Pi Ei          decimalSI   n u m "" k M G T P E
 *
 * ("1E" is an exa; "1E3" an exponent.) The same grammar as omega.parse_quantity (0100).
 */
const PATTERN = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/** A decimal suffix's power of ten. */
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
/** A binary suffix's power of two. */
const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
/** One unit of a plain quantity in the dimension's base unit, as 10^ten × 2^two. */
const BASE: Record<Dimension, { ten: number; two: number }> = {
  cpu: { ten: 3, two: 0 },
  memory: { ten: 0, two: -20 },
  disk: { ten: 0, two: -20 },
  gpu: { ten: 0, two: 0 },
};
/** Past this power of ten a non-zero quantity is out of range, or below one base unit, whatever its digits. */
const MAX_SCALE = 100;

const SHAPES = '(examples: "500m", "2", "512Mi", "4Gi", "1e3", ".5")';

/**
 * Parses a resource value: a number is already in base units (cpu millicores, memory/disk MiB, gpu
 * devices) and must be whole; a string is a Kubernetes quantity in any form resource.Quantity takes
 * ("500m", "2", "512Mi", "1e3", ".5", "+1", "250u"), computed exactly and rounded up to the base
 * unit as Kubernetes rounds requests. A GPU is a whole device: a fractional gpu is refused, never
 * rounded. The same rules as omega.parse_quantity.
 */
export function parseQuantity(value: number | string, dimension: Dimension): number {
  let result: number;
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new RangeError("a number must be a whole count of base units");
    result = value;
  } else {
    result = parseQuantityString(value, dimension);
  }
  if (result < 0 || result > MAX_QUANTITY)
    throw new RangeError(`${value} is out of range (0 to 10^12 base units)`);
  return result;
}

function parseQuantityString(value: string, dimension: Dimension): number {
  const match = PATTERN.exec(value);
  if (!match) throw new RangeError(`"${value}" is not a quantity ${SHAPES}`);
  const [, sign, number = "", exponent, suffix = ""] = match;
  const [whole = "", fraction = ""] = number.split(".");
  const digits = BigInt(`${whole}${fraction}` || "0");
  if (digits === 0n) return 0;
  if (sign === "-") throw new RangeError(`${value} is out of range (0 to 10^12 base units)`);
  const ten =
    (exponent === undefined ? (DECIMAL[suffix] ?? 0) : Number(exponent)) -
    fraction.length +
    BASE[dimension].ten;
  const two = (BINARY[suffix] ?? 0) + BASE[dimension].two;
  if (ten > MAX_SCALE) throw new RangeError(`${value} is out of range (0 to 10^12 base units)`);
  if (ten < -MAX_SCALE) return smallest(value, dimension);
  // value = digits × 10^ten × 2^two, as a fraction of whole numbers.
  const numerator = digits * 10n ** BigInt(Math.max(ten, 0)) * 2n ** BigInt(Math.max(two, 0));
  const denominator = 10n ** BigInt(Math.max(-ten, 0)) * 2n ** BigInt(Math.max(-two, 0));
  if (dimension === "gpu" && numerator % denominator !== 0n) return smallest(value, dimension);
  const rounded = (numerator + denominator - 1n) / denominator;
  return rounded > BigInt(MAX_QUANTITY) ? MAX_QUANTITY + 1 : Number(rounded);
}

/** A positive quantity below one base unit: one unit, except for a gpu, which is whole or refused. */
function smallest(value: string, dimension: Dimension): number {
  if (dimension === "gpu")
    throw new RangeError(`"${value}" is a fraction of a GPU: a gpu request is a whole number of devices`);
  return 1;
}
