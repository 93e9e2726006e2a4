/**
 * A small Prometheus registry (text format 0.0.4): counters and histograms with labels, plus
 * gauges computed at scrape time. Enough for /metrics without a dependency.
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

export interface Gauge {
  name: string;
  help: string;
  values: Array<{ labels?: Labels; value: number }>;
}

export function renderGauge(g: Gauge): string {
  const lines = [`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`];
  for (const { labels, value } of g.values) lines.push(`${g.name}${labelText(labels ?? {})} ${num(value)}`);
  return lines.join("\n");
}

/** The server's metrics. */
export class ServerMetrics {
  readonly started = Date.now();
  readonly requests = new Counter("facegate_http_requests_total", "HTTP requests by method, route and status.");
  readonly latency = new Histogram(
    "facegate_http_request_duration_seconds",
    "HTTP request latency in seconds by method, route and status.",
  );
  readonly operations = new Histogram(
    "facegate_operation_duration_seconds",
    "FaceApi operation time in seconds (engine and gallery work behind each route) by operation and outcome.",
  );
  readonly errors = new Counter("facegate_errors_total", "Error responses by code.");
  readonly rateLimited = new Counter("facegate_rate_limited_total", "Requests refused by the rate limiter.");
  inFlight = 0;

  request(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  operation(operation: string, outcome: string, seconds: number): void {
    this.operations.observe({ operation, outcome }, seconds);
  }

  render(extra: Gauge[] = []): string {
    const parts = [
      this.requests.render(),
      this.latency.render(),
      this.operations.render(),
      this.errors.render(),
      this.rateLimited.render(),
      renderGauge({ name: "facegate_http_requests_in_flight", help: "Requests being served.", values: [{ value: this.inFlight }] }),
      renderGauge({
        name: "facegate_process_uptime_seconds",
        help: "Seconds since the server started.",
        values: [{ value: (Date.now() - this.started) / 1000 }],
      }),
      ...extra.map(renderGauge),
    ];
    return `${parts.join("\n")}\n`;
  }
}
