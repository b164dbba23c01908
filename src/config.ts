import { randomBytes } from "node:crypto";

/** Settings from the environment (see the README's Configuration section). */
export const env = {
  databaseUrl: process.env.DATABASE_URL || undefined,
  port: Number(process.env.PORT ?? 8080),
  adminToken: process.env.OMEGA_ADMIN_TOKEN || undefined,
};

export function newAdminToken(): string {
  return `oma_${randomBytes(24).toString("base64url")}`;
}
