/** Reading the server's /metrics (Prometheus text format) for the System view's charts. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    out.push({ name: m[1], labels, value });
  }
  return out;
}

/** Sum of a metric's samples whose labels match `where`. */
export function total(samples: Sample[], name: string, where: (labels: Record<string, string>) => boolean = () => true): number {
  let sum = 0;
  let seen = false;
  for (const s of samples) {
    if (s.name === name && where(s.labels)) {
      sum += s.value;
      seen = true;
    }
  }
  return seen ? sum : Number.NaN;
}

/** A histogram summed over its series: cumulative bucket counts by upper bound, sum and count. */
export interface Histogram {
  buckets: Map<number, number>;
  sum: number;
  count: number;
}

export function histogram(samples: Sample[], name: string): Histogram {
  const buckets = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return { buckets, sum: total(samples, `${name}_sum`) || 0, count: total(samples, `${name}_count`) || 0 };
}

/** The interval between two scrapes: observations, mean and an upper bound of the 95th percentile (bucket edge). */
export function interval(before: Histogram, after: Histogram): { count: number; mean: number; p95: number } {
  const count = after.count - before.count;
  if (count <= 0) return { count: 0, mean: Number.NaN, p95: Number.NaN };
  const mean = (after.sum - before.sum) / count;
  let p95 = Number.NaN;
  for (const le of [...after.buckets.keys()].sort((a, b) => a - b)) {
    const n = (after.buckets.get(le) ?? 0) - (before.buckets.get(le) ?? 0);
    if (n >= 0.95 * count) {
      p95 = le;
      break;
    }
  }
  return { count, mean, p95 };
}
