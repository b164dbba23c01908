/** The resource dimensions, in base units: cpu millicores, memory MiB, gpu devices, disk MiB. */
export const DIMENSIONS = ["cpu", "memory", "gpu", "disk"] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export type Resources = Record<Dimension, number>;

/** The largest value of any one dimension the schema stores (10^12 base units). */
export const MAX_QUANTITY = 1_000_000_000_000;

export const ZERO: Resources = Object.freeze({ cpu: 0, memory: 0, gpu: 0, disk: 0 });
