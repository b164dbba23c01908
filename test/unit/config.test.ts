import { afterEach, describe, expect, it } from "vitest";
import { submitTransactionsFromEnv } from "../../src/config.ts";

describe("OMEGA_SUBMIT_TRANSACTIONS", () => {
  const saved = process.env.OMEGA_SUBMIT_TRANSACTIONS;
  afterEach(() => {
    if (saved === undefined) delete process.env.OMEGA_SUBMIT_TRANSACTIONS;
    else process.env.OMEGA_SUBMIT_TRANSACTIONS = saved;
  });

  it("is the batcher's default when unset or empty", () => {
    delete process.env.OMEGA_SUBMIT_TRANSACTIONS;
    expect(submitTransactionsFromEnv()).toBeUndefined();
    process.env.OMEGA_SUBMIT_TRANSACTIONS = " ";
    expect(submitTransactionsFromEnv()).toBeUndefined();
  });

  it("takes a whole number from 1 to 64", () => {
    process.env.OMEGA_SUBMIT_TRANSACTIONS = "4";
    expect(submitTransactionsFromEnv()).toBe(4);
  });

  // A value the batcher cannot use would stop every submission (no transaction ever starts).
  it.each(["0", "-1", "2.5", "abc", "65"])("refuses %j with a clear error", (value) => {
    process.env.OMEGA_SUBMIT_TRANSACTIONS = value;
    expect(() => submitTransactionsFromEnv()).toThrow(
      /OMEGA_SUBMIT_TRANSACTIONS must be a whole number from 1 to 64/,
    );
  });
});
