/**
 * zod schemas for every boundary type; TypeScript types are inferred from them.
 * Field names are camelCase here; transports that speak snake_case (HTTP) map at their edge.
 */
import { z } from "zod";
import { UserMetadataSchema, UserNameSchema } from "./user-profile.ts";

// ---------------------------------------------------------------- ids, images, vectors

/**
 * Company, user and face ids: 1..128 characters, no control characters, not blank, and no whitespace
 * at either end (refused, not trimmed: "acme " is a typo to report, not a second company). Unicode is
 * normalised to NFC, so "Café" typed as C-a-f-e + combining accent and as C-a-f-é is one id (the
 * form stored, compared and answered is NFC). docs/core.md, "Ids".
 */
export const IdSchema = z
  .string()
  .min(1, "must not be empty")
  .max(128, "at most 128 characters")
  .regex(/^[^\u0000-\u001f\u007f]+$/, "must not contain control characters")
  .refine((s) => s.trim().length > 0, "must not be blank")
  .refine((s) => s.trim() === s, "must not start or end with whitespace")
  .overwrite((s) => s.normalize("NFC"));
export const CompanyIdSchema = IdSchema;
export const UserIdSchema = IdSchema;
export const FaceIdSchema = IdSchema;

/** An image: raw bytes, or base64 text (a `data:image/...;base64,` prefix is accepted). */
export const ImageInputSchema = z.union([
  // any Uint8Array (also over a SharedArrayBuffer / Buffer pool): typed as Uint8Array<ArrayBufferLike>
  z.custom<Uint8Array>((v) => v instanceof Uint8Array, "expected bytes"),
  z.instanceof(ArrayBuffer),
  z.string().min(1, "image must not be empty"),
]);
export type ImageInput = z.infer<typeof ImageInputSchema>;

/** An embedding on the wire: finite numbers (zod 4 rejects NaN and Infinity). */
export const EmbeddingSchema = z.array(z.number()).min(1).max(4096);
export type EmbeddingArray = z.infer<typeof EmbeddingSchema>;

/** [x, y, width, height] in pixels of the (EXIF-rotated, possibly downscaled-then-rescaled) input image. */
export const BBoxSchema = z.tuple([z.number(), z.number(), z.number(), z.number()]);
export type BBox = z.infer<typeof BBoxSchema>;

export const PointSchema = z.tuple([z.number(), z.number()]);
export type Point = z.infer<typeof PointSchema>;

export const ModelIdSchema = z.string().min(1).max(200);

export const RevisionSchema = z.number().int().nonnegative();

// ---------------------------------------------------------------- engine-level results

/** A detected face: box, detector score, and 5 landmarks (left eye, right eye, nose, left mouth, right mouth). */
export const DetectedFaceSchema = z.object({
  bbox: BBoxSchema,
  score: z.number(),
  landmarks: z.array(PointSchema),
});
export type DetectedFace = z.infer<typeof DetectedFaceSchema>;

/**
 * One model inside a fused embedding: its slice of the vector (`offset`, `dim`) holds that model's unit
 * embedding scaled by √weight, so the fused cosine is Σ weight · cosine of the models (lib/engine/onnx/fusion.ts).
 */
export const EmbeddingPartSchema = z.object({
  modelId: ModelIdSchema,
  offset: z.number().int().nonnegative(),
  dim: z.number().int().positive(),
  weight: z.number().positive().max(1),
});
export type EmbeddingPart = z.infer<typeof EmbeddingPartSchema>;

export const EngineInfoSchema = z.object({
  engine: z.string(),
  backend: z.string(),
  modelId: ModelIdSchema,
  embeddingDim: z.number().int().positive(),
  models: z.array(z.string()),
  /** With FACE_EMBEDDERS naming two models: the models whose embeddings the fused vector holds. */
  parts: z.array(EmbeddingPartSchema).optional(),
});
export type EngineInfo = z.infer<typeof EngineInfoSchema>;

// ---------------------------------------------------------------- requests

export const CompanyRequestSchema = z.object({ companyId: CompanyIdSchema });
export type CompanyRequest = z.infer<typeof CompanyRequestSchema>;

export const UserRequestSchema = z.object({ companyId: CompanyIdSchema, userId: UserIdSchema });
export type UserRequest = z.infer<typeof UserRequestSchema>;

export const FaceRequestSchema = z.object({
  companyId: CompanyIdSchema,
  userId: UserIdSchema,
  faceId: FaceIdSchema,
});
export type FaceRequest = z.infer<typeof FaceRequestSchema>;

/**
 * createUser and addFace: the image is embedded once, the result fans out through the store.
 * `name` and `metadata` are the new user's (createUser; addFace ignores them: change them with updateUser).
 */
export const EnrollRequestSchema = FaceRequestSchema.extend({
  image: ImageInputSchema,
  name: UserNameSchema.optional(),
  metadata: UserMetadataSchema.optional(),
});
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;

/** Changes a user's name and metadata: absent = unchanged, null = removed. */
export const UpdateUserRequestSchema = UserRequestSchema.extend({
  name: UserNameSchema.nullable().optional(),
  metadata: UserMetadataSchema.nullable().optional(),
});
export type UpdateUserRequest = z.infer<typeof UpdateUserRequestSchema>;

export const RecognizeRequestSchema = z.object({
  companyId: CompanyIdSchema,
  image: ImageInputSchema,
  /** Overrides the company's threshold for this call (cosine similarity). */
  threshold: z.number().min(-1).max(1).optional(),
  /** Also return each face's landmarks (5 points, and the 68 when the engine has them): the kiosk's liveness reads them. */
  landmarks: z.boolean().optional(),
  /** Also return each face's L2-normalised embedding (e.g. for multi-frame aggregation and `searchEmbedding`). */
  returnEmbeddings: z.boolean().optional(),
  /** Also return each model's own score of the top match (`modelScores`; with fused recognizers, one per model). */
  modelScores: z.boolean().optional(),
});
export type RecognizeRequest = z.infer<typeof RecognizeRequestSchema>;

/** Search a company by an embedding (CompreFace's "embeddings recognition"): no image, no engine work. */
export const SearchEmbeddingRequestSchema = z.object({
  companyId: CompanyIdSchema,
  /** The query: finite numbers of the company's model dimension; normalised by the service. */
  embedding: EmbeddingSchema,
  /** Users to return under `matches` (best first); default 1. */
  topK: z.number().int().min(1).max(100).optional(),
  /** Overrides the company's threshold for this call (cosine similarity). */
  threshold: z.number().min(-1).max(1).optional(),
  /**
   * The model that produced the query (EngineInfo.modelId; what enroll and recognize answers name).
   * Another model than the company's is MODEL_MISMATCH, never searched; absent: the engine's.
   */
  model: ModelIdSchema.optional(),
  /** Also return each model's own score of the top match. */
  modelScores: z.boolean().optional(),
});
export type SearchEmbeddingRequest = z.infer<typeof SearchEmbeddingRequestSchema>;

export const ImageRequestSchema = z.object({ image: ImageInputSchema });
export type ImageRequest = z.infer<typeof ImageRequestSchema>;

export const DistanceMetricSchema = z.enum(["cosine", "euclidean"]);
export type DistanceMetric = z.infer<typeof DistanceMetricSchema>;

export const CompareRequestSchema = z.object({
  queryEmbedding: EmbeddingSchema,
  referenceEmbeddings: z.array(z.object({ id: z.string().min(1).max(256), embedding: EmbeddingSchema })).max(100_000),
  distanceMetric: DistanceMetricSchema.default("cosine"),
});
export type CompareRequest = z.input<typeof CompareRequestSchema>;

export const VerifyRequestSchema = z.object({
  image1: ImageInputSchema,
  image2: ImageInputSchema,
  threshold: z.number().min(-1).max(1).optional(),
});
export type VerifyRequest = z.infer<typeof VerifyRequestSchema>;

/** Per-call options. `minRevision`: wait (bounded) until this store revision is applied (read-your-writes). */
/** How many times smaller an image is than the original it was made from (>= 1). */
const ImageScaleSchema = z.number().min(1).max(1000);

/** An Idempotency-Key: 1-255 visible ASCII characters (no spaces, no control characters). */
export const IDEMPOTENCY_KEY_MAX = 255;
export const IdempotencyKeySchema = z
  .string()
  .min(1, "must not be empty")
  .max(IDEMPOTENCY_KEY_MAX, `at most ${IDEMPOTENCY_KEY_MAX} characters`)
  .regex(/^[\x21-\x7e]+$/, "visible ASCII characters only (no spaces or control characters)");

export const CallOptionsSchema = z.object({
  minRevision: RevisionSchema.optional(),
  /**
   * Writes only: the caller's key for this request. A retry with the same key (after a lost answer,
   * on any worker) gets the first attempt's answer instead of running again (lib/service/idempotency.ts).
   */
  idempotencyKey: IdempotencyKeySchema.optional(),
  /**
   * getCacheStats only: "companies" (default) maps every company (grows with tenants: ~180 bytes
   * each); "totals" leaves the per-company maps empty (a fixed-size answer); `statsCompanyId`
   * maps only that company.
   */
  statsDetail: z.enum(["totals", "companies"]).optional(),
  statsCompanyId: z.string().min(1).max(1024).optional(),
  timeoutMs: z.number().int().positive().max(600_000).optional(),
  /**
   * Per image field, the factor by which the image was downscaled before it was sent (the NATS
   * gateway sends large photos at the engine's working size). Faces come back, and size limits
   * (MIN_FACE_SIZE, the enrollment quality gate) apply, in the original's pixels, as if the
   * original had been sent.
   */
  imageScales: z
    .object({ image: ImageScaleSchema.optional(), image1: ImageScaleSchema.optional(), image2: ImageScaleSchema.optional() })
    .strict()
    .optional(),
});
export type CallOptions = z.infer<typeof CallOptionsSchema>;

// ---------------------------------------------------------------- results

export const CreateCompanyResultSchema = z.object({
  companyId: CompanyIdSchema,
  created: z.boolean(),
  revision: RevisionSchema.optional(),
});
export type CreateCompanyResult = z.infer<typeof CreateCompanyResultSchema>;

export const DeleteResultSchema = z.object({ deleted: z.boolean(), revision: RevisionSchema.optional() });
export type DeleteResult = z.infer<typeof DeleteResultSchema>;

export const EnrollResultSchema = z.object({
  companyId: CompanyIdSchema,
  userId: UserIdSchema,
  faceId: FaceIdSchema,
  embedding: EmbeddingSchema,
  detectionScore: z.number(),
  bbox: BBoxSchema,
  model: ModelIdSchema,
  revision: RevisionSchema.optional(),
  /** Faces detected in the photo; the largest one was enrolled (its box is `bbox`). */
  facesFound: z.number().int().min(1).optional(),
  /** The user's display name, when they have one. */
  name: z.string().optional(),
});
export type EnrollResult = z.infer<typeof EnrollResultSchema>;

export const UserFacesResultSchema = z.object({ faceIds: z.array(FaceIdSchema) });

/** One user: their name and metadata when they have any, and their face ids. */
export const UserInfoSchema = z.object({
  companyId: CompanyIdSchema,
  userId: UserIdSchema,
  name: UserNameSchema.optional(),
  metadata: UserMetadataSchema.optional(),
  faceIds: z.array(FaceIdSchema),
  revision: RevisionSchema.optional(),
});
export type UserInfo = z.infer<typeof UserInfoSchema>;
export type UserFacesResult = z.infer<typeof UserFacesResultSchema>;

/** One recognition: no face → userId null, confidence 0, bbox null; below threshold → userId null with the score. */
/** One model's own cosine similarity of a match (the parts of a fused score). */
export const ModelScoreSchema = z.object({ model: ModelIdSchema, score: z.number() });
export type ModelScore = z.infer<typeof ModelScoreSchema>;

export const RecognitionSchema = z.object({
  userId: UserIdSchema.nullable(),
  /** The recognized user's display name, when they have one. */
  name: z.string().optional(),
  /** Cosine similarity of the best enrolled face of the best user (0 when no face or empty gallery). */
  confidence: z.number(),
  bbox: BBoxSchema.nullable(),
  faceId: FaceIdSchema.nullable().optional(),
  detectionScore: z.number().optional(),
  /** Only with `landmarks: true`: left eye, right eye, nose, left and right mouth corner (image pixels). */
  landmarks: z.array(PointSchema).optional(),
  /** Only with `landmarks: true` and an engine that has them: the 68 iBUG points (image pixels). */
  landmarks68: z.array(PointSchema).optional(),
  /** The threshold this decision used (the company's operating point, or the call's override). */
  threshold: z.number().optional(),
  /** The face's L2-normalised embedding, with `returnEmbeddings`. */
  embedding: EmbeddingSchema.optional(),
  /** With `modelScores`: each model's own score of the top match (`confidence` is the fused one). */
  modelScores: z.array(ModelScoreSchema).optional(),
  /**
   * false when the company does not exist (the answer is then the old system's null, 0, null): the
   * signal that tells a mistyped company from a stranger. Absent from engines/clients that predate it.
   */
  companyFound: z.boolean().optional(),
});
export type Recognition = z.infer<typeof RecognitionSchema>;

/** One candidate user of a search: their score and best-matching face. */
export const SearchMatchSchema = z.object({
  userId: UserIdSchema,
  /** The user's score (what the decision compares with the threshold). */
  confidence: z.number(),
  /** The user's face most similar to the query. */
  faceId: FaceIdSchema,
});
export type SearchMatch = z.infer<typeof SearchMatchSchema>;

export const SearchEmbeddingResultSchema = z.object({
  /** The decided user (top match at or above the threshold), or null. */
  userId: UserIdSchema.nullable(),
  /** The decided user's display name, when they have one. */
  name: z.string().optional(),
  /** Score of the top match (0 when the company has no faces). */
  confidence: z.number(),
  /** The decided user's best-matching face, or null. */
  faceId: FaceIdSchema.nullable(),
  threshold: z.number(),
  /** Top-k users, best first, whatever their score. */
  matches: z.array(SearchMatchSchema),
  /** With `modelScores`: each model's own score of the top match. */
  modelScores: z.array(ModelScoreSchema).optional(),
});
export type SearchEmbeddingResult = z.infer<typeof SearchEmbeddingResultSchema>;

export const RecognizeFacesResultSchema = z.object({
  faces: z.array(RecognitionSchema),
  /** The threshold the decisions used (also when no face was found). */
  threshold: z.number().optional(),
  /** false when the company does not exist (faces is then []). */
  companyFound: z.boolean().optional(),
});
export type RecognizeFacesResult = z.infer<typeof RecognizeFacesResultSchema>;

export const DetectResultSchema = z.object({ facesCount: z.number().int().nonnegative(), faces: z.array(DetectedFaceSchema) });
export type DetectResult = z.infer<typeof DetectResultSchema>;

export const EmbedResultSchema = z.object({
  embedding: EmbeddingSchema,
  detectionScore: z.number(),
  bbox: BBoxSchema,
  model: ModelIdSchema,
});
export type EmbedResult = z.infer<typeof EmbedResultSchema>;

export const CompareMatchSchema = z.object({ id: z.string(), distance: z.number(), similarity: z.number() });
export type CompareMatch = z.infer<typeof CompareMatchSchema>;

export const CompareResultSchema = z.object({
  bestMatch: CompareMatchSchema.nullable(),
  /** All references, best first. */
  matches: z.array(CompareMatchSchema),
});
export type CompareResult = z.infer<typeof CompareResultSchema>;

export const VerifyResultSchema = z.object({
  isMatch: z.boolean(),
  /** Cosine similarity of the two faces. */
  confidence: z.number(),
  threshold: z.number(),
  metrics: z.object({ cosineSimilarity: z.number(), euclideanDistance: z.number() }),
  processingMs: z.number(),
});
export type VerifyResult = z.infer<typeof VerifyResultSchema>;

// ---------------------------------------------------------------- operating points (ARCHITECTURE §10)

/** Bounds of a company's own operating point: outside them a setting is INVALID_ARGUMENT. */
export const OPERATING_POINT_BOUNDS = {
  fpirTarget: { min: 1e-4, max: 0.2 },
  threshold: { min: 0.2, max: 0.95 },
} as const;

export const OperatingPointRequestSchema = z.object({ companyId: CompanyIdSchema });
export type OperatingPointRequest = z.infer<typeof OperatingPointRequestSchema>;

/** Sets a company's own FPIR target or threshold (not both); both null (or absent) returns it to the defaults. */
export const SetOperatingPointRequestSchema = z
  .object({
    companyId: CompanyIdSchema,
    fpirTarget: z.number().min(OPERATING_POINT_BOUNDS.fpirTarget.min).max(OPERATING_POINT_BOUNDS.fpirTarget.max).nullable().optional(),
    threshold: z.number().min(OPERATING_POINT_BOUNDS.threshold.min).max(OPERATING_POINT_BOUNDS.threshold.max).nullable().optional(),
  })
  .refine((r) => r.fpirTarget == null || r.threshold == null, { message: "set fpirTarget or threshold, not both", path: ["threshold"] });
export type SetOperatingPointRequest = z.infer<typeof SetOperatingPointRequestSchema>;

export const ThresholdSourceSchema = z.enum(["explicit", "company_threshold", "company_fpir_target", "fpir_target", "uncalibrated_default"]);

export const CurvePointSchema = z.object({
  threshold: z.number(),
  /** Impostor comparisons at or above the threshold (one probe against one enrolled user). */
  far: z.number(),
  /** Genuine comparisons below the threshold (null without genuine pairs). */
  frr: z.number().nullable(),
  /** Expected stranger acceptance for this company's current number of users. */
  fpir: z.number(),
});
export type CurvePoint = z.infer<typeof CurvePointSchema>;

export const OperatingPointSchema = z.object({
  companyId: CompanyIdSchema,
  /** Enrolled users: the N of FPIR ≈ 1 − (1 − FAR)^N. */
  users: z.number().int().nonnegative(),
  /** Of them, users with 2+ faces: matched by their template, which strangers come closer to than to one photo. */
  multiFaceUsers: z.number().int().nonnegative(),
  /** The threshold recognitions of this company use now. */
  threshold: z.number(),
  source: ThresholdSourceSchema,
  /** The FPIR target in force (null when a fixed threshold is in force). */
  fpirTarget: z.number().nullable(),
  /** Expected fraction of strangers accepted as somebody at `threshold` (null without a calibration). */
  expectedFpir: z.number().nullable(),
  /** Expected fraction of genuine single comparisons rejected at `threshold` (null without genuine calibration data). */
  expectedFrr: z.number().nullable(),
  /** The company's own settings (null: the defaults apply). */
  settings: z.object({ fpirTarget: z.number().optional(), threshold: z.number().optional() }).nullable(),
  bounds: z.object({
    fpirTarget: z.object({ min: z.number(), max: z.number() }),
    threshold: z.object({ min: z.number(), max: z.number() }),
  }),
  /** The calibration behind the figures (null when the model has none), with its curves for a DET / FAR-FRR plot. */
  calibration: z
    .object({
      model: z.string(),
      source: z.string(),
      genuinePairs: z.number().int(),
      impostorPairs: z.number().int(),
      curve: z.array(CurvePointSchema),
    })
    .nullable(),
  revision: RevisionSchema.optional(),
});
export type OperatingPoint = z.infer<typeof OperatingPointSchema>;

export const CompanyStatsSchema = z.object({ users: z.number().int(), faces: z.number().int() });

export const CacheStatsSchema = z.object({
  companiesCount: z.number().int(),
  usersCount: z.number().int(),
  facesCount: z.number().int(),
  embeddingsCount: z.number().int(),
  uptimeSeconds: z.number(),
  totalTasksProcessed: z.number().int(),
  workerId: z.string(),
  revision: RevisionSchema,
  companies: z.record(z.string(), CompanyStatsSchema),
  cacheInfo: z.record(z.string(), z.unknown()),
});
export type CacheStats = z.infer<typeof CacheStatsSchema>;

/** The engine's health probe: a tiny built-in image through the whole pipeline, cached (lib/engine/probe.ts). */
export const EngineCheckSchema = z.object({
  ok: z.boolean(),
  /** Time the probe took (ms). */
  ms: z.number(),
  /** When it ran (ISO 8601). */
  checkedAt: z.string(),
  error: z.string().optional(),
  /** Worker pool figures when the engine runs in worker threads. */
  workers: z
    .object({ size: z.number().int(), ready: z.number().int(), restarts: z.number().int(), failedCalls: z.number().int() })
    .optional(),
});
export type EngineCheck = z.infer<typeof EngineCheckSchema>;

export const HealthSchema = z.object({
  status: z.enum(["ok", "degraded", "unavailable"]),
  responseTimeMs: z.number(),
  workerInfo: z.object({
    workerId: z.string(),
    uptimeSeconds: z.number(),
    tasksProcessed: z.number().int(),
  }),
  engine: EngineInfoSchema,
  /** Absent where no engine runs here (a gateway answers with its workers' health). */
  engineCheck: EngineCheckSchema.optional(),
  store: z.object({ kind: z.string(), revision: RevisionSchema }).catchall(z.unknown()),
});
export type Health = z.infer<typeof HealthSchema>;
