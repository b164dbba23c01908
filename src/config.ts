/** Settings from the environment (see the README's Configuration section). */
export const env = {
  databaseUrl: process.env.DATABASE_URL || undefined,
  port: Number(process.env.PORT ?? 8080),
  adminToken: process.env.OMEGA_ADMIN_TOKEN || undefined,
  /** Partition databases, space-separated (a URL may itself hold commas: several hosts). */
  partitions: process.env.OMEGA_PARTITIONS?.trim()
    ? process.env.OMEGA_PARTITIONS.trim().split(/\s+/)
    : undefined,
  routerUrl: process.env.OMEGA_ROUTER_URL || undefined,
};

/** OMEGA_SUBMIT_TRANSACTIONS: submission transactions an API runs at once (SubmissionBatcher's maxInFlight). */
export function submitTransactionsFromEnv(): number | undefined {
  const raw = process.env.OMEGA_SUBMIT_TRANSACTIONS?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new Error(
      `OMEGA_SUBMIT_TRANSACTIONS must be a whole number from 1 to 64, not ${JSON.stringify(raw)}`,
    );
  }
  return n;
}
