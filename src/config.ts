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
