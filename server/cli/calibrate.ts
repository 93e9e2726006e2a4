/**
 * Threshold calibration: genuine and impostor similarity scores → FAR / FRR per threshold, the
 * equal error rate, a suggested threshold for a target false-accept rate, and an SVG plot of both
 * curves (the CLI renders it to PNG with sharp). Pure functions; reading images lives in the CLI.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { cosineSimilarity } from "../../lib/core/mod.ts";

export interface CalibrationRow {
  threshold: number;
  /** Impostor pairs at or above the threshold / impostor pairs. */
  far: number;
  /** Genuine pairs below the threshold / genuine pairs. */
  frr: number;
  falseAccepts: number;
  falseRejects: number;
}

export interface Calibration {
  genuinePairs: number;
  impostorPairs: number;
  /** Fine grid (step 0.005) over [-1, 1]. */
  curve: CalibrationRow[];
  eer: { threshold: number; rate: number };
  /** Smallest threshold with FAR <= targetFar (the most genuine accepts at that false-accept rate). */
  suggested: CalibrationRow & { targetFar: number };
  genuine: { median: number; min: number };
  impostor: { median: number; max: number };
}

const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))))];
}

/** Count of values >= t in an ascending array (binary search). */
function countAtLeast(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}

export function calibrate(genuineScores: ArrayLike<number>, impostorScores: ArrayLike<number>, targetFar = 0.001): Calibration {
  if (genuineScores.length === 0 || impostorScores.length === 0) {
    throw new Error(`calibration needs genuine and impostor pairs (got ${genuineScores.length} genuine, ${impostorScores.length} impostor)`);
  }
  const genuine = Float64Array.from(genuineScores).sort();
  const impostor = Float64Array.from(impostorScores).sort();
  const row = (threshold: number): CalibrationRow => {
    const falseAccepts = countAtLeast(impostor, threshold);
    const falseRejects = genuine.length - countAtLeast(genuine, threshold);
    return { threshold: round(threshold, 3), far: falseAccepts / impostor.length, frr: falseRejects / genuine.length, falseAccepts, falseRejects };
  };
  const curve: CalibrationRow[] = [];
  for (let i = 0; i <= 400; i++) curve.push(row(-1 + i * 0.005));

  // EER: the grid points where max(FAR, FRR) is smallest; the middle one (separable scores give a range).
  let best = Number.POSITIVE_INFINITY;
  for (const r of curve) best = Math.min(best, Math.max(r.far, r.frr));
  const atBest = curve.filter((r) => Math.max(r.far, r.frr) <= best + 1e-12);
  const mid = atBest[Math.floor((atBest.length - 1) / 2)];
  const eer = { threshold: mid.threshold, rate: round((mid.far + mid.frr) / 2, 5) };
  const suggestedRow = curve.find((r) => r.far <= targetFar) ?? curve[curve.length - 1];
  return {
    genuinePairs: genuine.length,
    impostorPairs: impostor.length,
    curve,
    eer,
    suggested: { ...suggestedRow, targetFar },
    genuine: { median: round(quantile(genuine, 0.5)), min: round(genuine[0]) },
    impostor: { median: round(quantile(impostor, 0.5)), max: round(impostor[impostor.length - 1]) },
  };
}

/** The table the CLI prints: a few operating points around the interesting range. */
export function formatCalibration(c: Calibration): string {
  const pct = (x: number) => `${(x * 100).toFixed(3)} %`.padStart(10);
  const lines = [
    `pairs: ${c.genuinePairs} genuine (median ${c.genuine.median}, min ${c.genuine.min}), ${c.impostorPairs} impostor (median ${c.impostor.median}, max ${c.impostor.max})`,
    "",
    "threshold        FAR        FRR   false accepts   false rejects",
  ];
  const wanted = new Set([0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6].map((t) => round(t, 3)));
  for (const r of c.curve) {
    if (!wanted.has(r.threshold)) continue;
    lines.push(
      `${r.threshold.toFixed(3).padStart(9)} ${pct(r.far)} ${pct(r.frr)} ${String(r.falseAccepts).padStart(15)} ${String(r.falseRejects).padStart(15)}`,
    );
  }
  lines.push("");
  lines.push(`EER: ${(c.eer.rate * 100).toFixed(3)} % at threshold ${c.eer.threshold}`);
  lines.push(
    `suggested FACE_RECOGNITION_THRESHOLD=${c.suggested.threshold} (FAR ${(c.suggested.far * 100).toFixed(3)} % <= target ${(c.suggested.targetFar * 100).toFixed(3)} %, FRR ${(c.suggested.frr * 100).toFixed(3)} %)`,
  );
  return lines.join("\n");
}

/** FAR and FRR against the threshold, with the EER and the suggested threshold marked. */
export function calibrationSvg(c: Calibration, title = "facegate calibration"): string {
  const W = 900;
  const H = 540;
  const m = { l: 70, r: 30, t: 50, b: 60 };
  const lo = Math.max(-1, Math.floor(Math.min(c.impostor.median - 0.3, 0) * 10) / 10);
  const x = (t: number) => m.l + ((t - lo) / (1 - lo)) * (W - m.l - m.r);
  const y = (v: number) => H - m.b - v * (H - m.t - m.b);
  const pts = (key: "far" | "frr") =>
    c.curve
      .filter((r) => r.threshold >= lo)
      .map((r) => `${x(r.threshold).toFixed(1)},${y(r[key]).toFixed(1)}`)
      .join(" ");
  const grid: string[] = [];
  for (let t = Math.ceil(lo * 10) / 10; t <= 1.0001; t += 0.1) {
    grid.push(`<line x1="${x(t)}" y1="${m.t}" x2="${x(t)}" y2="${H - m.b}" stroke="#e4e4e4"/>`);
    grid.push(`<text x="${x(t)}" y="${H - m.b + 20}" text-anchor="middle">${t.toFixed(1)}</text>`);
  }
  for (let v = 0; v <= 1.0001; v += 0.2) {
    grid.push(`<line x1="${m.l}" y1="${y(v)}" x2="${W - m.r}" y2="${y(v)}" stroke="#e4e4e4"/>`);
    grid.push(`<text x="${m.l - 8}" y="${y(v) + 4}" text-anchor="end">${Math.round(v * 100)} %</text>`);
  }
  const marker = (t: number, color: string, label: string, dy: number) =>
    `<line x1="${x(t)}" y1="${m.t}" x2="${x(t)}" y2="${H - m.b}" stroke="${color}" stroke-dasharray="6 4"/>` +
    `<text x="${x(t) + 6}" y="${m.t + dy}" fill="${color}">${label}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${W / 2}" y="28" text-anchor="middle" font-size="17">${escapeXml(title)}: ${c.genuinePairs} genuine / ${c.impostorPairs} impostor pairs</text>
${grid.join("\n")}
<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#888"/>
<polyline points="${pts("far")}" fill="none" stroke="#d62728" stroke-width="2.5"/>
<polyline points="${pts("frr")}" fill="none" stroke="#1f77b4" stroke-width="2.5"/>
${marker(c.eer.threshold, "#555", `EER ${(c.eer.rate * 100).toFixed(2)} % @ ${c.eer.threshold}`, 18)}
${marker(c.suggested.threshold, "#2ca02c", `suggested ${c.suggested.threshold} (FAR ${(c.suggested.far * 100).toFixed(2)} %, FRR ${(c.suggested.frr * 100).toFixed(2)} %)`, 38)}
<text x="${W / 2}" y="${H - 18}" text-anchor="middle">threshold (cosine similarity)</text>
<text x="18" y="${H / 2}" text-anchor="middle" transform="rotate(-90 18 ${H / 2})">error rate</text>
<rect x="${W - m.r - 250}" y="${m.t + 60}" width="235" height="52" fill="#fff" stroke="#ccc"/>
<line x1="${W - m.r - 240}" y1="${m.t + 78}" x2="${W - m.r - 210}" y2="${m.t + 78}" stroke="#d62728" stroke-width="2.5"/>
<text x="${W - m.r - 202}" y="${m.t + 82}">FAR (false accept rate)</text>
<line x1="${W - m.r - 240}" y1="${m.t + 100}" x2="${W - m.r - 210}" y2="${m.t + 100}" stroke="#1f77b4" stroke-width="2.5"/>
<text x="${W - m.r - 202}" y="${m.t + 104}">FRR (false reject rate)</text>
</svg>
`;
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] ?? c);
}

// ---------------------------------------------------------------- inputs

export interface LabelledPair {
  a: string;
  b: string;
  same: boolean;
}

const IMAGE_EXT = new Set([".jpg", ".jpeg", ".png", ".webp"]);
export const isImageFile = (name: string) => IMAGE_EXT.has(extname(name).toLowerCase());

/** `<dir>/<person>/<images>` → person → image paths (sorted). */
export function readLabelledFolder(dir: string): Map<string, string[]> {
  const people = new Map<string, string[]>();
  for (const person of readdirSync(dir).sort()) {
    const path = join(dir, person);
    if (!statSync(path).isDirectory()) continue;
    const images = readdirSync(path)
      .filter(isImageFile)
      .sort()
      .map((f) => join(path, f));
    if (images.length > 0) people.set(person, images);
  }
  return people;
}

/**
 * A pairs file: the LFW format (first line a count; `name i j` same person, `name1 i name2 j`
 * different; image i of name is `<images>/<name>/<name>_<iiii>.jpg`), or lines `path1 path2 0|1`
 * (paths relative to the file). Comments (#) and blank lines are ignored.
 */
export function readPairsFile(file: string, imagesDir?: string): LabelledPair[] {
  const base = dirname(file);
  const images = imagesDir ?? join(base, "images");
  const lfw = (name: string, i: string) => join(images, name, `${name}_${i.padStart(4, "0")}.jpg`);
  const pairs: LabelledPair[] = [];
  const lines = readFileSync(file, "utf8").split(/\r?\n/);
  for (const [n, raw] of lines.entries()) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const t = line.split(/\s+/);
    const int = (s: string) => /^\d+$/.test(s);
    if (n === 0 && t.every(int)) continue; // LFW header (count, or folds and count)
    if (t.length === 3 && int(t[1]) && int(t[2])) pairs.push({ a: lfw(t[0], t[1]), b: lfw(t[0], t[2]), same: true });
    else if (t.length === 4 && int(t[1]) && int(t[3])) pairs.push({ a: lfw(t[0], t[1]), b: lfw(t[2], t[3]), same: false });
    else if (t.length === 3 && (t[2] === "0" || t[2] === "1")) {
      pairs.push({ a: join(base, t[0]), b: join(base, t[1]), same: t[2] === "1" });
    } else throw new Error(`${basename(file)}:${n + 1}: cannot read ${JSON.stringify(line)} as a pair`);
  }
  const missing = pairs.flatMap((p) => [p.a, p.b]).find((p) => !existsSync(p));
  if (missing) throw new Error(`${basename(file)}: image ${missing} not found (use --images DIR for LFW pairs)`);
  return pairs;
}

/** Genuine and impostor scores from embeddings per person (all pairs; impostor pairs capped by a stride). */
export function folderScores(
  embeddings: Map<string, Float32Array[]>,
  maxImpostorPairs = 2_000_000,
): { genuine: number[]; impostor: number[] } {
  const genuine: number[] = [];
  const impostor: number[] = [];
  const all: Array<{ person: string; e: Float32Array }> = [];
  for (const [person, list] of embeddings) for (const e of list) all.push({ person, e });
  const totalCross = (all.length * (all.length - 1)) / 2;
  const stride = Math.max(1, Math.ceil(totalCross / maxImpostorPairs));
  let k = 0;
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      if (all[i].person === all[j].person) genuine.push(cosineSimilarity(all[i].e, all[j].e));
      else if (k++ % stride === 0) impostor.push(cosineSimilarity(all[i].e, all[j].e));
    }
  }
  return { genuine, impostor };
}

// ---------------------------------------------------------------- the calibration file (open-set operating points)

/** Threshold grid of the calibration file: 0.00 .. 1.00 in steps of 0.01. */
export const CALIBRATION_GRID = Array.from({ length: 101 }, (_, i) => Math.round(i) / 100);

/** Gallery sizes at which FPIR is measured (those ≤ the number of other identities are kept). */
const FPIR_SIZES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000];

/** log C(n, k) */
function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/** Lanczos approximation (g = 7), enough for ratios of binomials. */
function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * P(at least one of n users drawn without replacement from m others scores ≥ t) when `hits` of the m do:
 * 1 − C(m − hits, n) / C(m, n). Exact for galleries drawn from the calibration's identities.
 */
export function hitProbability(m: number, hits: number, n: number): number {
  if (hits <= 0 || n <= 0) return 0;
  if (m - hits < n) return 1;
  return -Math.expm1(logChoose(m - hits, n) - logChoose(m, n));
}

export interface CalibrationInput {
  /** Person → their face embeddings (L2-normalised). */
  people: Map<string, Float32Array[]>;
  model: string;
  source: string;
  /** Cap on probes for the FPIR table (default 5000). */
  maxProbes?: number;
}

/**
 * Builds the calibration file from labelled embeddings:
 * - FAR(t) over every pair of images of different people; FRR(t) over every pair of images of one person;
 * - FPIR(t, N) measured per probe: each image is a stranger presented to a gallery of one enrolled image
 *   per other person; with h of those m people scoring ≥ t, a gallery of N of them accepts the stranger
 *   with probability 1 − C(m − h, N)/C(m, N). Averaged over probes, this keeps what the independence
 *   formula 1 − (1 − FAR)^N loses: some strangers resemble many people;
 * - the same for a gallery of templates (normalised mean of two images) of the people with 2+ images:
 *   strangers come closer to a mean than to single photos (on LFW dev, at the threshold of FPIR 1 % for
 *   single photos, a gallery of two-photo templates accepted 1.6 %).
 */
export function buildCalibrationFile(input: CalibrationInput): {
  version: 1;
  model: string;
  source: string;
  created: string;
  genuinePairs: number;
  impostorPairs: number;
  thresholds: number[];
  far: number[];
  frr: number[];
  fpir?: { sizes: number[]; values: number[][]; probes: number };
  fpirTemplates?: { sizes: number[]; values: number[][]; probes: number };
} {
  const grid = CALIBRATION_GRID;
  const bins = grid.length;
  const persons = [...input.people.entries()].filter(([, l]) => l.length > 0);
  const all: Array<{ p: number; e: Float32Array }> = [];
  persons.forEach(([, list], p) => {
    for (const e of list) all.push({ p, e });
  });
  const dim = all[0]?.e.length ?? 0;
  // index of the highest grid threshold ≤ s (scores below 0 go to bin 0's "below" side via -1)
  const binOf = (s: number) => Math.min(bins - 1, Math.floor(s * 100 + 1e-9));
  const impAtLeast = new Float64Array(bins + 1);
  const genAtLeast = new Float64Array(bins + 1);
  let impostorPairs = 0;
  let genuinePairs = 0;
  const dot = (a: Float32Array, b: Float32Array) => {
    let s = 0;
    for (let k = 0; k < dim; k++) s += a[k] * b[k];
    return s;
  };
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const s = dot(all[i].e, all[j].e);
      const b = s < 0 ? -1 : binOf(s);
      if (all[i].p === all[j].p) {
        genuinePairs++;
        if (b >= 0) genAtLeast[b]++;
      } else {
        impostorPairs++;
        if (b >= 0) impAtLeast[b]++;
      }
    }
  }
  // histogram → "at or above grid[k]" counts
  for (let k = bins - 2; k >= 0; k--) {
    impAtLeast[k] += impAtLeast[k + 1];
    genAtLeast[k] += genAtLeast[k + 1];
  }
  if (impostorPairs === 0) throw new Error("calibration needs at least two people");
  const far = grid.map((_, k) => impAtLeast[k] / impostorPairs);
  const frr = genuinePairs > 0 ? grid.map((_, k) => 1 - genAtLeast[k] / genuinePairs) : [];

  // FPIR tables: every image (strided) as a stranger against a gallery of one entry per other person:
  // their first image (users enrolled from one photo), and the normalised mean of their first two
  // (users enrolled from two or more: the template the gallery matches)
  const maxProbes = input.maxProbes ?? 5000;
  const stride = Math.max(1, Math.ceil(all.length / maxProbes));
  const table = (gallery: Array<{ p: number; e: Float32Array }>) => {
    const sizes = FPIR_SIZES.filter((n) => n <= gallery.length - 1);
    if (sizes.length === 0) return undefined;
    const sums = sizes.map(() => new Float64Array(bins));
    const hits = new Int32Array(bins + 1);
    let probes = 0;
    for (let i = 0; i < all.length; i += stride) {
      hits.fill(0);
      const probe = all[i];
      let m = 0;
      for (const g of gallery) {
        if (g.p === probe.p) continue;
        m++;
        const s = dot(probe.e, g.e);
        if (s >= 0) hits[binOf(s)]++;
      }
      for (let k = bins - 2; k >= 0; k--) hits[k] += hits[k + 1];
      sizes.forEach((n, si) => {
        for (let k = 0; k < bins; k++) sums[si][k] += hitProbability(m, hits[k], Math.min(n, m));
      });
      probes++;
    }
    return { sizes, values: sums.map((row) => Array.from(row, (v) => v / probes)), probes };
  };
  const fpir = table(persons.map(([, l], p) => ({ p, e: l[0] })));
  const fpirTemplates = table(
    persons.flatMap(([, l], p) => {
      if (l.length < 2) return [];
      const mean = new Float32Array(dim);
      for (let k = 0; k < dim; k++) mean[k] = l[0][k] + l[1][k];
      const norm = Math.hypot(...mean);
      return norm > 0 ? [{ p, e: mean.map((x) => x / norm) }] : [];
    }),
  );
  const r = (x: number) => Number(x.toPrecision(6));
  return {
    version: 1,
    model: input.model,
    source: input.source,
    created: new Date().toISOString(),
    genuinePairs,
    impostorPairs,
    thresholds: grid,
    far: far.map(r),
    frr: frr.map(r),
    ...(fpir ? { fpir: { ...fpir, values: fpir.values.map((row) => row.map(r)) } } : {}),
    ...(fpirTemplates ? { fpirTemplates: { ...fpirTemplates, values: fpirTemplates.values.map((row) => row.map(r)) } } : {}),
  };
}
