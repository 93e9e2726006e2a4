/**
 * Operating points for open-set 1:N identification (ARCHITECTURE §10).
 *
 * A stranger presented to a company of N enrolled users is compared with all N of them, so the rate at
 * which strangers are accepted as somebody (FPIR) grows with N: FPIR(t) ≈ 1 − (1 − FAR(t))^N for a
 * per-comparison false-accept rate FAR(t). The calibration (shipped next to the model, produced by
 * `facegate calibrate`) holds FAR(t) and FRR(t) on a threshold grid and, where measured, FPIR(t, N) for a
 * few gallery sizes N: measured per probe, which accounts for probes that resemble many people (the
 * independence formula averages them away). From it and the company's current size, the threshold for
 * an FPIR target is derived at every decision. Precedence: explicit FACE_RECOGNITION_THRESHOLD, then
 * the company's own setting (threshold or FPIR target), then FACE_FPIR_TARGET.
 */
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { FaceError } from "../core/errors.ts";

export const CalibrationSchema = z
  .object({
    version: z.literal(1),
    model: z.string().min(1),
    /** Where the scores came from (data set, protocol). */
    source: z.string(),
    created: z.string(),
    genuinePairs: z.number().int().nonnegative(),
    impostorPairs: z.number().int().positive(),
    /** Ascending threshold grid. */
    thresholds: z.array(z.number().min(-1).max(1)).min(2),
    /** Per threshold: impostor comparisons scoring ≥ t / impostor comparisons. Non-increasing. */
    far: z.array(z.number().min(0).max(1)),
    /** Per threshold: genuine comparisons scoring < t / genuine comparisons (empty without genuine pairs). */
    frr: z.array(z.number().min(0).max(1)),
    /** Measured FPIR(t, N) for gallery sizes `sizes` (ascending), one row per size. Optional. */
    fpir: z
      .object({
        sizes: z.array(z.number().int().positive()).min(1),
        values: z.array(z.array(z.number().min(0).max(1))),
        probes: z.number().int().positive(),
      })
      .optional(),
  })
  .refine((c) => c.far.length === c.thresholds.length, { message: "far must have one value per threshold" })
  .refine((c) => c.frr.length === 0 || c.frr.length === c.thresholds.length, { message: "frr must have one value per threshold" })
  .refine((c) => !c.fpir || (c.fpir.values.length === c.fpir.sizes.length && c.fpir.values.every((r) => r.length === c.thresholds.length)), {
    message: "fpir.values must have one row per size and one value per threshold",
  });
export type Calibration = z.infer<typeof CalibrationSchema>;

/** 1 − (1 − far)^n without cancellation for tiny far. */
export function fpirFromFar(far: number, n: number): number {
  if (n <= 0 || far <= 0) return 0;
  if (far >= 1) return 1;
  return -Math.expm1(n * Math.log1p(-far));
}

/** The per-comparison rate that gives `fpir` over n independent comparisons (inverse of fpirFromFar). */
export function farFromFpir(fpir: number, n: number): number {
  if (n <= 0 || fpir <= 0) return 0;
  if (fpir >= 1) return 1;
  return -Math.expm1(Math.log1p(-fpir) / n);
}

/**
 * Expected FPIR at threshold index `j` for a gallery of n users. With measured rows: the rows are
 * turned into effective per-comparison rates (farFromFpir), interpolated in log n, and turned back; past
 * the largest measured size the largest one's effective rate is used (the formula's growth in n). Without
 * rows: the independence formula on the pooled FAR.
 */
function fpirAtIndex(c: Calibration, j: number, n: number): number {
  if (n <= 0) return 0;
  const rows = c.fpir;
  if (!rows) return fpirFromFar(c.far[j], n);
  const { sizes, values } = rows;
  const eff = (i: number) => farFromFpir(values[i][j], sizes[i]);
  if (n <= sizes[0]) {
    // below the smallest measured size: scale the pooled FAR by how the measured point compares with it
    return fpirFromFar(Math.min(1, eff(0)), n);
  }
  if (n >= sizes[sizes.length - 1]) return fpirFromFar(eff(sizes.length - 1), n);
  let i = 0;
  while (sizes[i + 1] < n) i++;
  const w = (Math.log(n) - Math.log(sizes[i])) / (Math.log(sizes[i + 1]) - Math.log(sizes[i]));
  return fpirFromFar(eff(i) * (1 - w) + eff(i + 1) * w, n);
}

/** Linear interpolation of a per-threshold series at threshold t (clamped to the grid). */
function at(c: Calibration, series: readonly number[], t: number): number {
  const ts = c.thresholds;
  if (t <= ts[0]) return series[0];
  if (t >= ts[ts.length - 1]) return series[ts.length - 1];
  let lo = 0;
  let hi = ts.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (ts[mid] <= t) lo = mid;
    else hi = mid;
  }
  const w = (t - ts[lo]) / (ts[hi] - ts[lo]);
  return series[lo] * (1 - w) + series[hi] * w;
}

/** Expected FPIR at any threshold t for n users (interpolated between grid points). */
export function expectedFpir(c: Calibration, t: number, n: number): number {
  const ts = c.thresholds;
  if (t <= ts[0]) return fpirAtIndex(c, 0, n);
  if (t >= ts[ts.length - 1]) return fpirAtIndex(c, ts.length - 1, n);
  let j = 0;
  while (ts[j + 1] <= t) j++;
  const w = (t - ts[j]) / (ts[j + 1] - ts[j]);
  const a = fpirAtIndex(c, j, n);
  const b = fpirAtIndex(c, j + 1, n);
  // interpolate in log space where both are positive (the tail is roughly exponential in t)
  if (a > 0 && b > 0) return Math.exp(Math.log(a) * (1 - w) + Math.log(b) * w);
  return a * (1 - w) + b * w;
}

/** Smallest threshold whose expected FPIR for n users is ≤ target (the most genuine accepts). */
export function thresholdForFpir(c: Calibration, target: number, n: number): number {
  const ts = c.thresholds;
  const users = Math.max(1, n);
  let j = 0;
  while (j < ts.length && fpirAtIndex(c, j, users) > target) j++;
  if (j === 0) return ts[0];
  if (j === ts.length) return ts[ts.length - 1];
  // FPIR crosses the target between grid points j-1 and j: bisect on the interpolated curve
  let lo = ts[j - 1];
  let hi = ts[j];
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (expectedFpir(c, mid, users) > target) lo = mid;
    else hi = mid;
  }
  return hi;
}

export function farAt(c: Calibration, t: number): number {
  return at(c, c.far, t);
}

export function frrAt(c: Calibration, t: number): number | null {
  return c.frr.length ? at(c, c.frr, t) : null;
}

/** The calibration shipped for a model id (models/calibration/<model>.json), or null when there is none. */
export function shippedCalibrationPath(modelId: string): string {
  return fileURLToPath(new URL(`../../models/calibration/${modelId}.json`, import.meta.url));
}

export function loadCalibration(path: string): Calibration {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new FaceError("INVALID_ARGUMENT", `calibration ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const parsed = CalibrationSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FaceError("INVALID_ARGUMENT", `calibration ${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  return parsed.data;
}

/** FACE_CALIBRATION_FILE, else the shipped one for the model when it exists, else null. */
export function findCalibration(modelId: string, file?: string): Calibration | null {
  if (file) return loadCalibration(file);
  const path = shippedCalibrationPath(modelId);
  return existsSync(path) ? loadCalibration(path) : null;
}

// ---------------------------------------------------------------- the policy

export type ThresholdSource = "explicit" | "company_threshold" | "company_fpir_target" | "fpir_target" | "uncalibrated_default";

/** A company's own operating point, set through the API (`PUT .../operating-point`). */
export interface CompanyOperatingSettings {
  fpirTarget?: number;
  threshold?: number;
}

export interface OperatingPointInForce {
  threshold: number;
  source: ThresholdSource;
  /** Users enrolled (the N of the FPIR formula). */
  users: number;
  /** The FPIR target in force (null when a threshold is set instead). */
  fpirTarget: number | null;
  /** FPIR expected at `threshold` for `users` (null without a calibration). */
  expectedFpir: number | null;
}

/** Used when nothing is calibrated for the engine's model: the pair threshold of the first release. */
export const DEFAULT_PAIR_THRESHOLD = 0.4;

export interface ThresholdPolicyOptions {
  calibration: Calibration | null;
  /** FACE_RECOGNITION_THRESHOLD (explicit: wins over everything). */
  explicitThreshold?: number;
  /** FACE_FPIR_TARGET. */
  fpirTarget: number;
  /** Per-company settings, when any. */
  companySettings?: (companyId: string) => CompanyOperatingSettings | undefined;
}

export class ThresholdPolicy {
  private readonly cache = new Map<string, number>();

  constructor(private readonly o: ThresholdPolicyOptions) {}

  get calibration(): Calibration | null {
    return this.o.calibration;
  }

  private derive(target: number, users: number): number {
    const c = this.o.calibration!;
    // thresholds are cached per (target, size): a recognition must not bisect the curve every time
    const key = `${target}:${users}`;
    let t = this.cache.get(key);
    if (t === undefined) {
      t = thresholdForFpir(c, target, users);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, t);
    }
    return t;
  }

  resolve(companyId: string, users: number): OperatingPointInForce {
    const c = this.o.calibration;
    const expected = (t: number) => (c ? expectedFpir(c, t, users) : null);
    if (this.o.explicitThreshold !== undefined) {
      const t = this.o.explicitThreshold;
      return { threshold: t, source: "explicit", users, fpirTarget: null, expectedFpir: expected(t) };
    }
    const own = this.o.companySettings?.(companyId);
    if (own?.threshold !== undefined) {
      return { threshold: own.threshold, source: "company_threshold", users, fpirTarget: null, expectedFpir: expected(own.threshold) };
    }
    const target = own?.fpirTarget ?? this.o.fpirTarget;
    if (!c) return { threshold: DEFAULT_PAIR_THRESHOLD, source: "uncalibrated_default", users, fpirTarget: target, expectedFpir: null };
    const t = this.derive(target, users);
    return {
      threshold: t,
      source: own?.fpirTarget !== undefined ? "company_fpir_target" : "fpir_target",
      users,
      fpirTarget: target,
      expectedFpir: expected(t),
    };
  }
}
