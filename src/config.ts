/** Settings from the environment (see the README's Configuration section). */
export const env = {
  databaseUrl: process.env.DATABASE_URL || undefined,
  port: Number(process.env.PORT ?? 8080),
  adminToken: process.env.OMEGA_ADMIN_TOKEN || undefined,
};
