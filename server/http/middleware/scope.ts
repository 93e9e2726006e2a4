/**
 * `requireScope(scope)`: the one line a route adds to say what it needs. It authenticates the
 * X-API-Key or `Authorization: Bearer <key>` (what Prometheus and most HTTP tools send; wrong keys
 * count toward the per-address back-off), applies the per-key rate limit
 * and checks the scope on the route's `:company` (without one: on every company), all before the
 * body is read. The principal is left in `c.get("principal")`.
 *
 *   app.get("/v1/companies/:company/events", requireScope("manage"), (c) => ...)
 *   app.get("/v1/companies", requireScope("admin"), ...)          // admin on "*"
 *   app.post("/v1/companies", requireScope("manage", { companyInBody: true }), ...) // the handler checks the body's company
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { FaceError } from "../../../lib/core/mod.ts";
import { canSomewhere, type ApiKeys, type Principal, type Scope } from "../auth.ts";
import { authenticateWithBackoff, type AuthThrottle } from "../auth-throttle.ts";
import type { RateLimiter } from "../../desk/limits.ts";

export interface ScopeOptions {
  /** The company comes from the body (checked by the handler with `keys.authorize` once parsed). */
  companyInBody?: boolean;
  /** The key may also come as ?key= (server-sent events: EventSource cannot set headers). */
  keyInQuery?: boolean;
}

export type RequireScope = (scope: Scope, options?: ScopeOptions) => MiddlewareHandler<AppEnv>;

export interface ScopeDeps {
  keys: ApiKeys;
  limiter: RateLimiter;
  throttle: AuthThrottle;
  /** The client's address (rate limits in open mode, failed-key back-off). */
  clientIp: (c: Context<AppEnv>) => string | undefined;
  onRateLimited?: () => void;
}

export function scopeMiddleware(deps: ScopeDeps): RequireScope {
  const { keys, limiter, throttle } = deps;
  return (scope, options = {}) =>
    async function requireScope(c, next) {
      const address = deps.clientIp(c) ?? "unknown";
      if (scope === "public") {
        // Public routes answer everyone; a valid key (or open mode) may see more (health details).
        // A wrong key here still counts toward the back-off: the answer would tell a guesser it is admin.
        const key = requestKey(c);
        if (keys.open) c.set("principal", keys.authenticate(undefined));
        else if (key) {
          try {
            c.set("principal", authenticateWithBackoff(keys, throttle, address, key));
          } catch {
            // a public route answers anyway, as to a caller without a key
          }
        }
        return next();
      }
      let principal: Principal;
      if (keys.open) principal = keys.authenticate(undefined);
      else {
        const key = requestKey(c) ?? (options.keyInQuery ? c.req.query("key") : undefined);
        principal = authenticateWithBackoff(keys, throttle, address, key);
      }
      c.set("principal", principal);
      const client = keys.open ? `ip:${address}` : principal.id;
      c.set("client", client);

      const decision = limiter.take(client);
      if (!decision.ok) {
        deps.onRateLimited?.();
        throw new FaceError("RATE_LIMITED", `rate limit of ${limiter.perMinute} requests per minute exceeded; retry in ${decision.retryAfterSeconds} s`, {
          details: { retryAfterSeconds: decision.retryAfterSeconds },
        });
      }
      if (Number.isFinite(decision.remaining)) c.header("X-RateLimit-Remaining", String(decision.remaining));

      if (scope === "any") keys.authorizeAny(principal);
      else if (scope === "metrics") keys.authorize(principal, "metrics");
      else {
        if (!options.companyInBody) keys.authorize(principal, scope, c.req.param("company"));
        // The body names the company: a key without the scope on any company is refused before reading it.
        else if (!canSomewhere(principal, scope)) throw new FaceError("FORBIDDEN", `this API key has no ${scope} scope on any company`);
      }
      return next();
    };
}

/** The key: `X-API-Key`, else `Authorization: Bearer <key>` (X-API-Key wins when both are sent). */
export function requestKey(c: Context<AppEnv>): string | undefined {
  const header = c.req.header("x-api-key");
  if (header !== undefined) return header;
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("authorization") ?? "");
  return bearer?.[1];
}
