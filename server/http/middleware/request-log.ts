/**
 * Per request (plugins included): the request id (the client's X-Request-Id when it is a sane token,
 * else a new UUID), timing, one log line (warn for 5xx) and the request metrics. Sets X-Request-Id
 * and X-Content-Type-Options on every answer.
 */
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../env.ts";
import type { Logger } from "../../observe/logger.ts";
import type { ServerMetrics } from "../../observe/metrics.ts";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Route label for requests answered by plugin routes (the matched pattern, never the raw path). */
function pluginRoute(c: Context<AppEnv>): string {
  try {
    const path = routePath(c, -1);
    return path && path !== "/*" && path !== "*" ? path : "unmatched";
  } catch {
    return "unmatched";
  }
}

export function requestLog(opts: { logger: Logger; metrics: ServerMetrics }): MiddlewareHandler<AppEnv> {
  const { logger, metrics } = opts;
  return async (c, next) => {
    const started = performance.now();
    const given = c.req.header("x-request-id");
    const id = given && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.set("requestId", id);
    metrics.inFlight++;
    try {
      await next();
    } finally {
      metrics.inFlight--;
    }
    c.header("X-Request-Id", id);
    c.header("X-Content-Type-Options", "nosniff");
    const ms = performance.now() - started;
    const route = c.get("route") ?? pluginRoute(c);
    const status = c.res.status;
    metrics.request(c.req.method, route, status, ms / 1000);
    const fields = {
      id,
      method: c.req.method,
      route,
      path: c.req.path.length > 200 ? `${c.req.path.slice(0, 200)}…` : c.req.path,
      status,
      ms: Math.round(ms * 10) / 10,
      key: c.get("principal")?.id,
    };
    if (status >= 500) logger.warn("request", fields);
    else logger.info("request", fields);
  };
}
