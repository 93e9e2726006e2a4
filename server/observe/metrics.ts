/**
 * A small Prometheus registry (text format 0.0.4): counters and histograms with labels, plus
 * families computed at scrape time by sources (the gallery, the admission limiter, plugins such
 * as the kiosk). Enough for /metrics without a dependency.
 */

export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function num(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return Number.isNaN(value) ? "NaN" : String(value);
}

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${num(value)}`);
    return lines.join("\n");
  }
}

export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[] = LATENCY_BUCKETS) {}

  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) entry.counts[i]++;
    entry.sum += value;
    entry.count++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((le, i) => lines.push(`${this.name}_bucket${labelText({ ...labels, le: num(le) })} ${counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: "+Inf" })} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${num(sum)}`);
      lines.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines.join("\n");
  }
}

/** Values read at scrape time (a gauge, or a counter kept elsewhere, e.g. by a plugin). */
export interface MetricFamily {
  name: string;
  help: string;
  /** Default "gauge". A "counter" must only go up (name it `..._total`). */
  type?: "gauge" | "counter";
  values: Array<{ labels?: Labels; value: number }>;
}

/** Produces families at scrape time; plugins register one with `metrics.addSource`. */
export type MetricsSource = () => MetricFamily[];

/** What a plugin needs to contribute metrics (PluginContext.metrics satisfies it). */
export interface MetricsRegistry {
  /** Adds a source rendered on every scrape; returns a function that removes it. */
  addSource(source: MetricsSource): () => void;
}

/** A family with one label: `{ [label]: key }` per entry of `values`, in their order. */
export function byLabel(
  name: string,
  help: string,
  label: string,
  values: Record<string, number>,
  type: MetricFamily["type"] = "counter",
): MetricFamily {
  return { name, help, type, values: Object.entries(values).map(([key, value]) => ({ labels: { [label]: key }, value })) };
}

export function renderFamily(g: MetricFamily): string {
  const type = g.type ?? "gauge";
  const lines = [`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} ${type}`];
  for (const { labels, value } of g.values) lines.push(`${g.name}${labelText(labels ?? {})} ${num(value)}`);
  return lines.join("\n");
}

/** The server's metrics. */
export class ServerMetrics implements MetricsRegistry {
  readonly started = Date.now();
  readonly requests = new Counter("facegate_http_requests_total", "HTTP requests by method, route and status.");
  readonly latency = new Histogram(
    "facegate_http_request_duration_seconds",
    "HTTP request latency in seconds by method, route and status.",
  );
  readonly operations = new Histogram(
    "facegate_operation_duration_seconds",
    "FaceApi operation time in seconds (engine and gallery work behind each route or kiosk frame) by operation, outcome and way in (http, kiosk).",
  );
  readonly errors = new Counter("facegate_errors_total", "Error responses by code.");
  readonly rateLimited = new Counter("facegate_rate_limited_total", "Requests refused by the rate limiter.");
  readonly sourceErrors = new Counter("facegate_metrics_source_errors_total", "Metric sources that failed during a scrape.");
  inFlight = 0;
  private readonly sources = new Set<MetricsSource>();

  addSource(source: MetricsSource): () => void {
    // Wrapped so the same function can be added twice and removed independently.
    const entry: MetricsSource = () => source();
    this.sources.add(entry);
    return () => {
      this.sources.delete(entry);
    };
  }

  request(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  operation(operation: string, outcome: string, seconds: number, way = "http"): void {
    this.operations.observe({ operation, outcome, way }, seconds);
  }

  render(extra: MetricFamily[] = []): string {
    const fromSources: MetricFamily[] = [];
    for (const source of this.sources) {
      try {
        fromSources.push(...source());
      } catch {
        // one broken source must not take the whole scrape down
        this.sourceErrors.inc();
      }
    }
    const parts = [
      this.requests.render(),
      this.latency.render(),
      this.operations.render(),
      this.errors.render(),
      this.rateLimited.render(),
      renderFamily({ name: "facegate_http_requests_in_flight", help: "Requests being served.", values: [{ value: this.inFlight }] }),
      renderFamily({
        name: "facegate_process_uptime_seconds",
        help: "Seconds since the server started.",
        values: [{ value: (Date.now() - this.started) / 1000 }],
      }),
      this.sourceErrors.render(),
      ...[...fromSources, ...extra].map(renderFamily),
    ];
    return `${parts.join("\n")}\n`;
  }
}
