/**
 * Service configuration: one zod schema, filled from the environment by `loadServiceConfig(env)`.
 * Every variable is validated; an invalid one is an INVALID_ARGUMENT naming the variable.
 */
import { availableParallelism, hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { FaceError } from "../core/internal.ts";
import { DEFAULT_QUALITY_BOUNDS, type QualityBounds } from "./quality.ts";

const DEFAULT_SEARCH_THREADS = Math.min(2, availableParallelism());

/**
 * Default FACE_FPIR_TARGET: the fraction of stranger presentations a company may accept as somebody.
 * Each company's threshold is derived from it, the calibration and the company's size (operating-point.ts).
 * Chosen on bench:openset (README, "Accuracy and operating points").
 */
export const DEFAULT_FPIR_TARGET = 0.005;

export const ServiceConfigSchema = z
  .object({
    /**
     * FACE_RECOGNITION_THRESHOLD: a fixed cosine similarity a match needs (0..1), for every company; when
     * set it wins over FPIR targets (the old system's setting). Unset: thresholds follow FACE_FPIR_TARGET.
     */
    recognitionThreshold: z.number().min(0).max(1).optional(),
    /** FACE_FPIR_TARGET: stranger presentations that may be accepted as somebody (per company, by its size). */
    fpirTarget: z.number().min(1e-6).max(0.5).default(DEFAULT_FPIR_TARGET),
    /**
     * FACE_USER_SCORE: how a user is scored against a face: "mean" (their template, the normalised mean of
     * their faces; default: on LFW with two photos per person FNIR at FPIR 1 % 2.4 % vs 2.9 %) or "max"
     * (their best face, the first release's rule).
     */
    userScore: z.enum(["mean", "max"]).default("mean"),
    /** ENROLL_QUALITY: the enrollment quality gate (quality.ts): enforce (default) or off. */
    enrollQuality: z.enum(["enforce", "off"]).default("enforce"),
    /** ENROLL_MIN_FACE_SIZE: shorter side of the enrolled face box, pixels. */
    enrollMinFaceSize: z.number().min(0).max(10_000).default(DEFAULT_QUALITY_BOUNDS.minFaceSize),
    /** ENROLL_MIN_SHARPNESS: variance of the Laplacian of the face at 64x64 grey. */
    enrollMinSharpness: z.number().min(0).default(DEFAULT_QUALITY_BOUNDS.minSharpness),
    /** ENROLL_MAX_YAW / ENROLL_MAX_PITCH / ENROLL_MAX_ROLL: degrees, estimated from the 5 landmarks. */
    enrollMaxYaw: z.number().min(0).max(90).default(DEFAULT_QUALITY_BOUNDS.maxYaw),
    enrollMaxPitch: z.number().min(0).max(90).default(DEFAULT_QUALITY_BOUNDS.maxPitch),
    enrollMaxRoll: z.number().min(0).max(180).default(DEFAULT_QUALITY_BOUNDS.maxRoll),
    /** ENROLL_MIN_DETECTION_SCORE: the detector's confidence. */
    enrollMinDetectionScore: z.number().min(0).max(1).default(DEFAULT_QUALITY_BOUNDS.minDetectionScore),
    /** ENROLL_MAX_SECOND_FACE_RATIO: second-largest face area / the enrolled face's; 1 = no dominance check. */
    enrollMaxSecondFaceRatio: z.number().min(0).max(1).default(DEFAULT_QUALITY_BOUNDS.maxSecondFaceRatio),
    /** FACE_CALIBRATION_FILE: the score calibration (default: the one shipped for the engine's model). */
    calibrationFile: z.string().min(1).optional(),
    /** ENROLL_MULTIPLE_FACES: several faces in an enrollment image: use the largest, or refuse (MULTIPLE_FACES). */
    enrollMultipleFaces: z.enum(["largest", "reject"]).default("largest"),
    /** RECOGNIZE_MAX_FACES: faces per image that recognition embeds (largest/most confident first). */
    recognizeMaxFaces: z.number().int().min(1).max(100).default(20),
    /** DATA_DIR: where the SQLite database lives. */
    dataDir: z.string().min(1).default("./data"),
    /** STORE: sqlite (durable, default) or memory (nothing survives a restart). */
    store: z.enum(["sqlite", "memory"]).default("sqlite"),
    /** SQLITE_SYNCHRONOUS: FULL (default; survives power loss) or NORMAL (survives process crashes). */
    sqliteSynchronous: z.enum(["FULL", "NORMAL"]).default("FULL"),
    /** WORKER_ID: reported by stats and health. */
    workerId: z.string().min(1).max(200).default(() => `${hostname()}-${process.pid}`),
    /** DATA_SOURCE: initial data applied to an empty store at start. */
    dataSource: z.enum(["LOCAL_FILE", "API", "NONE"]).default("NONE"),
    /** DATA_FILE: the initial-data JSON for DATA_SOURCE=LOCAL_FILE (default DATA_DIR/initial_db.json, the old system's name). */
    dataFile: z.string().min(1).optional(),
    /** API_URL: GET returns the initial-data JSON (DATA_SOURCE=API). */
    apiUrl: z.url().optional(),
    /** API_TIMEOUT: seconds, as in the old system. */
    apiTimeout: z.number().positive().max(3600).default(30),
    /**
     * INITIAL_DATA_MODEL: the model id of initial data that names none (the old system's files never do).
     * Unset, such old-format vectors are the old system's model and refused by any other engine.
     */
    initialDataModel: z.string().min(1).max(200).optional(),
    /**
     * SEARCH_THREADS: 2 = companies with ≥ 32768 faces are scanned by this thread and one helper
     * thread. Default 2 where there are 2+ cores: on an idle 2-core machine 1M faces took 31 ms
     * instead of 55 ms (bench/results/search.json); 1 turns it off (e.g. on a loaded machine).
     */
    searchThreads: z.number().int().min(1).max(2).default(DEFAULT_SEARCH_THREADS),
    /** MIN_REVISION_WAIT_MS: how long a call waits for `minRevision` (and a write for its own revision). */
    minRevisionWaitMs: z.number().int().min(0).max(600_000).default(5000),
    /** IDEMPOTENCY_TTL_MS (embedded mode): how long a write's first answer is kept for its retries (default 24 h). */
    idempotencyTtlMs: z.number().int().min(1000).max(30 * 86_400_000).default(86_400_000),
    /** IDEMPOTENCY_MAX_KEYS (embedded mode): keys kept at most, the oldest forgotten first (default 100 000). */
    idempotencyMaxKeys: z.number().int().min(1).max(10_000_000).default(100_000),
  })
  .refine((c) => c.dataSource !== "API" || c.apiUrl !== undefined, {
    message: "DATA_SOURCE=API needs API_URL",
    path: ["apiUrl"],
  });
export type ServiceConfig = z.infer<typeof ServiceConfigSchema>;
export type ServiceConfigInput = z.input<typeof ServiceConfigSchema>;

type Env = Record<string, string | undefined>;

const ENV_NAMES: Record<keyof ServiceConfig, string> = {
  recognitionThreshold: "FACE_RECOGNITION_THRESHOLD",
  fpirTarget: "FACE_FPIR_TARGET",
  userScore: "FACE_USER_SCORE",
  enrollQuality: "ENROLL_QUALITY",
  enrollMinFaceSize: "ENROLL_MIN_FACE_SIZE",
  enrollMinSharpness: "ENROLL_MIN_SHARPNESS",
  enrollMaxYaw: "ENROLL_MAX_YAW",
  enrollMaxPitch: "ENROLL_MAX_PITCH",
  enrollMaxRoll: "ENROLL_MAX_ROLL",
  enrollMinDetectionScore: "ENROLL_MIN_DETECTION_SCORE",
  enrollMaxSecondFaceRatio: "ENROLL_MAX_SECOND_FACE_RATIO",
  calibrationFile: "FACE_CALIBRATION_FILE",
  enrollMultipleFaces: "ENROLL_MULTIPLE_FACES",
  recognizeMaxFaces: "RECOGNIZE_MAX_FACES",
  dataDir: "DATA_DIR",
  store: "STORE",
  sqliteSynchronous: "SQLITE_SYNCHRONOUS",
  workerId: "WORKER_ID",
  dataSource: "DATA_SOURCE",
  dataFile: "DATA_FILE",
  apiUrl: "API_URL",
  apiTimeout: "API_TIMEOUT",
  initialDataModel: "INITIAL_DATA_MODEL",
  minRevisionWaitMs: "MIN_REVISION_WAIT_MS",
  searchThreads: "SEARCH_THREADS",
  idempotencyTtlMs: "IDEMPOTENCY_TTL_MS",
  idempotencyMaxKeys: "IDEMPOTENCY_MAX_KEYS",
};

const NUMERIC = new Set<keyof ServiceConfig>([
  "enrollMinFaceSize",
  "enrollMinSharpness",
  "enrollMaxYaw",
  "enrollMaxPitch",
  "enrollMaxRoll",
  "enrollMinDetectionScore",
  "enrollMaxSecondFaceRatio",
  "recognitionThreshold",
  "fpirTarget", "recognizeMaxFaces", "apiTimeout", "minRevisionWaitMs", "searchThreads",
  "idempotencyTtlMs", "idempotencyMaxKeys"]);
const UPPER = new Set<keyof ServiceConfig>(["dataSource", "sqliteSynchronous"]);
const LOWER = new Set<keyof ServiceConfig>(["enrollMultipleFaces", "store", "userScore", "enrollQuality"]);

/** Validates a config object; errors name the environment variable. */
export function parseServiceConfig(input: Partial<ServiceConfigInput>): ServiceConfig {
  const parsed = ServiceConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => {
    const field = i.path[0] as keyof ServiceConfig | undefined;
    const name = field ? (ENV_NAMES[field] ?? String(field)) : "config";
    return `${name}: ${i.message}`;
  });
  throw new FaceError("INVALID_ARGUMENT", `invalid service configuration: ${issues.join("; ")}`, {
    details: parsed.error.issues,
  });
}

/** Reads the service's environment variables; unset or empty ones take the defaults. */
export function loadServiceConfig(env: Env = process.env): ServiceConfig {
  const raw: Record<string, unknown> = {};
  for (const [field, name] of Object.entries(ENV_NAMES) as Array<[keyof ServiceConfig, string]>) {
    const value = env[name]?.trim();
    if (value === undefined || value === "") continue;
    if (NUMERIC.has(field)) {
      const n = Number(value);
      if (!Number.isFinite(n)) {
        throw new FaceError("INVALID_ARGUMENT", `${name}=${JSON.stringify(value)} is invalid: expected a number`, {
          details: { variable: name, value },
        });
      }
      raw[field] = n;
    } else if (UPPER.has(field)) raw[field] = value.toUpperCase();
    else if (LOWER.has(field)) raw[field] = value.toLowerCase();
    else raw[field] = value;
  }
  return parseServiceConfig(raw as Partial<ServiceConfigInput>);
}

export function databasePath(config: ServiceConfig): string {
  return join(config.dataDir, "facegate.db");
}

export function dataFilePath(config: ServiceConfig): string {
  return config.dataFile ?? join(config.dataDir, "initial_db.json");
}

/** The enrollment quality bounds of a configuration. */
export function qualityBounds(c: ServiceConfig): QualityBounds {
  return {
    minFaceSize: c.enrollMinFaceSize,
    minSharpness: c.enrollMinSharpness,
    maxYaw: c.enrollMaxYaw,
    maxPitch: c.enrollMaxPitch,
    maxRoll: c.enrollMaxRoll,
    minDetectionScore: c.enrollMinDetectionScore,
    maxSecondFaceRatio: c.enrollMaxSecondFaceRatio,
  };
}
