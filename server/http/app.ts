/**
 * createApp: the Hono app over any FaceApi (LocalFaceService in-process, FaceClient over NATS).
 * Runtime-agnostic: no Bun APIs here; server/http/serve.ts is the Bun adapter.
 *
 * Per request: request id → CORS → Host and Origin checks (open mode) → (route) requireScope:
 * failed-key back-off, key, rate limit, scope on the company → body budget → body (limit,
 * encoding) → zod → threshold floor → the FaceApi call under a deadline → snake_case JSON. Every
 * failure becomes `{ "error": { "code", "message" } }` with the status of its code; stacks go to
 * the log only. Each middleware is its own file under server/middleware/.
 */
import { enrollBatchRoutes } from "./enroll-batch.ts";
import { Hono, type Context } from "hono";
import { cors } from "hono/cors";
import {
  FaceError,
  HTTP_STATUS,
  IdSchema,
  type CallOptions,
  type FaceApi,
} from "../../lib/core/mod.ts";
import { ApiKeys, checkThreshold, PUBLIC_PRINCIPAL, type Principal } from "./auth.ts";
import type { AppEnv } from "./env.ts";
import { AuthThrottle } from "./auth-throttle.ts";
import { parseBody } from "./body.ts";
import { DEFAULT_SERVER_CONFIG, type ServerConfig } from "../config/server.ts";
import { Desk } from "../desk/desk.ts";
import { RateLimiter, withDeadline, type Release } from "../desk/limits.ts";
import { silentLogger, type Logger } from "../observe/logger.ts";
import { ServerMetrics, type MetricFamily } from "../observe/metrics.ts";
import { buildOpenApi, DOCS_HTML } from "./openapi.ts";
import { buildRoutes, type AnyRoute, type Reply, type RouteContext } from "./routes.ts";
import { describeIssues, toWire } from "./wire.ts";
import { BodyBudget, bodyBudget } from "./middleware/body-budget.ts";
import { hostCheck } from "./middleware/host.ts";
import { originCheck } from "./middleware/origin.ts";
import { scopeMiddleware, type RequireScope } from "./middleware/scope.ts";
import { requestLog } from "./middleware/request-log.ts";
import { idempotencyKey } from "./middleware/idempotency-key.ts";
import { admissionFamilies, galleryGauges, securityFamilies } from "./app-metrics.ts";
import { integrationRoutes, type IntegrationSource } from "./integration-routes.ts";
import { COMPAT_PREFIX, compatError, compatRoutes } from "./compat/routes.ts";

export type { AppEnv } from "./env.ts";
export type FacegateApp = Hono<AppEnv>;

/** What a plugin (e.g. the kiosk WebSocket) gets besides the app. */
export interface PluginContext {
  api: FaceApi;
  /** The application layer: the kiosk's FaceApi (`desk.kiosk`) and the one admission limiter. */
  desk: Desk;
  config: ServerConfig;
  keys: ApiKeys;
  logger: Logger;
  /** Counters and histograms, and `addSource(() => families)` for a plugin's own /metrics lines. */
  metrics: ServerMetrics;
  /** Route middleware: `app.get(path, ctx.requireScope("manage"), handler)` (server/middleware/scope.ts). */
  requireScope: RequireScope;
  /** Failed-key back-off per client address, shared with the kiosk WebSocket. */
  authThrottle: AuthThrottle;
  /** The client's address (runtime-specific; undefined when unknown). */
  clientIp: (c: Context) => string | undefined;
}
export type Plugin = (app: FacegateApp, ctx: PluginContext) => void;

export interface CreateAppOptions {
  api: FaceApi;
  /** The desk over `api` (server/desk); default: built here from `config` and `metrics`. */
  desk?: Desk;
  config?: Partial<ServerConfig>;
  /** Default: ApiKeys.fromConfig(config). */
  keys?: ApiKeys;
  logger?: Logger;
  metrics?: ServerMetrics;
  /** Mounted after the core middleware and before the v1 routes. */
  plugins?: Plugin[];
  /** The client address for per-IP rate limiting in open mode (runtime-specific; see serve.ts). */
  clientIp?: (c: Context<AppEnv>) => string | undefined;
  /** False while starting or draining: /v1/health answers 503. Default: always ready. */
  isReady?: () => boolean;
  version?: string;
  /** Event log, webhooks (server/events): the object, or a getter while it is being built. */
  integration?: IntegrationSource;
}

export function createApp(options: CreateAppOptions): FacegateApp {
  const config: ServerConfig = { ...DEFAULT_SERVER_CONFIG, ...options.config };
  const keys = options.keys ?? ApiKeys.fromConfig(config);
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? new ServerMetrics();
  const desk =
    options.desk ??
    new Desk({
      api: options.api,
      metrics,
      limits: { maxInflight: config.maxInflight, maxQueue: config.maxQueue, kioskShare: config.kioskShare, requestTimeoutMs: config.requestTimeoutMs },
    });
  const api = desk.http;
  const limiter = new RateLimiter(config.rateLimitPerMinute, config.rateLimitBurst);
  const authThrottle = new AuthThrottle({ limit: config.authFailLimit });
  const budget = new BodyBudget(config.bodyBudgetBytes, config.maxBodyBytes);
  const clientIp = (c: Context<AppEnv>): string | undefined => options.clientIp?.(c);
  const requireScope = scopeMiddleware({ keys, limiter, throttle: authThrottle, clientIp, onRateLimited: () => metrics.rateLimited.inc() });
  metrics.addSource(() => securityFamilies(authThrottle, budget.snapshot()));
  const admission = desk.admission;
  metrics.addSource(() => admissionFamilies(admission.snapshot()));
  const isReady = options.isReady ?? (() => true);
  const routes = [...buildRoutes(config), ...enrollBatchRoutes(), ...integrationRoutes(options.integration), ...compatRoutes()];
  const integration = () => (typeof options.integration === "function" ? options.integration() : options.integration);
  metrics.addSource(() => integration()?.metrics() ?? []);
  let openapi: Record<string, unknown> | undefined;

  const app = new Hono<AppEnv>();

  app.use("*", requestLog({ logger, metrics }));

  if (config.corsOrigins.length > 0) {
    app.use(
      "*",
      cors({
        origin: config.corsOrigins.includes("*") ? "*" : config.corsOrigins,
        allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        allowHeaders: ["Content-Type", "X-API-Key", "Authorization", "X-Request-Id", "X-Min-Revision", "Last-Event-ID", "Idempotency-Key"],
        exposeHeaders: ["X-Request-Id", "Retry-After", "X-RateLimit-Remaining", "X-Next-Cursor", "Idempotency-Key"],
        maxAge: 600,
      }),
    );
  }

  // DNS rebinding and cross-site forms: the risks of a server that asks for no key.
  if (keys.open || config.allowedHosts.length > 0) app.use("*", hostCheck({ allowedHosts: config.allowedHosts, open: keys.open }));
  if (keys.open) app.use("*", originCheck({ corsOrigins: config.corsOrigins }));

  for (const plugin of options.plugins ?? []) plugin(app, { api, desk, config, keys, logger, metrics, requireScope, authThrottle, clientIp });

  /** Names the route for logs and metrics before anything can refuse the request. */
  const named = (route: string) => async (c: Context<AppEnv>, next: () => Promise<void>) => {
    c.set("route", route);
    await next();
  };
  for (const r of routes) {
    const method = r.method.toLowerCase() as "get" | "post" | "put" | "patch" | "delete";
    const name = named(r.path);
    if (r.body) app[method](r.path, name, requireScope(r.scope, { companyInBody: r.company !== undefined }), bodyBudget(budget), (c) => handle(c, r));
    else app[method](r.path, name, requireScope(r.scope, { keyInQuery: r.keyInQuery }), (c) => handle(c, r));
  }

  app.get("/metrics", named("/metrics"), requireScope("metrics"), async (c) => {
    let gauges: MetricFamily[] = [];
    try {
      gauges = galleryGauges(await withDeadline(options.api.getCacheStats(), 5_000, "stats"));
    } catch (error) {
      logger.warn("metrics: gallery stats unavailable", { error });
    }
    return c.text(metrics.render(gauges), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  app.get("/openapi.json", (c) => {
    c.set("route", "/openapi.json");
    openapi ??= buildOpenApi(routes, { version: options.version ?? "0.1.0", open: keys.open });
    return c.json(openapi);
  });
  app.get("/docs", (c) => {
    c.set("route", "/docs");
    return c.html(DOCS_HTML);
  });
  app.get("/", (c) => {
    c.set("route", "/");
    return c.json({ name: "facegate", docs: "/docs", openapi: "/openapi.json", health: "/v1/health" });
  });

  app.notFound((c) => {
    c.set("route", "unmatched");
    // A path that exists with other methods (a GET on a POST route) is 405 with Allow, not 404.
    const allow = allowedMethods(app, c.req.path);
    if (allow.length > 0) {
      metrics.errors.inc({ code: "METHOD_NOT_ALLOWED" });
      c.header("Allow", allow.join(", "));
      const message = `${c.req.method} is not allowed on ${truncate(c.req.path, 200)}; it takes ${allow.join(", ")}`;
      return errorResponse(c, new FaceError("METHOD_NOT_ALLOWED", message));
    }
    metrics.errors.inc({ code: "NOT_FOUND" });
    return errorResponse(c, new FaceError("NOT_FOUND", `no route ${c.req.method} ${truncate(c.req.path, 200)}`));
  });

  app.onError((error, c) => {
    const e = toFaceError(error);
    if (e.code === "INTERNAL") logger.error("unhandled error", { id: c.get("requestId"), route: c.get("route"), error });
    else if (e.code === "TIMEOUT" || e.code === "UNAVAILABLE") logger.warn(e.message, { id: c.get("requestId"), code: e.code, cause: e.cause });
    metrics.errors.inc({ code: e.code });
    // Overload refusals (admission limiter) say when to come back.
    const retryAfter = (e.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
    if (typeof retryAfter === "number") c.header("Retry-After", String(retryAfter));
    // the embed/compare service's routes keep its flat error body
    if (c.get("route")?.startsWith(COMPAT_PREFIX)) return c.json(compatError(e), HTTP_STATUS[e.code] as 400);
    return errorResponse(c, e);
  });

  async function handle(c: Context<AppEnv>, r: AnyRoute): Promise<Response> {
    const principal = c.get("principal") ?? PUBLIC_PRINCIPAL;

    const params: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.req.param() as Record<string, string>)) {
      const parsed = IdSchema.safeParse(value);
      if (!parsed.success) throw new FaceError("INVALID_ARGUMENT", `${name}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
      params[name] = parsed.data;
    }
    const opts: CallOptions = {};
    // Writes: the client's Idempotency-Key (checked) or a new one, echoed in the answer.
    if (r.method !== "GET") opts.idempotencyKey = idempotencyKey(c);
    const minRevision = c.req.header("x-min-revision");
    if (minRevision !== undefined) {
      if (!/^\d{1,15}$/.test(minRevision)) throw new FaceError("INVALID_ARGUMENT", "X-Min-Revision must be a non-negative integer");
      opts.minRevision = Number(minRevision);
    }

    // Overloaded: refuse before reading the body (cheap); checked again for a slot after reading it.
    if (r.engine && admission.full) throw admission.refusal();

    const expired = new AbortController();
    let notStarted: FaceError | undefined;
    const work = (async () => {
      let body: unknown = undefined;
      if (r.body) {
        const parsed = await parseBody(c.req.raw, r.body, config.maxBodyBytes, c.req.query());
        const checked = r.body.schema.safeParse(parsed.value);
        if (!checked.success) throw new FaceError("INVALID_ARGUMENT", describeIssues(checked.error), { details: checked.error.issues });
        body = checked.data;
      }
      const company = r.company ? r.company(params, body) : params.company;
      if (r.company && r.scope !== "public" && r.scope !== "any") keys.authorize(principal, r.scope, company);
      for (const threshold of thresholdsIn(body)) checkThreshold(principal, company, threshold, config.thresholdFloor);
      const record = integration() ? (e: Parameters<NonNullable<RouteContext<unknown>["record"]>>[0]) => integration()!.recorder.record(e) : undefined;
      const ctx = { api, body, params, query: c.req.query(), opts, principal, config, ready: isReady, req: c.req.raw, record };
      if (!r.engine) return r.run(ctx);
      // The slot is taken after the body is read (a slow upload holds no engine slot) and kept
      // until the engine work ends, even past the deadline: the inference still runs.
      let release: Release;
      try {
        release = await admission.acquire(AbortSignal.any([expired.signal, c.req.raw.signal]));
      } catch (error) {
        notStarted = FaceError.from(error);
        throw notStarted;
      }
      try {
        return await r.run(ctx);
      } finally {
        release();
      }
    })();
    let reply: Reply;
    try {
      reply = r.noDeadline ? await work : await withDeadline(work, config.requestTimeoutMs, `${r.method} ${r.path}`, (e) => expired.abort(e));
    } catch (error) {
      // A request that expired in the queue says so (nothing ran), rather than a plain TIMEOUT.
      throw notStarted ?? error;
    }
    if (reply.response) {
      // an endless stream must not be cut by Bun's idle timeout (c.env is the Bun server there)
      if (reply.stream) (c.env as { timeout?: (req: Request, seconds: number) => void } | undefined)?.timeout?.(c.req.raw, 0);
      return reply.response;
    }
    return c.json(reply.body as object, (reply.status ?? r.ok.status) as 200);
  }

  return app;
}

/** Every `threshold` a body asks for: at the top level and in arrays of objects (verify/batch pairs). */
export function thresholdsIn(body: unknown): number[] {
  if (typeof body !== "object" || body === null) return [];
  const out: number[] = [];
  for (const [name, value] of Object.entries(body)) {
    if (name === "threshold" && typeof value === "number") out.push(value);
    else if (Array.isArray(value)) {
      for (const item of value) {
        const t = (item as { threshold?: unknown } | null)?.threshold;
        if (typeof t === "number") out.push(t);
      }
    }
  }
  return out;
}

function errorResponse(c: Context<AppEnv>, e: FaceError): Response {
  return c.json(toWire.error(e), HTTP_STATUS[e.code] as 400);
}

/** Hono's own exceptions (e.g. from plugins' middleware) keep their status where a code matches. */
function toFaceError(error: unknown): FaceError {
  if (error instanceof FaceError) return error;
  const status = (error as { status?: unknown })?.status;
  if (typeof status === "number" && error instanceof Error) {
    const code = (Object.keys(HTTP_STATUS) as Array<keyof typeof HTTP_STATUS>).find((k) => HTTP_STATUS[k] === status);
    if (code && code !== "INTERNAL") return new FaceError(code, error.message || code, { cause: error });
  }
  return FaceError.from(error);
}

/** The methods registered for routes whose pattern matches `path` (middleware, "ALL", excluded). */
export function allowedMethods(app: FacegateApp, path: string): string[] {
  const methods = new Set<string>();
  for (const r of app.routes) {
    if (r.method === "ALL" || r.path.includes("*")) continue;
    const pattern = r.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z_][A-Za-z0-9_]*/g, "[^/]+");
    if (new RegExp(`^${pattern}/?$`).test(path)) methods.add(r.method);
  }
  if (methods.has("GET")) methods.add("HEAD");
  return [...methods].sort();
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
