/**
 * /metrics as Prometheus scrapes it: `Authorization: Bearer <key>` with a metrics-scope key (or an
 * admin key), the process families under their conventional names, and the event-loop lag seen
 * when the loop is really held up.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ApiKeys } from "../../../server/http/auth.ts";
import { loadServerConfig } from "../../../server/config/server.ts";
import { startTestServer, type TestServer } from "../harness.ts";

const ADMIN = "admin-key-metrics-0001";
const SCRAPER = "prometheus-scraper-0001";
const KIOSK = "kiosk-key-metrics-0001";

let srv: TestServer;
beforeAll(async () => {
  const config = loadServerConfig({
    API_KEYS: JSON.stringify({
      [ADMIN]: ["*"],
      [SCRAPER]: { companies: ["*"], scopes: ["metrics"] },
      [KIOSK]: { companies: ["acme"], scopes: ["recognize"] },
    }),
  });
  srv = await startTestServer({ keys: ApiKeys.fromConfig(config), config: { authFailLimit: 0 } });
});
afterAll(async () => {
  await srv?.stop();
});

const scrape = (headers: Record<string, string>) => fetch(`${srv.url}/metrics`, { headers });

/** `name value` of a sample line without labels. */
function sample(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe("/metrics with Authorization: Bearer", () => {
  test("a metrics-scope key reads /metrics with Bearer (and X-API-Key); nothing else", async () => {
    const bearer = await scrape({ Authorization: `Bearer ${SCRAPER}` });
    expect(bearer.status).toBe(200);
    expect(bearer.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    expect(await bearer.text()).toContain("facegate_http_requests_total");
    expect((await scrape({ "X-API-Key": SCRAPER })).status).toBe(200);
    // the scheme is case-insensitive (RFC 9110)
    expect((await scrape({ Authorization: `bearer ${SCRAPER}` })).status).toBe(200);
    // A scraper's key runs nothing: not the engine routes that take "any" key, not a company's routes.
    const detect = await fetch(`${srv.url}/v1/detect`, { method: "POST", headers: { Authorization: `Bearer ${SCRAPER}`, "Content-Type": "application/json" }, body: "{}" });
    expect(detect.status).toBe(403);
    expect(((await detect.json()) as { error: { message: string } }).error.message).toContain("metrics scope");
    const stats = await fetch(`${srv.url}/v1/stats`, { headers: { Authorization: `Bearer ${SCRAPER}` } });
    expect(stats.status).toBe(403);
  });

  test("admin keys read it; a recognize key is 403; a wrong or missing Bearer is 401", async () => {
    expect((await scrape({ Authorization: `Bearer ${ADMIN}` })).status).toBe(200);
    const kiosk = await scrape({ Authorization: `Bearer ${KIOSK}` });
    expect(kiosk.status).toBe(403);
    expect(((await kiosk.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("metrics scope") });
    expect((await scrape({ Authorization: "Bearer not-a-key-0000000" })).status).toBe(401);
    expect((await scrape({ Authorization: `Basic ${btoa(`x:${SCRAPER}`)}` })).status).toBe(401);
    expect((await scrape({})).status).toBe(401);
  });

  test("a metrics key in the extended format must be on every company", () => {
    expect(() => loadServerConfig({ API_KEYS: JSON.stringify({ [SCRAPER]: { companies: ["acme"], scopes: ["metrics"] } }) })).toThrow(/metrics scope is for the whole server/);
  });
});

describe("process metrics", () => {
  test("resident memory, CPU seconds, start time, heap, open files, event-loop lag under the conventional names", async () => {
    const text = await (await scrape({ Authorization: `Bearer ${SCRAPER}` })).text();
    const rss = sample(text, "process_resident_memory_bytes");
    expect(rss).toBeGreaterThan(10 * 1024 * 1024);
    // within 10 % of what the process itself reports (both read now, the heap moves a little)
    expect(Math.abs((rss ?? 0) - process.memoryUsage.rss()) / process.memoryUsage.rss()).toBeLessThan(0.1);
    expect(text).toContain("# TYPE process_cpu_seconds_total counter");
    const cpu = sample(text, "process_cpu_seconds_total") ?? 0;
    expect(cpu).toBeGreaterThan(0);
    const start = sample(text, "process_start_time_seconds") ?? 0;
    expect(Math.abs(start - (Date.now() / 1000 - process.uptime()))).toBeLessThan(2);
    expect(sample(text, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(sample(text, "process_open_fds")).toBeGreaterThan(2);
    expect(text).toContain("# TYPE nodejs_eventloop_lag_seconds gauge");
    // CPU time only goes up
    const again = await (await scrape({ Authorization: `Bearer ${SCRAPER}` })).text();
    expect(sample(again, "process_cpu_seconds_total") ?? 0).toBeGreaterThanOrEqual(cpu);
  });

  test("event-loop lag: a 300 ms block of the loop shows as a max lag of at least 0.25 s, then resets", async () => {
    await scrape({ Authorization: `Bearer ${SCRAPER}` }); // reset the window
    const until = Date.now() + 300;
    while (Date.now() < until) {
      // hold the event loop (the server runs in this process)
    }
    await Bun.sleep(30); // let the sampler record the late tick
    const text = await (await scrape({ Authorization: `Bearer ${SCRAPER}` })).text();
    expect(sample(text, "nodejs_eventloop_lag_max_seconds")).toBeGreaterThanOrEqual(0.25);
    await Bun.sleep(50);
    const after = await (await scrape({ Authorization: `Bearer ${SCRAPER}` })).text();
    expect(sample(after, "nodejs_eventloop_lag_max_seconds")).toBeLessThan(0.25);
  });
});
