/**
 * API keys scoped to companies. Independent of Hono so the kiosk WebSocket (key as a query
 * parameter) and any other transport use the same rules.
 *
 * Scopes (docs/server.md):
 * - admin (`["*"]`): everything.
 * - company key (`["acme", ...]`): its companies' routes (create/delete of those companies
 *   included), and the stateless routes (detect, embed, compare, verify). Not stats or metrics,
 *   which show every company.
 * - open mode (no keys, AUTH_MODE=open): every caller is admin.
 */
import { FaceError } from "../lib/core/mod.ts";
import type { ApiKeysMap, ServerConfig } from "./config.ts";

export interface Principal {
  /** Stable, non-secret label for logs and rate limiting ("open" or "key:<hash>"). */
  readonly id: string;
  readonly admin: boolean;
  /** Companies this key may touch (empty for admin: it reaches all). */
  readonly companies: ReadonlySet<string>;
}

export const OPEN_PRINCIPAL: Principal = Object.freeze({ id: "open", admin: true, companies: new Set<string>() });

export class ApiKeys {
  readonly open: boolean;
  private readonly principals: Map<string, Principal>;

  constructor(keys: ApiKeysMap, open = Object.keys(keys).length === 0) {
    this.open = open;
    this.principals = new Map();
    for (const [key, scopes] of Object.entries(keys)) {
      const admin = scopes.includes("*");
      this.principals.set(key, {
        id: `key:${fingerprint(key)}`,
        admin,
        companies: new Set(admin ? [] : scopes),
      });
    }
  }

  static fromConfig(config: Pick<ServerConfig, "authMode" | "apiKeys">): ApiKeys {
    return new ApiKeys(config.apiKeys, config.authMode === "open");
  }

  get size(): number {
    return this.principals.size;
  }

  /** Throws UNAUTHORIZED for a missing or unknown key (in open mode every caller is admin). */
  authenticate(key: string | undefined | null): Principal {
    if (this.open) return OPEN_PRINCIPAL;
    if (key === undefined || key === null || key === "") {
      throw new FaceError("UNAUTHORIZED", "missing API key: send it in the X-API-Key header");
    }
    const principal = this.principals.get(key);
    if (!principal) throw new FaceError("UNAUTHORIZED", "invalid API key");
    return principal;
  }

  /** Company routes: the key must be admin or scoped to the company. Without a company: admin only. */
  authorize(principal: Principal, companyId?: string): void {
    if (principal.admin) return;
    if (companyId === undefined) throw new FaceError("FORBIDDEN", "this route needs an admin key");
    if (!principal.companies.has(companyId)) {
      throw new FaceError("FORBIDDEN", `this API key has no access to company ${JSON.stringify(companyId)}`);
    }
  }

  /** Both steps; what a transport calls per request. */
  check(key: string | undefined | null, scope: Scope, companyId?: string): Principal {
    const principal = this.authenticate(key);
    if (scope === "admin") this.authorize(principal);
    else if (scope === "company") this.authorize(principal, companyId);
    return principal;
  }
}

/** What a route needs: none (public), any valid key, a key for the route's company, or admin. */
export type Scope = "public" | "any" | "company" | "admin";

/** FNV-1a of the key: a short label that identifies a key in logs without revealing it. */
function fingerprint(key: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
