/**
 * Engine configuration: one zod schema, filled from the environment by `loadEngineConfig`.
 * Environment values are strings; each is converted and validated here, and an error names the variable.
 */
import { z } from "zod";
import { FaceError } from "../core/mod.ts";
import { DEFAULT_IMAGE_LIMITS } from "./image/image.ts";

/** The recognizers FACE_EMBEDDERS may name (models/manifest.json). */
export const EMBEDDER_NAMES = ["fr_feature", "mobilefacenet"] as const;
export type EmbedderName = (typeof EMBEDDER_NAMES)[number];

export const ImageLimitsSchema = z.object({
  /** Encoded size limit in bytes (MAX_IMAGE_BYTES). */
  maxBytes: z.number().int().positive().default(DEFAULT_IMAGE_LIMITS.maxBytes),
  /** Width x height of the original, checked on the header before decoding (MAX_IMAGE_PIXELS). */
  maxPixels: z.number().int().positive().default(DEFAULT_IMAGE_LIMITS.maxPixels),
  /** Longest side of the original, checked before decoding (MAX_IMAGE_SIDE). */
  maxDimension: z.number().int().positive().default(DEFAULT_IMAGE_LIMITS.maxDimension),
  /** Longer images are downscaled to this before detection (not configurable from the environment). */
  downscaleTo: z.number().int().min(64).default(DEFAULT_IMAGE_LIMITS.downscaleTo),
});

export const EngineConfigSchema = z.object({
  /** FACE_ENGINE */
  engine: z.enum(["onnx", "human"]).default("onnx"),
  /**
   * FACE_DETECTION_THRESHOLD: detector score a face needs (0..1). 0.85, not 0.7: the mandrill test
   * image's eye scores 0.835, while every centred LFW face scores >= 0.95 (docs/engine.md).
   */
  detectionThreshold: z.number().min(0).max(1).default(0.85),
  /** IoU above which the lower-scored of two boxes is suppressed. */
  nmsIou: z.number().min(0).max(1).default(0.3),
  /** MIN_FACE_SIZE: faces whose box is narrower or lower than this (original image pixels) are dropped. */
  minFaceSize: z.number().min(0).max(10_000).default(40),
  /** ORT_THREADS: intra-op threads per ONNX session (1 was 2x faster than 2 on the 2-core machines). */
  ortThreads: z.number().int().min(1).max(256).default(1),
  /** FACE_EXECUTION_PROVIDER: auto = CUDA when its library is present, CPU otherwise. */
  executionProvider: z.enum(["auto", "cpu", "cuda"]).default("auto"),
  /**
   * FACE_EMBEDDERS: the recognizer(s). One name, or two for score-level fusion: both run on every face and
   * the embedding is the fused vector (lib/engine/onnx/fusion.ts). INSIGHTFACE_RECOGNIZER replaces the first.
   */
  embedders: z
    .array(z.enum(EMBEDDER_NAMES))
    .min(1)
    .max(2)
    .refine((a) => new Set(a).size === a.length, { message: "a recognizer may be named only once" })
    .default(["fr_feature"]),
  /** INSIGHTFACE_DETECTOR: path of an SCRFD-style detector ONNX file (replaces fr_detect + fr_landmark). */
  insightfaceDetector: z.string().min(1).optional(),
  /** INSIGHTFACE_RECOGNIZER: path of an ArcFace-style recognizer ONNX file (replaces fr_feature). */
  insightfaceRecognizer: z.string().min(1).optional(),
  /**
   * FACE_ENGINE_WORKERS: run the engine in this many worker threads (0 = in the calling thread).
   * ORT's session.run blocks its thread for the whole inference; servers should use >= 1.
   */
  workers: z.number().int().min(0).max(64).default(0),
  /**
   * FACE_ENGINE_TIMEOUT_MS: with workers, a call not answered within this fails with TIMEOUT and its
   * worker is replaced (a stuck worker must not hold admission slots forever).
   */
  callTimeoutMs: z.number().int().min(1).max(600_000).default(30_000),
  imageLimits: ImageLimitsSchema.default(ImageLimitsSchema.parse({})),
});
export type EngineConfig = z.infer<typeof EngineConfigSchema>;
export type EngineConfigInput = z.input<typeof EngineConfigSchema>;

type Env = Record<string, string | undefined>;

function invalid(variable: string, value: string, expected: string): FaceError {
  return new FaceError("INVALID_ARGUMENT", `${variable}=${JSON.stringify(value)} is invalid: expected ${expected}`, {
    details: { variable, value },
  });
}

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === "" ? undefined : value;
}

function num(env: Env, name: string, expected: string, check: (n: number) => boolean): number | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || !check(n)) throw invalid(name, raw, expected);
  return n;
}

function choice<T extends string>(env: Env, name: string, values: readonly T[]): T | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  const v = raw.toLowerCase() as T;
  if (!values.includes(v)) throw invalid(name, raw, `one of ${values.join(", ")}`);
  return v;
}

function list<T extends string>(env: Env, name: string, values: readonly T[]): T[] | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  const items = raw.split(",").map((v) => v.trim().toLowerCase());
  const expected = `one or two of ${values.join(", ")}, comma-separated, each once`;
  if (items.length > 2 || new Set(items).size !== items.length || !items.every((v) => (values as readonly string[]).includes(v))) {
    throw invalid(name, raw, expected);
  }
  return items as T[];
}

const posInt = (n: number) => Number.isInteger(n) && n > 0;

/** Reads the engine's environment variables; unset or empty ones take the defaults. */
export function loadEngineConfig(env: Env = process.env): EngineConfig {
  const raw = {
    engine: choice(env, "FACE_ENGINE", ["onnx", "human"] as const),
    detectionThreshold: num(env, "FACE_DETECTION_THRESHOLD", "a number from 0 to 1", (n) => n >= 0 && n <= 1),
    minFaceSize: num(env, "MIN_FACE_SIZE", "a number of pixels from 0 to 10000", (n) => n >= 0 && n <= 10_000),
    ortThreads: num(env, "ORT_THREADS", "a positive integer", (n) => posInt(n) && n <= 256),
    executionProvider: choice(env, "FACE_EXECUTION_PROVIDER", ["auto", "cpu", "cuda"] as const),
    workers: num(env, "FACE_ENGINE_WORKERS", "an integer from 0 to 64", (n) => Number.isInteger(n) && n >= 0 && n <= 64),
    callTimeoutMs: num(env, "FACE_ENGINE_TIMEOUT_MS", "an integer from 1 to 600000 (ms)", (n) => posInt(n) && n <= 600_000),
    embedders: list(env, "FACE_EMBEDDERS", EMBEDDER_NAMES),
    insightfaceDetector: text(env, "INSIGHTFACE_DETECTOR"),
    insightfaceRecognizer: text(env, "INSIGHTFACE_RECOGNIZER"),
    imageLimits: {
      maxBytes: num(env, "MAX_IMAGE_BYTES", "a positive integer (bytes)", posInt),
      maxPixels: num(env, "MAX_IMAGE_PIXELS", "a positive integer (width x height)", posInt),
      maxDimension: num(env, "MAX_IMAGE_SIDE", "a positive integer (pixels)", posInt),
    },
  };
  return parseEngineConfig(raw);
}

/** Validates a configuration object (defaults filled in); errors are FaceError INVALID_ARGUMENT. */
export function parseEngineConfig(input: unknown): EngineConfig {
  const result = EngineConfigSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join(".") || "(config)"}: ${i.message}`);
  throw new FaceError("INVALID_ARGUMENT", `invalid engine configuration: ${issues.join("; ")}`, {
    details: result.error.issues,
  });
}

/** Environment defaults, then the explicit overrides (image limits merged field by field). */
export function resolveEngineConfig(overrides: Partial<EngineConfigInput> = {}, env: Env = process.env): EngineConfig {
  const base = loadEngineConfig(env);
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return parseEngineConfig({ ...base, ...defined, imageLimits: { ...base.imageLimits, ...(overrides.imageLimits ?? {}) } });
}
