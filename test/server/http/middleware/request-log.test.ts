import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import type { AppEnv } from "../../../../server/http/env.ts";
import { createLogger } from "../../../../server/observe/logger.ts";
import { ServerMetrics } from "../../../../server/observe/metrics.ts";
import { requestLog } from "../../../../server/http/middleware/request-log.ts";

function app() {
  const lines: Array<Record<string, unknown>> = [];
  const metrics = new ServerMetrics();
  const a = new Hono<AppEnv>();
  a.use("*", requestLog({ logger: createLogger("debug", (l) => lines.push(JSON.parse(l))), metrics }));
  a.get("/items/:id", (c) => c.json({ id: c.req.param("id") }));
  a.get("/boom", (c) => c.json({ error: "x" }, 503));
  return { a, lines, metrics };
}

describe("requestLog middleware", () => {
  test("keeps a sane X-Request-Id, replaces anything else, and marks every answer nosniff", async () => {
    const { a } = app();
    const kept = await a.request("/items/7", { headers: { "X-Request-Id": "abc-123" } });
    expect(kept.headers.get("X-Request-Id")).toBe("abc-123");
    expect(kept.headers.get("X-Content-Type-Options")).toBe("nosniff");
    const replaced = await a.request("/items/7", { headers: { "X-Request-Id": "bad id with spaces; <script>" } });
    expect(replaced.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
    const missing = await a.request("/nowhere");
    expect(missing.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("one log line per request with the route pattern (never the raw path), warn for 5xx; counted in the metrics", async () => {
    const { a, lines, metrics } = app();
    await a.request("/items/42");
    await a.request("/boom");
    await a.request("/nowhere/at/all");
    expect(lines.map((l) => [l.level, l.route, l.status])).toEqual([
      ["info", "/items/:id", 200],
      ["warn", "/boom", 503],
      ["info", "unmatched", 404],
    ]);
    expect(lines[0]!.path).toBe("/items/42");
    expect(metrics.render()).toContain('route="/items/:id"');
    expect(metrics.inFlight).toBe(0);
  });
});
