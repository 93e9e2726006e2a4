/**
 * The open-set calibration arithmetic against brute-force simulation: a synthetic population with
 * "wolves" (people who resemble many others) is calibrated with buildCalibrationFile; the threshold
 * derived for an FPIR target, applied to galleries and strangers drawn from a fresh population of the
 * same kind, accepts strangers at the target rate.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { buildCalibrationFile, hitProbability } from "../../../server/cli/calibrate.ts";
import { CalibrationSchema, expectedFpir, fpirFromFar, farFromFpir, thresholdForFpir, type Calibration } from "../../../lib/service/mod.ts";
import { normalize } from "../../../lib/core/internal.ts";
import { randomUnit, rng } from "../../helpers/vectors.ts";

const D = 96;
// the simulations take seconds on a loaded 2-core machine
setDefaultTimeout(60_000);

/** People: identity + noise + a per-person share of one common direction (wolves resemble many). */
function population(seed: number, people: number, images: number) {
  const rand = rng(seed);
  const common = randomUnit(rng(1), D);
  const out = new Map<string, Float32Array[]>();
  for (let p = 0; p < people; p++) {
    const id = randomUnit(rand, D);
    const h = rand() * rand() * 0.9;
    const list: Float32Array[] = [];
    for (let i = 0; i < images; i++) {
      const noise = randomUnit(rand, D);
      list.push(normalize(Array.from(id, (x, j) => x + 0.55 * noise[j] + h * common[j])));
    }
    out.set(`p${p}`, list);
  }
  return out;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}

/** Brute force: galleries of n people (first image), strangers from outside the gallery; fraction accepted at t. */
function simulatedFpir(people: Map<string, Float32Array[]>, n: number, t: number, trials: number, seed: number, templates = false): number {
  const rand = rng(seed);
  const all = [...people.values()];
  const entries = all.map(([a, b]) => (templates ? normalize(Array.from(a, (x, j) => x + b[j])) : a));
  let accepted = 0;
  for (let k = 0; k < trials; k++) {
    // partial Fisher-Yates: n gallery people and one stranger
    const idx = all.map((_, i) => i);
    for (let i = 0; i <= n; i++) {
      const j = i + Math.floor(rand() * (idx.length - i));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    const stranger = all[idx[n]][1];
    let best = -1;
    for (let i = 0; i < n; i++) best = Math.max(best, dot(stranger, entries[idx[i]]));
    if (best >= t) accepted++;
  }
  return accepted / trials;
}

describe("calibration arithmetic", () => {
  test("hitProbability equals brute-force enumeration of galleries drawn without replacement", () => {
    const rand = rng(3);
    for (const [m, hits, n] of [
      [10, 2, 3],
      [12, 0, 5],
      [9, 4, 6],
      [8, 8, 1],
      [7, 3, 5],
    ]) {
      // enumerate all subsets of size n of m items, of which the first `hits` are hits
      let total = 0;
      let withHit = 0;
      const rec = (start: number, left: number, any: boolean) => {
        if (left === 0) {
          total++;
          if (any) withHit++;
          return;
        }
        for (let i = start; i <= m - left; i++) rec(i + 1, left - 1, any || i < hits);
      };
      rec(0, n, false);
      expect(hitProbability(m, hits, n)).toBeCloseTo(withHit / total, 10);
    }
    expect(rand()).toBeGreaterThanOrEqual(0);
  });

  test("fpirFromFar is 1 − (1 − FAR)^N, precise for tiny rates, and farFromFpir inverts it", () => {
    expect(fpirFromFar(0.1, 3)).toBeCloseTo(1 - 0.9 ** 3, 12);
    expect(fpirFromFar(1e-12, 1000)).toBeCloseTo(1e-9, 15);
    expect(fpirFromFar(0, 10)).toBe(0);
    expect(fpirFromFar(0.2, 0)).toBe(0);
    for (const [f, n] of [
      [0.01, 1680],
      [0.3, 7],
      [1e-6, 100000],
    ]) {
      expect(fpirFromFar(farFromFpir(f, n), n)).toBeCloseTo(f, 10);
    }
  });

  test("the threshold derived for an FPIR target gives that FPIR on simulated galleries and strangers (same and fresh population)", () => {
    const people = population(11, 600, 2);
    const calib: Calibration = CalibrationSchema.parse(buildCalibrationFile({ people, model: "synthetic", source: "test" }));
    expect(calib.fpir!.sizes).toEqual([1, 2, 5, 10, 20, 50, 100, 200, 500]);
    // FAR is non-increasing, FRR non-decreasing
    for (let i = 1; i < calib.far.length; i++) {
      expect(calib.far[i]).toBeLessThanOrEqual(calib.far[i - 1]);
      expect(calib.frr[i]).toBeGreaterThanOrEqual(calib.frr[i - 1]);
    }
    const fresh = population(12345, 600, 2);
    for (const [target, n] of [
      [0.05, 20],
      [0.05, 150], // between measured sizes: interpolated
      [0.1, 400],
    ] as const) {
      const t = thresholdForFpir(calib, target, n);
      expect(expectedFpir(calib, t, n)).toBeCloseTo(target, 3);
      // the arithmetic: brute force on the calibration's own people (4000 trials: standard error ~0.4 %)
      const same = simulatedFpir(people, n, t, 4000, n);
      expect(Math.abs(same - target)).toBeLessThan(target * 0.15);
      // a fresh population of the same kind: sampling of the calibration set adds its own error
      const other = simulatedFpir(fresh, n, t, 4000, n);
      expect(Math.abs(other - target)).toBeLessThan(target * 0.45);
    }
  });

  test("galleries of two-photo templates: their own table, and the threshold derived for them holds the target", () => {
    const people = population(31, 500, 2);
    const calib = CalibrationSchema.parse(buildCalibrationFile({ people, model: "synthetic", source: "test" }));
    expect(calib.fpirTemplates!.sizes.at(-1)).toBe(200);
    const n = 200;
    const t = thresholdForFpir(calib, 0.05, n, n);
    // (4000 trials: standard error 0.34 %)
    const measured = simulatedFpir(people, n, t, 4000, 8, true);
    expect(Math.abs(measured - 0.05)).toBeLessThan(0.05 * 0.2);
    // a mixed company lies between the two
    const mixed = expectedFpir(calib, t, n, n / 2);
    expect(mixed).toBeGreaterThan(Math.min(expectedFpir(calib, t, n, 0), expectedFpir(calib, t, n, n)) - 1e-12);
    expect(mixed).toBeLessThan(Math.max(expectedFpir(calib, t, n, 0), expectedFpir(calib, t, n, n)) + 1e-12);
  });

  test("per-probe measurement beats the independence formula where some strangers resemble many people", () => {
    const people = population(21, 600, 2);
    const calib = CalibrationSchema.parse(buildCalibrationFile({ people, model: "synthetic", source: "test" }));
    const n = 300;
    const noTable: Calibration = { ...calib, fpir: undefined };
    const t = thresholdForFpir(calib, 0.05, n);
    const measured = simulatedFpir(population(99, 600, 2), n, t, 4000, 5);
    const formula = expectedFpir(noTable, t, n);
    const table = expectedFpir(calib, t, n);
    expect(Math.abs(table - measured)).toBeLessThan(Math.abs(formula - measured));
  });
});
