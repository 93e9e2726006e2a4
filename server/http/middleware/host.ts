/**
 * Host allow-list against DNS rebinding: a page on evil.example whose name is made to resolve to
 * 127.0.0.1 is "same-origin" with the local server in the browser's eyes, so an Origin check
 * alone lets it through; its requests still carry `Host: evil.example`. In open mode (no keys)
 * only localhost names and IP literals are accepted (rebinding needs a DNS name), plus
 * ALLOWED_HOSTS; with keys the check applies only when ALLOWED_HOSTS is set. 403 FORBIDDEN otherwise.
 */
import type { MiddlewareHandler } from "hono";
import { FaceError } from "../../../lib/core/mod.ts";
import type { AppEnv } from "../env.ts";

/** `name[:port]` → [name, port]; IPv6 literals keep their brackets. */
function splitHost(host: string): [string, string | undefined] {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host.trim().toLowerCase());
  return m ? [m[1]!, m[2]] : [host.toLowerCase(), undefined];
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const isIpLiteral = (name: string): boolean => IPV4.test(name) || /^\[[0-9a-f:.]+\]$/.test(name);
const isLocalName = (name: string): boolean => name === "localhost" || name.endsWith(".localhost");

/** True when `host` (a Host header) matches the list: `name`, `name:port`, `*.domain`. */
export function hostAllowed(host: string, list: readonly string[], open: boolean): boolean {
  const [name, port] = splitHost(host);
  for (const entry of list) {
    const [eName, ePort] = splitHost(entry);
    if (ePort !== undefined && ePort !== port) continue;
    if (eName === name) return true;
    if (eName.startsWith("*.") && name.endsWith(eName.slice(1))) return true;
  }
  return open && (isLocalName(name) || isIpLiteral(name));
}

export function hostCheck(options: { allowedHosts: readonly string[]; open: boolean }): MiddlewareHandler<AppEnv> {
  return async function hostCheck(c, next) {
    const host = c.req.header("host");
    // No Host header: not a browser (browsers always send one), nothing to rebind.
    if (host !== undefined && !hostAllowed(host, options.allowedHosts, options.open)) {
      throw new FaceError(
        "FORBIDDEN",
        `Host ${JSON.stringify(host.slice(0, 100))} is not allowed (DNS rebinding protection); add it to ALLOWED_HOSTS`,
      );
    }
    await next();
  };
}
