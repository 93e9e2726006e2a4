/**
 * Operating points for open-set 1:N identification (ARCHITECTURE §10).
 *
 * A stranger presented to a company of N enrolled users is compared with all N of them, so the rate at
 * which strangers are accepted as somebody (FPIR) grows with N: FPIR(t) ≈ 1 − (1 − FAR(t))^N for a
 * per-comparison false-accept rate FAR(t). The calibration (shipped next to the model, produced by
 * `facegate calibrate`) holds FAR(t) and FRR(t) on a threshold grid and, where measured, FPIR(t, N) for a
 * few gallery sizes N: measured per probe, which accounts for probes that resemble many people (the
 * independence formula averages them away), for galleries of single photos and of two-photo templates.
 * From it and the company's current size (and how many users have 2+ faces), the threshold for
 * an FPIR target is derived at every decision. Precedence: explicit FACE_RECOGNITION_THRESHOLD, then
 * the company's own setting (threshold or FPIR target), then FACE_FPIR_TARGET.
 */
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { FaceError } from "../core/internal.ts";

const FpirTableSchema = z.object({
  sizes: z.array(z.number().int().positive()).min(1),
  values: z.array(z.array(z.number().min(0).max(1))),
  probes: z.number().int().positive(),
});
type FpirTable = z.infer<typeof FpirTableSchema>;

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
    /** Measured FPIR(t, N) for galleries of single photos of `sizes` (ascending) people, one row per size. Optional. */
    fpir: FpirTableSchema.optional(),
    /** The same for galleries of templates (normalised mean of two photos). Optional. */
    fpirTemplates: FpirTableSchema.optional(),
  })
  .refine((c) => c.far.length === c.thresholds.length, { message: "far must have one value per threshold" })
  .refine((c) => c.frr.length === 0 || c.frr.length === c.thresholds.length, { message: "frr must have one value per threshold" })
  .refine(
    (c) =>
      [c.fpir, c.fpirTemplates].every((t) => !t || (t.values.length === t.sizes.length && t.values.every((r) => r.length === c.thresholds.length))),
    { message: "fpir tables must have one row per size and one value per threshold" },
  );
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
 * The effective per-comparison false-accept rate at threshold index `j` in a gallery of n users: a
 * measured row turned into the rate that gives its FPIR over its size (farFromFpir), interpolated in
 * log n between measured sizes (past the largest, the largest's rate: the formula's growth in n);
 * without a table, the pooled FAR.
 */
function effectiveFar(c: Calibration, table: FpirTable | undefined, j: number, n: number): number {
  if (!table) return c.far[j];
  const { sizes, values } = table;
  const eff = (i: number) => farFromFpir(values[i][j], sizes[i]);
  if (n <= sizes[0]) return eff(0);
  if (n >= sizes[sizes.length - 1]) return eff(sizes.length - 1);
  let i = 0;
  while (sizes[i + 1] < n) i++;
  const w = (Math.log(n) - Math.log(sizes[i])) / (Math.log(sizes[i + 1]) - Math.log(sizes[i]));
  return eff(i) * (1 - w) + eff(i + 1) * w;
}

/**
 * Expected FPIR at threshold index `j` for a gallery of n users, `templates` of whom have 2+ faces (matched
 * by their template): 1 − (1 − e₁)^(n − templates) · (1 − e₂)^templates with the effective rates of the
 * single-photo and template tables at size n.
 */
function fpirAtIndex(c: Calibration, j: number, n: number, templates = 0): number {
  if (n <= 0) return 0;
  const m = Math.min(Math.max(0, templates), n);
  const e1 = effectiveFar(c, c.fpir, j, n);
  const e2 = c.fpirTemplates ? effectiveFar(c, c.fpirTemplates, j, n) : e1;
  const logNone = (n - m) * Math.log1p(-Math.min(e1, 1 - 1e-15)) + m * Math.log1p(-Math.min(e2, 1 - 1e-15));
  return -Math.expm1(logNone);
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

/** Expected FPIR at any threshold t for n users, `templates` of them with 2+ faces (interpolated between grid points). */
export function expectedFpir(c: Calibration, t: number, n: number, templates = 0): number {
  const ts = c.thresholds;
  if (t <= ts[0]) return fpirAtIndex(c, 0, n, templates);
  if (t >= ts[ts.length - 1]) return fpirAtIndex(c, ts.length - 1, n, templates);
  let j = 0;
  while (ts[j + 1] <= t) j++;
  const w = (t - ts[j]) / (ts[j + 1] - ts[j]);
  const a = fpirAtIndex(c, j, n, templates);
  const b = fpirAtIndex(c, j + 1, n, templates);
  // interpolate in log space where both are positive (the tail is roughly exponential in t)
  if (a > 0 && b > 0) return Math.exp(Math.log(a) * (1 - w) + Math.log(b) * w);
  return a * (1 - w) + b * w;
}

/** Smallest threshold whose expected FPIR for n users (`templates` with 2+ faces) is ≤ target (the most genuine accepts). */
export function thresholdForFpir(c: Calibration, target: number, n: number, templates = 0): number {
  const ts = c.thresholds;
  const users = Math.max(1, n);
  let j = 0;
  while (j < ts.length && fpirAtIndex(c, j, users, templates) > target) j++;
  if (j === 0) return ts[0];
  if (j === ts.length) return ts[ts.length - 1];
  // FPIR crosses the target between grid points j-1 and j: bisect on the interpolated curve
  let lo = ts[j - 1];
  let hi = ts[j];
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (expectedFpir(c, mid, users, templates) > target) lo = mid;
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
  /** Of them, users with 2+ faces (matched by their template). */
  templates: number;
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

  private derive(target: number, users: number, templates: number): number {
    const c = this.o.calibration!;
    // thresholds are cached per (target, size): a recognition must not bisect the curve every time
    const key = `${target}:${users}:${templates}`;
    let t = this.cache.get(key);
    if (t === undefined) {
      t = thresholdForFpir(c, target, users, templates);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, t);
    }
    return t;
  }

  /** `users` enrolled, `templates` of them with 2+ faces (scored by their template). */
  resolve(companyId: string, users: number, templates = 0): OperatingPointInForce {
    const c = this.o.calibration;
    const expected = (t: number) => (c ? expectedFpir(c, t, users, templates) : null);
    if (this.o.explicitThreshold !== undefined) {
      const t = this.o.explicitThreshold;
      return { threshold: t, source: "explicit", users, templates, fpirTarget: null, expectedFpir: expected(t) };
    }
    const own = this.o.companySettings?.(companyId);
    if (own?.threshold !== undefined) {
      return { threshold: own.threshold, source: "company_threshold", users, templates, fpirTarget: null, expectedFpir: expected(own.threshold) };
    }
    const target = own?.fpirTarget ?? this.o.fpirTarget;
    if (!c) return { threshold: DEFAULT_PAIR_THRESHOLD, source: "uncalibrated_default", users, templates, fpirTarget: target, expectedFpir: null };
    const t = this.derive(target, users, templates);
    return {
      threshold: t,
      source: own?.fpirTarget !== undefined ? "company_fpir_target" : "fpir_target",
      users,
      templates,
      fpirTarget: target,
      expectedFpir: expected(t),
    };
  }
}
