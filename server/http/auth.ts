/**
 * API keys with scopes by operation, per company. Independent of Hono so the kiosk WebSocket and
 * any other transport use the same rules (docs/server.md, "Auth").
 *
 * Scopes, each including the ones before it:
 * - `recognize`: recognition (HTTP recognize, search, the kiosk WebSocket): what a kiosk needs;
 * - `enroll`: + create users, add faces, list a user's faces;
 * - `manage`: + deletes, company create/delete, company settings (webhooks, operating point);
 * - `admin`: + thresholds below THRESHOLD_FLOOR; on `"*"` also the cross-company routes
 *   (stats, metrics, listing companies).
 * A grant names companies or `"*"` (every company). The original format still works: a list of
 * companies means every operation on them (`manage`), `["*"]` means admin everywhere.
 * Routes that touch no gallery (detect, embed, compare, verify) take any valid key.
 * Apart from the ranked scopes, `metrics` (on "*") reads /metrics only: a Prometheus scraper's key
 * (admin keys read it too).
 * Open mode (no keys, AUTH_MODE=open): every caller is admin.
 */
import { FaceError } from "../../lib/core/mod.ts";
import type { ApiKeysMap, ServerConfig } from "../config/server.ts";

export const KEY_SCOPES = ["recognize", "enroll", "manage", "admin"] as const;
/** What a key may do on a company. */
export type KeyScope = (typeof KEY_SCOPES)[number];
/**
 * What a route needs: nothing (public), any valid key, a key scope (on the route's company, or on "*"
 * without one), or `metrics` (/metrics: a metrics or admin key).
 */
export type Scope = "public" | "any" | "metrics" | KeyScope;

/** Every company. */
export const ALL_COMPANIES = "*";

export interface Principal {
  /** Stable, non-secret label for logs and rate limiting ("open" or "key:<hash>"). */
  readonly id: string;
  /** Admin on every company (stats, metrics, company lists, any threshold). */
  readonly admin: boolean;
  /** The highest scope per company ("*": every company). */
  readonly grants: ReadonlyMap<string, KeyScope>;
  /** May read /metrics (a `metrics` grant, or admin). */
  readonly metrics?: boolean;
}

export const OPEN_PRINCIPAL: Principal = Object.freeze({
  id: "open",
  admin: true,
  metrics: true,
  grants: new Map<string, KeyScope>([[ALL_COMPANIES, "admin"]]),
});

const rank = (scope: KeyScope): number => KEY_SCOPES.indexOf(scope);

/** The scope a principal holds on a company (a grant on "*" counts for every company); undefined: none. */
export function scopeOn(principal: Principal, companyId?: string): KeyScope | undefined {
  const all = principal.grants.get(ALL_COMPANIES);
  // ids are NFC wherever they are stored and compared (IdSchema), grants included
  const own = companyId === undefined ? undefined : principal.grants.get(companyId.normalize("NFC"));
  if (all === undefined) return own;
  if (own === undefined) return all;
  return rank(own) > rank(all) ? own : all;
}

/** True when the principal may do `scope` on `companyId` (without a company: on every company). */
export function can(principal: Principal, scope: KeyScope, companyId?: string): boolean {
  const held = scopeOn(principal, companyId);
  return held !== undefined && rank(held) >= rank(scope);
}

/** True when the principal holds `scope` on at least one company (a cheap check before a body names the company). */
export function canSomewhere(principal: Principal, scope: KeyScope): boolean {
  for (const held of principal.grants.values()) if (rank(held) >= rank(scope)) return true;
  return false;
}

export class ApiKeys {
  readonly open: boolean;
  private readonly principals: Map<string, Principal>;

  constructor(keys: ApiKeysMap, open = Object.keys(keys).length === 0) {
    this.open = open;
    this.principals = new Map();
    for (const [key, spec] of Object.entries(keys)) {
      const grants = grantsOf(spec);
      const admin = grants.get(ALL_COMPANIES) === "admin";
      this.principals.set(key, {
        id: `key:${fingerprint(key)}`,
        admin,
        grants,
        metrics: admin || (!Array.isArray(spec) && spec.scopes.includes("metrics")),
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

  /**
   * Throws FORBIDDEN unless the principal holds `scope` on `companyId`; without a company the
   * scope must be held on every company ("*"), which for "admin" is the cross-company routes.
   */
  authorize(principal: Principal, scope: KeyScope | "metrics", companyId?: string): void {
    if (scope === "metrics") {
      if (principal.metrics || principal.admin) return;
      throw new FaceError("FORBIDDEN", "/metrics needs a key with the metrics scope (or an admin key)");
    }
    if (can(principal, scope, companyId)) return;
    if (companyId === undefined) {
      throw new FaceError("FORBIDDEN", scope === "admin" ? "this route needs an admin key" : `this route needs the ${scope} scope on every company`);
    }
    const held = scopeOn(principal, companyId);
    throw new FaceError(
      "FORBIDDEN",
      held === undefined
        ? `this API key has no access to company ${JSON.stringify(companyId)}`
        : `this API key has the ${held} scope on company ${JSON.stringify(companyId)}; this needs ${scope}`,
    );
  }

  /**
   * "any": a valid key that reaches some company. A metrics-only key does not: a scraper's
   * credential must not run the engine (detect, embed, compare) either.
   */
  authorizeAny(principal: Principal): void {
    if (principal.admin || principal.grants.size > 0) return;
    throw new FaceError("FORBIDDEN", "this API key has only the metrics scope: it reads /metrics and nothing else");
  }

  /** Both steps; what a transport calls per request. "any" needs a valid key, "public" nothing. */
  check(key: string | undefined | null, scope: Scope, companyId?: string): Principal {
    if (scope === "public") return this.open ? OPEN_PRINCIPAL : PUBLIC_PRINCIPAL;
    const principal = this.authenticate(key);
    if (scope === "any") this.authorizeAny(principal);
    else this.authorize(principal, scope, companyId);
    return principal;
  }
}

/** The caller of a public route (no key looked at). */
export const PUBLIC_PRINCIPAL: Principal = Object.freeze({ id: "public", admin: false, grants: new Map<string, KeyScope>() });

/**
 * THRESHOLD_FLOOR: a key below admin on the company may not ask for a recognition threshold under
 * the floor (a key lifted from a kiosk must not turn recognition into "everyone is someone").
 */
export function checkThreshold(principal: Principal, companyId: string | undefined, threshold: number | null | undefined, floor: number): void {
  if (threshold === undefined || threshold === null || threshold >= floor) return;
  if (can(principal, "admin", companyId)) return;
  throw new FaceError("FORBIDDEN", `threshold ${threshold} is below the floor ${floor}; only an admin key may go lower`);
}

function grantsOf(spec: ApiKeysMap[string]): Map<string, KeyScope> {
  const grants = new Map<string, KeyScope>();
  const give = (company: string, scope: KeyScope): void => {
    const id = company.normalize("NFC");
    const had = grants.get(id);
    if (had === undefined || rank(scope) > rank(had)) grants.set(id, scope);
  };
  if (Array.isArray(spec)) {
    // The original format: ["*"] = admin everywhere; a list of companies = every operation on them.
    for (const company of spec) give(company, company === ALL_COMPANIES ? "admin" : "manage");
  } else {
    const ranked = spec.scopes.filter((scope): scope is KeyScope => scope !== "metrics");
    if (ranked.length === 0) return grants; // a metrics-only key reaches no company
    const top = ranked.reduce((a, b) => (rank(b) > rank(a) ? b : a));
    for (const company of spec.companies) give(company, top);
  }
  return grants;
}

/** FNV-1a of the key: a short label that identifies a key in logs without revealing it. */
function fingerprint(key: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}
