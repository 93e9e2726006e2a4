/**
 * Cross-site request forgery in open mode: with no keys, a web page the kiosk's browser visits
 * could POST a form to http://127.0.0.1:8080 and enroll or delete people. Hono's `csrf` refuses
 * unsafe requests whose Content-Type a form can send (form-urlencoded, multipart, text/plain, or
 * none) unless Origin or Sec-Fetch-Site says same origin; on top of it any unsafe request (or
 * WebSocket upgrade) whose Origin is another origin is refused, whatever its type (JSON and raw
 * images would need a preflight in a browser, but need not rely on it). Origins in CORS_ORIGINS
 * are allowed. Requests with neither header are not from a browser
 * (curl, backends, the CLI) and pass. The kiosk WebSocket upgrade is checked too: browsers do not
 * apply the same-origin policy to WebSockets.
 */
import type { Context, MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { FaceError } from "../../../lib/core/mod.ts";
import type { AppEnv } from "../env.ts";

export function originCheck(options: { corsOrigins: readonly string[] }): MiddlewareHandler<AppEnv> {
  const allowed = (origin: string, c: Context): boolean =>
    origin === new URL(c.req.url).origin || options.corsOrigins.includes(origin) || options.corsOrigins.includes("*");
  const forms = csrf({ origin: allowed });
  return async function originCheck(c, next) {
    const origin = c.req.header("origin");
    if (origin === undefined && c.req.header("sec-fetch-site") === undefined) return next();
    // Unsafe methods of any content type (JSON, raw images too) and WebSocket upgrades from another origin.
    const unsafe = !/^(GET|HEAD|OPTIONS)$/.test(c.req.method) || c.req.header("upgrade")?.toLowerCase() === "websocket";
    if (unsafe && origin !== undefined && !allowed(origin, c)) throw refused(origin);
    try {
      await forms(c, next);
    } catch (error) {
      if (error instanceof HTTPException && error.status === 403) throw refused(origin);
      throw error;
    }
  };
}

function refused(origin: string | undefined): FaceError {
  return new FaceError(
    "FORBIDDEN",
    `cross-origin request refused (Origin ${JSON.stringify((origin ?? "none").slice(0, 100))}); open mode accepts same-origin and non-browser requests, or origins in CORS_ORIGINS`,
  );
}
