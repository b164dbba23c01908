import { createHash, randomBytes } from "node:crypto";

/**
 * Bearer tokens: 256 random bits with a prefix that says what they are (`oma_` admin, `omt_`
 * tenant, `omm_` a cell's machine agents). Only a token's sha256 is stored; a random token that
 * long needs no slow hash.
 */
export const TENANT_TOKEN_PREFIX = "omt_";
export const AGENT_TOKEN_PREFIX = "omm_";

export function sha256(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function newToken(prefix: string): { token: string; hash: Buffer } {
  const token = `${prefix}${randomBytes(32).toString("base64url")}`;
  return { token, hash: sha256(token) };
}

/** A new tenant token and the hash to store. */
export function newTenantToken(): { token: string; hash: Buffer } {
  return newToken(TENANT_TOKEN_PREFIX);
}

/** A new agent token (one per cell) and the hash to store. */
export function newAgentToken(): { token: string; hash: Buffer } {
  return newToken(AGENT_TOKEN_PREFIX);
}

export function newAdminToken(): string {
  return `oma_${randomBytes(32).toString("base64url")}`;
}
