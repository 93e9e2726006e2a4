/**
 * System: health of the engine, the store and (NATS mode) each worker; queue depth, request rate
 * and recent latency from /metrics (admin key), as small charts over the last five minutes.
 */
import { ApiError, describeError } from "./api.ts";
import { sparkChart } from "./charts.ts";
import type { ViewContext } from "./context.ts";
import { fmt, h, replace } from "./dom.ts";
import { histogram, interval, parseMetrics, total, type Histogram } from "./prom.ts";
import { Health, Stats, WorkerList } from "./schemas.ts";

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;

function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function show(key: string, v: unknown): string {
  if (typeof v !== "number") return String(v);
  if (/seconds$/.test(key)) return duration(v);
  if (/_ms$/.test(key)) return `${v < 10 ? v.toFixed(2) : Math.round(v)} ms`;
  return Number.isInteger(v) ? fmt.int(v) : String(Number(v.toPrecision(4)));
}

function entries(record: Record<string, unknown> | undefined): Array<[string, string]> {
  return Object.entries(record ?? {})
    .filter(([, v]) => v === null || typeof v !== "object")
    .map(([k, v]) => [k.replace(/_(ms|seconds)$/, "").replaceAll("_", " "), show(k, v)]);
}

function block(title: string, status: string | null, rows: Array<[string, string]>, id: string): HTMLElement {
  return h(
    "section",
    { class: "card health", id, "aria-label": title },
    h("h2", {}, title, " ", status ? h("span", { class: "pill", "data-status": status === "ok" || status === "healthy" ? "live" : "error" }, status) : null),
    h("dl", { class: "kv" }, ...rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
  );
}

export async function systemView(ctx: ViewContext, main: HTMLElement): Promise<void> {
  const healthBox = h("div", { class: "grid", id: "health" });
  const workersBox = h("div", { id: "workers" });
  const charts = h("div", { class: "grid charts", id: "metrics" });
  const status = h("p", { class: "status", role: "status" });
  replace(main, h("h1", {}, "System"), status, healthBox, workersBox, h("h2", {}, "Load"), charts);

  const loadHealth = async (): Promise<void> => {
    try {
      // 503 carries the same body: read it either way.
      // With the key: admin keys get the details (engine, store, worker), others only the status.
      const res = await fetch("/v1/health", { cache: "no-store", signal: ctx.signal, headers: { "X-API-Key": ctx.api.key } });
      const checked = Health.safeParse(await res.json());
      if (!checked.success) throw new Error(`unexpected health answer (${res.status})`);
      const hl = checked.data;
      replace(
        healthBox,
        block("Server", hl.status, [...entries({ response_time_ms: hl.response_time_ms }), ...entries(hl.worker_info as Record<string, unknown>)], "health-server"),
        hl.engine ? block("Engine", null, entries(hl.engine), "health-engine") : null,
        hl.store ? block("Store", typeof hl.store.status === "string" ? String(hl.store.status) : null, entries(hl.store), "health-store") : null,
        hl.engine ? null : h("p", { class: "muted" }, "Engine, store and worker details need an admin key."),
      );
    } catch (error) {
      if (!ctx.signal.aborted) replace(healthBox, h("p", { class: "status error" }, `Health: ${describeError(error)}`));
    }
    if (!ctx.me.admin) return;
    try {
      // NATS mode: every worker answers the stats request; server_info.workers lists them
      // (cache_info.workers on servers from before cache_info became the old system's per-company counts).
      const stats = await ctx.api.get("/v1/stats", Stats, { signal: ctx.signal });
      const parsed = WorkerList.safeParse(stats.server_info?.workers ?? stats.cache_info?.workers);
      const workers = parsed.success ? parsed.data : [];
      const cell = (v: unknown, cls = "num") => h("td", { class: cls }, v === undefined || v === null ? "–" : typeof v === "number" ? fmt.int(v) : String(v));
      replace(
        workersBox,
        workers.length
          ? h(
              "section",
              { class: "card", "aria-label": "workers" },
              h("h2", {}, `NATS workers (${workers.length})`),
              h(
                "div",
                { class: "scroll" },
                h(
                  "table",
                  { class: "list", id: "workers-table" },
                  h(
                    "thead",
                    {},
                    h("tr", {}, ...["Worker", "Status", "Running", "Backlog", "Processed", "Failed", "Revision", "Up"].map((t, i) => h("th", { scope: "col", class: i > 1 && i < 7 ? "num" : "" }, t))),
                  ),
                  h(
                    "tbody",
                    {},
                    ...workers.map((w) =>
                      h(
                        "tr",
                        { "data-worker": w.worker_id },
                        h("td", {}, w.worker_id),
                        h("td", {}, h("span", { class: "pill", "data-status": w.draining ? "connecting" : (w.status ?? "ok") === "ok" ? "live" : "error" }, w.draining ? "draining" : (w.status ?? "ok"))),
                        cell(w.in_flight),
                        cell(w.backlog),
                        cell(w.processed),
                        cell(w.failed),
                        cell(w.revision),
                        cell(w.uptime_seconds === undefined ? undefined : duration(w.uptime_seconds), ""),
                      ),
                    ),
                  ),
                ),
              ),
            )
          : null,
      );
    } catch {
      // stats are optional here
    }
  };

  await loadHealth();
  if (!ctx.me.admin) {
    replace(charts, h("p", { class: "muted" }, "Queue depth and latency come from /metrics, which needs an admin key."));
    return;
  }

  const queue: Array<[number, number]> = [];
  const rate: Array<[number, number]> = [];
  const latency: Array<[number, number]> = [];
  const p95: Array<[number, number]> = [];
  let prev: { at: number; requests: number; ops: Histogram } | null = null;

  const scrape = async (): Promise<void> => {
    try {
      const res = await ctx.api.fetch("GET", "/metrics", { accept: "text/plain", signal: ctx.signal });
      const samples = parseMetrics(await res.text());
      const now = Date.now();
      const queued = total(samples, "facegate_admission_queued");
      const inFlight = total(samples, "facegate_admission_in_flight");
      queue.push([now, (queued || 0) + (inFlight || 0)]);
      const requests = total(samples, "facegate_http_requests_total", (l) => l.route !== "/metrics");
      const ops = histogram(samples, "facegate_operation_duration_seconds");
      if (prev) {
        const dt = (now - prev.at) / 1000;
        rate.push([now, Math.max(0, (requests - prev.requests) / dt)]);
        const iv = interval(prev.ops, ops);
        latency.push([now, iv.mean]);
        p95.push([now, iv.p95]);
      }
      prev = { at: now, requests, ops };
      for (const list of [queue, rate, latency, p95]) while (list.length && list[0][0] < now - WINDOW_MS) list.shift();
      const last = (list: Array<[number, number]>) => list[list.length - 1]?.[1] ?? Number.NaN;
      replace(
        charts,
        h("figure", { id: "chart-queue" }, sparkChart("engine requests running + queued", queue, { unit: (v) => String(Math.round(v * 10) / 10), cls: "c1", windowMs: WINDOW_MS, floor: 2 }), h("figcaption", {}, `Queue depth: ${fmt.int(queued || 0)} waiting, ${fmt.int(inFlight || 0)} running`)),
        h("figure", { id: "chart-latency" }, sparkChart("mean operation time", latency, { unit: fmt.ms, cls: "c2", windowMs: WINDOW_MS, floor: 0.05 }), h("figcaption", {}, `Recent latency: mean ${fmt.ms(last(latency))}, p95 ≤ ${fmt.ms(last(p95))} per operation`)),
        h("figure", { id: "chart-rate" }, sparkChart("requests per second", rate, { unit: (v) => v.toFixed(1), cls: "c3", windowMs: WINDOW_MS, floor: 1 }), h("figcaption", {}, `Requests: ${Number.isFinite(last(rate)) ? last(rate).toFixed(1) : "–"} /s`)),
      );
      status.textContent = "";
    } catch (error) {
      if (ctx.signal.aborted) return;
      status.className = "status error";
      status.textContent = error instanceof ApiError && error.code === "FORBIDDEN" ? "Metrics need an admin key." : `Metrics: ${describeError(error)}`;
    }
  };
  await scrape();
  const timer = setInterval(() => {
    void scrape();
  }, POLL_MS);
  const healthTimer = setInterval(() => void loadHealth(), 10_000);
  ctx.signal.addEventListener("abort", () => {
    clearInterval(timer);
    clearInterval(healthTimer);
  });
}
