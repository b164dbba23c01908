import { describe, expect, it } from "vitest";
import { parseQuantity } from "../../src/domain/quantity.ts";
import { type Dimension, MAX_QUANTITY } from "../../src/domain/resources.ts";

describe("parseQuantity", () => {
  it.each<[number | string, Dimension, number]>([
    // Kubernetes quantities, rounded up to the base unit.
    ["500m", "cpu", 500],
    ["2", "cpu", 2000],
    ["0.1", "cpu", 100],
    ["0.3", "cpu", 300],
    ["1.1", "cpu", 1100],
    ["1.0", "cpu", 1000],
    ["0.0001", "cpu", 1],
    ["1k", "cpu", 1_000_000],
    ["0", "cpu", 0],
    ["512Mi", "memory", 512],
    ["4Gi", "memory", 4096],
    ["1.5Gi", "memory", 1536],
    ["1G", "memory", 954],
    ["1M", "memory", 1],
    ["1Ki", "memory", 1],
    ["1Ti", "disk", 1_048_576],
    ["2", "gpu", 2],
    ["1000000000", "cpu", MAX_QUANTITY],
    // Every form resource.Quantity takes (issue 11): exponents, signs, a leading or trailing dot, n/u.
    ["1e3", "cpu", 1_000_000],
    ["1E3", "memory", 1],
    ["1.5e3", "cpu", 1_500_000],
    ["5e-1", "cpu", 500],
    ["1e+2", "gpu", 100],
    [".5", "cpu", 500],
    ["1.", "cpu", 1000],
    ["+1", "cpu", 1000],
    ["+.5", "cpu", 500],
    ["-0", "cpu", 0],
    ["0.0", "gpu", 0],
    ["250u", "cpu", 1],
    ["1500000u", "cpu", 1500],
    ["500000000n", "cpu", 500],
    ["1n", "cpu", 1],
    ["1G", "disk", 954],
    ["1048577", "memory", 2],
    ["1e-300", "memory", 1],
    ["2000m", "gpu", 2],
    ["1Ki", "gpu", 1024],
    // Numbers are base units already.
    [1500, "cpu", 1500],
    [0, "memory", 0],
    [3, "gpu", 3],
    [MAX_QUANTITY, "disk", MAX_QUANTITY],
  ])("%o %s → %d", (value, dimension, expected) => {
    expect(parseQuantity(value, dimension)).toBe(expected);
  });

  it.each<[number | string, Dimension]>([
    [1.5, "cpu"],
    [-1, "cpu"],
    [Number.NaN, "cpu"],
    [Number.POSITIVE_INFINITY, "memory"],
    [10 ** 13, "memory"],
    [MAX_QUANTITY + 1, "disk"],
    ["-1", "cpu"],
    ["abc", "cpu"],
    ["", "cpu"],
    [" 1", "cpu"],
    [".", "cpu"],
    ["1e", "cpu"],
    ["e3", "cpu"],
    ["1e3.5", "cpu"],
    ["1Mi3", "memory"],
    ["++1", "cpu"],
    ["-.5", "cpu"],
    ["1e101", "memory"],
    ["1Ei", "memory"],
    ["1 Gi", "memory"],
    ["1gi", "memory"],
    ["1X", "memory"],
    ["1E", "cpu"],
    ["1000000001", "cpu"],
    // A GPU is a whole device: a fraction is refused, never rounded up.
    ["0.5", "gpu"],
    ["500m", "gpu"],
    ["1.5", "gpu"],
    ["1e-1", "gpu"],
    ["1e-300", "gpu"],
    ["1u", "gpu"],
  ])("rejects %o (%s)", (value, dimension) => {
    expect(() => parseQuantity(value, dimension)).toThrow(RangeError);
  });
});
