/**
 * Bearer tokens. The admin token comes from configuration; a tenant's token and a cell's agent
 * token are random, shown once when they are made, and stored only as their sha256 (a leaked table
 * does not leak tokens, and a token of 256 random bits needs no slow hash). All are compared by
 * digest, in constant time for the admin token and through a unique index for the others.
 */
import { timingSafeEqual } from "node:crypto";
import type { Request, RequestHandler, Response } from "express";
import type { Pool } from "../db/pool.ts";
import { agentTokenGetCell } from "../db/queries/agent-token-get-cell.ts";
import { tenantGetByToken } from "../db/queries/tenant-get-by-token.ts";
import { AGENT_TOKEN_PREFIX, sha256, TENANT_TOKEN_PREFIX } from "../domain/tokens.ts";
import { PrincipalCache } from "./principal-cache.ts";
import { HttpProblem } from "./problem.ts";

export type Principal =
  | { kind: "admin" }
  | { kind: "tenant"; id: number; name: string; jobsPerMinute: number }
  | { kind: "agent"; cell: string };

// Visible ASCII, bounded (a superset of RFC 6750's b64token, so that a configured admin token with,
// say, a "!" in it still works).
const TOKEN = /^[\x21-\x7e]{1,4096}$/;
const BEARER = /^Bearer +([\x21-\x7e]{1,4096}) *$/i;

function unauthorized(detail: string, error?: "invalid_request" | "invalid_token"): HttpProblem {
  const challenge = error ? `Bearer realm="omega", error="${error}"` : 'Bearer realm="omega"';
  return new HttpProblem(401, detail, { headers: { "WWW-Authenticate": challenge } });
}

/** Who made the request; set by the auth middleware of every /v1 route. */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new Error("route has no auth middleware");
  return principal;
}

/** The tenant a tenant token stands for, or undefined for the admin (who sees every tenant). */
export function tenantScope(res: Response): { id: number; name: string; jobsPerMinute: number } | undefined {
  const principal = principalOf(res);
  return principal.kind === "tenant" ? principal : undefined;
}

export interface Auth {
  /** Admin or any tenant. */
  any: RequestHandler;
  admin: RequestHandler;
  /** Tenants only: what a tenant owns cannot be made by the admin in its name. */
  tenant: RequestHandler;
  /** The admin, or the agent token of the cell named by the route's `:cell`. */
  agent: RequestHandler;
  /** Forgets the tokens checked lately: call after rotating a token or changing a tenant's limits. */
  forget(): void;
}

/**
 * `principals`: the tokens checked lately, shared by the APIs of one process under `omega serve`
 * over partitions, where a tenant is the same in every partition. (Default: this API's own.)
 */
export function createAuth(
  pool: Pool,
  adminToken: string,
  principals = new PrincipalCache<Principal>(),
): Auth {
  if (!TOKEN.test(adminToken)) {
    throw new Error("the admin token must be 1-4096 visible ASCII characters (no spaces)");
  }
  const adminDigest = sha256(adminToken);

  async function identify(header: string | undefined): Promise<Principal> {
    if (!header) throw unauthorized("this endpoint needs a bearer token (Authorization: Bearer <token>)");
    const token = BEARER.exec(header)?.[1];
    if (!token) throw unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_request");
    const digest = sha256(token);
    if (timingSafeEqual(digest, adminDigest)) return { kind: "admin" };
    const known = principals.get(digest);
    if (known) return known;
    const generation = principals.generation;
    const principal = await lookUp(token, digest);
    principals.set(digest, principal, generation);
    return principal;
  }

  async function lookUp(token: string, digest: Buffer): Promise<Principal> {
    if (token.startsWith(AGENT_TOKEN_PREFIX)) {
      const cell = await agentTokenGetCell(pool, digest);
      if (cell !== undefined) return { kind: "agent", cell };
    }
    const tenant = token.startsWith(TENANT_TOKEN_PREFIX) ? await tenantGetByToken(pool, digest) : undefined;
    if (!tenant) throw unauthorized("the token is not valid", "invalid_token");
    return { kind: "tenant", id: tenant.id, name: tenant.name, jobsPerMinute: tenant.jobsPerMinute };
  }

  function requiring(allowed: (p: Principal, req: Request) => string | undefined): RequestHandler {
    return async (req, res, next) => {
      const principal = await identify(req.get("authorization"));
      const refusal = allowed(principal, req);
      if (refusal) throw new HttpProblem(403, refusal);
      res.locals.principal = principal;
      next();
    };
  }

  return {
    // An agent token is for its machines' endpoints only: it must not read like an admin elsewhere.
    any: requiring((p) =>
      p.kind === "agent" ? "an agent token may only use its cell's machine agent endpoints" : undefined,
    ),
    admin: requiring((p) => (p.kind === "admin" ? undefined : "this endpoint needs the admin token")),
    tenant: requiring((p) =>
      p.kind === "tenant"
        ? undefined
        : "jobs belong to tenants: submit with the tenant's token, not the admin token",
    ),
    agent: requiring((p, req) => {
      if (p.kind === "admin" || (p.kind === "agent" && p.cell === req.params.cell)) return undefined;
      return p.kind === "agent"
        ? `this agent token is for cell "${p.cell}"`
        : "this endpoint needs the cell's agent token (or the admin token)";
    }),
    forget: () => principals.clear(),
  };
}
