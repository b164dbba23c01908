import { createHash, randomBytes } from "node:crypto";

/**
 * Bearer tokens: 256 random bits with a prefix that says what they are (`oma_` admin, `omt_`
 * tenant). Only a token's sha256 is stored; a random token that long needs no slow hash.
 */
export const TENANT_TOKEN_PREFIX = "omt_";

export function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

/** A new tenant token and the hash to store. */
export function newTenantToken(): { token: string; hash: Buffer } {
  const token = `${TENANT_TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  return { token, hash: sha256(token) };
}

export function newAdminToken(): string {
  return `oma_${randomBytes(32).toString("base64url")}`;
}
