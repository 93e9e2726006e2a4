/**
 * Verification metrics for LFW-style pair lists: pairs-file parsing, 10-fold accuracy (threshold
 * chosen on 9 folds, tested on the 10th), AUC, TAR at a FAR, EER. Pure functions (unit-tested).
 */

export interface Pair {
  same: boolean;
  a: string;
  b: string;
  fold: number;
}

const imageName = (name: string, index: string) => `${name}/${name}_${index.padStart(4, "0")}.jpg`;

/**
 * Parses View 1 ("N", then N same and N different lines; split into 10 folds here) and View 2
 * ("10 300", then per fold 300 same and 300 different lines). Image paths are relative to the images dir.
 */
export function parsePairs(text: string): Pair[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) throw new Error("pairs file is empty");
  const head = lines[0].split(/\s+/).map(Number);
  const body = lines.slice(1).map((l) => l.split(/\s+/));
  const toPair = (f: string[], fold: number, lineNo: number): Pair => {
    if (f.length === 3) return { same: true, a: imageName(f[0], f[1]), b: imageName(f[0], f[2]), fold };
    if (f.length === 4) return { same: false, a: imageName(f[0], f[1]), b: imageName(f[2], f[3]), fold };
    throw new Error(`pairs line ${lineNo + 2}: expected 3 or 4 fields, got ${f.length}`);
  };
  let folds: number;
  let perFold: number;
  if (head.length === 2 && head.every(Number.isInteger)) {
    [folds, perFold] = head; // View 2: per fold `perFold` same then `perFold` different
    if (body.length !== folds * perFold * 2) throw new Error(`expected ${folds * perFold * 2} pairs, found ${body.length}`);
    return body.map((f, i) => toPair(f, Math.floor(i / (2 * perFold)), i));
  }
  if (head.length === 1 && Number.isInteger(head[0])) {
    const n = head[0]; // View 1: n same, then n different; fold k = k-th tenth of each half
    if (body.length !== 2 * n) throw new Error(`expected ${2 * n} pairs, found ${body.length}`);
    return body.map((f, i) => toPair(f, Math.min(9, Math.floor(((i % n) * 10) / n)), i));
  }
  throw new Error(`unrecognised first line "${lines[0]}" (expected "N" or "10 300")`);
}

export interface Scored {
  same: boolean;
  /** null: no face in one of the images (counted as wrong). */
  score: number | null;
  fold: number;
}

/** Score used where a face is missing: always on the wrong side of any threshold. */
const wrongSide = (p: Scored) => (p.score !== null ? p.score : p.same ? -Infinity : Infinity);

function accuracyAt(pairs: Scored[], t: number): number {
  let ok = 0;
  for (const p of pairs) if (p.score !== null && (p.score >= t) === p.same) ok++;
  return pairs.length ? ok / pairs.length : 0;
}

/** The threshold (midpoint between adjacent scores) with the best accuracy on `pairs`. */
export function bestThreshold(pairs: Scored[]): number {
  const s = [...new Set(pairs.filter((p) => p.score !== null).map((p) => p.score as number))].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const candidates = [s[0] - 1e-6, ...s.slice(1).map((v, i) => (v + s[i]) / 2), s[s.length - 1] + 1e-6];
  let best = candidates[0];
  let bestAcc = -1;
  for (const t of candidates) {
    const acc = accuracyAt(pairs, t);
    if (acc > bestAcc) {
      bestAcc = acc;
      best = t;
    }
  }
  return best;
}

/** Mean and (population) std of the per-fold accuracies; each fold's threshold comes from the others. */
export function tenFoldAccuracy(pairs: Scored[]): { mean: number; std: number; thresholds: number[] } {
  const folds = [...new Set(pairs.map((p) => p.fold))].sort((a, b) => a - b);
  const accs: number[] = [];
  const thresholds: number[] = [];
  for (const k of folds) {
    const t = bestThreshold(pairs.filter((p) => p.fold !== k));
    thresholds.push(t);
    accs.push(accuracyAt(pairs.filter((p) => p.fold === k), t));
  }
  const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
  const std = Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / accs.length);
  return { mean, std, thresholds };
}

/** Area under the ROC curve (Mann-Whitney, ties count half). */
export function auc(pairs: Scored[]): number {
  const pos = pairs.filter((p) => p.same).map(wrongSide);
  const neg = pairs.filter((p) => !p.same).map(wrongSide).sort((a, b) => a - b);
  if (!pos.length || !neg.length) return NaN;
  let sum = 0;
  for (const s of pos) {
    // count negatives below s and equal to s by binary search
    let lo = 0, hi = neg.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (neg[m] < s) lo = m + 1; else hi = m; }
    let eq = lo;
    while (eq < neg.length && neg[eq] === s) eq++;
    sum += lo + (eq - lo) / 2;
  }
  return sum / (pos.length * neg.length);
}

/**
 * TAR at the strictest threshold whose FAR is at most `far` (accept = score > threshold). With N
 * impostor pairs the resolution is 1/N: for far < 1/N no false accept is allowed.
 */
export function tarAtFar(pairs: Scored[], far: number): { tar: number; threshold: number } {
  const neg = pairs.filter((p) => !p.same).map(wrongSide).sort((a, b) => b - a);
  const pos = pairs.filter((p) => p.same).map(wrongSide);
  const allowed = Math.floor(far * neg.length);
  const threshold = neg.length ? neg[Math.min(allowed, neg.length - 1)] : 0;
  const tar = pos.filter((s) => s > threshold).length / (pos.length || 1);
  return { tar, threshold };
}

/** Equal error rate: the threshold where false accepts and false rejects are closest. */
export function eer(pairs: Scored[]): { rate: number; threshold: number } {
  const pos = pairs.filter((p) => p.same).map(wrongSide);
  const neg = pairs.filter((p) => !p.same).map(wrongSide);
  const ts = [...new Set([...pos, ...neg].filter(Number.isFinite))].sort((a, b) => a - b);
  let best = { rate: 1, threshold: 0, gap: Infinity };
  for (const t of ts) {
    const frr = pos.filter((s) => s < t).length / pos.length;
    const far = neg.filter((s) => s >= t).length / neg.length;
    const gap = Math.abs(far - frr);
    if (gap < best.gap) best = { rate: (far + frr) / 2, threshold: t, gap };
  }
  return { rate: best.rate, threshold: best.threshold };
}

/** False-accept and true-accept rates at fixed thresholds (accept = score >= threshold). */
export function thresholdTable(pairs: Scored[], thresholds: number[]) {
  const pos = pairs.filter((p) => p.same).map(wrongSide);
  const neg = pairs.filter((p) => !p.same).map(wrongSide);
  return thresholds.map((t) => {
    const fa = neg.filter((s) => s >= t).length;
    const ta = pos.filter((s) => s >= t).length;
    return { threshold: t, tar: ta / pos.length, far: fa / neg.length, falseAccepts: fa, impostors: neg.length, trueAccepts: ta, genuine: pos.length };
  });
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
