/**
 * The HTTP wire format: snake_case request and response schemas (the old system's names) and the
 * mapping to and from the camelCase core types. The OpenAPI document is generated from these.
 */
import { z } from "zod";
import {
  BBoxSchema,
  DistanceMetricSchema,
  EmbeddingSchema,
  ERROR_CODES,
  EventSourceSchema,
  IdSchema,
  ModelIdSchema,
  PointSchema,
  type CacheStats,
  type CompareResult,
  type CreateCompanyResult,
  type DeleteResult,
  type DetectResult,
  type EmbedResult,
  type EnrollResult,
  type FaceError,
  type Health,
  type Recognition,
  type SearchEmbeddingResult,
  type OperatingPoint,
  type UserFacesResult,
  type UserInfo,
  UserMetadataSchema,
  UserNameSchema,
  type VerifyResult,
} from "../../lib/core/mod.ts";

// ---------------------------------------------------------------- requests

/** base64 text (data-URL accepted) in JSON; bytes from a multipart file part or a raw body. */
export const WireImageSchema = z
  .union([
    z.string().min(1, "image must not be empty"),
    z.instanceof(Uint8Array).refine((b) => b.byteLength > 0, "image must not be empty"),
  ], {
    // "Invalid input" said nothing: a missing image and a wrong type each say what they are.
    error: (iss) => (iss.input === undefined ? "is required" : "must be base64 text (JSON) or a file part (multipart)"),
  })
  .meta({ description: "JPEG, PNG or WebP: base64 (a data:image/...;base64, prefix is accepted) in JSON, a file part in multipart" });

const Threshold = z.number().min(-1).max(1).describe("Overrides the configured threshold (cosine similarity)");

export const CreateCompanyBody = z.object({ company_id: IdSchema });
const ReturnEmbedding = z
  .boolean()
  .optional()
  .describe("Also return the enrolled face's 512-d embedding (left out by default: 512 numbers nobody reads)");
const WireName = UserNameSchema.describe("The person's display name (what the kiosk greets and events show); optional, at most 200 characters");
const WireMetadata = UserMetadataSchema.describe("Flat metadata kept with the person (at most 32 keys, scalar values, 4 KiB as JSON); in multipart a JSON text");
export const CreateUserBody = z.object({
  user_id: IdSchema,
  face_id: IdSchema,
  image: WireImageSchema,
  name: WireName.optional(),
  metadata: WireMetadata.optional(),
  return_embedding: ReturnEmbedding,
});
export const UpdateUserBody = z
  .object({ name: WireName.nullable().optional(), metadata: WireMetadata.nullable().optional() })
  .strict()
  .refine((b) => b.name !== undefined || b.metadata !== undefined, "give name and/or metadata (null removes one)");
export const AddFaceBody = z.object({ face_id: IdSchema, image: WireImageSchema, return_embedding: ReturnEmbedding });
export const RecognizeBody = z.object({
  image: WireImageSchema,
  all_faces: z.boolean().optional().describe("Also return every face in the image under `faces`"),
  threshold: Threshold.optional(),
  return_embeddings: z.boolean().optional().describe("Also return each face's L2-normalised embedding (for POST .../search)"),
  model_scores: z.boolean().optional().describe("Also return each model's own score of the top match (with fused recognizers, FACE_EMBEDDERS, one per model)"),
  landmarks: z
    .boolean()
    .optional()
    .describe("Also return each face's 5 landmarks, and the 68 iBUG points (`landmarks_68`) when the engine has them (a kiosk's liveness check reads them)"),
  record: z.boolean().optional().describe("Record a successful identification in the event log (and deliver it to the webhook)"),
  source: EventSourceSchema.optional().describe('Event source label (default "api")'),
  kiosk_id: z.string().min(1).max(128).optional().describe("Kiosk or device name stored with the event"),
});
export const SearchBody = z.object({
  embedding: EmbeddingSchema.describe("The query embedding: finite numbers, the company's model dimension (512 for the default model)"),
  top_k: z.number().int().min(1).max(100).optional().describe("Users to return under `matches` (default 1)"),
  threshold: Threshold.optional(),
  model: ModelIdSchema.optional().describe(
    "The model that produced the embedding (the `model` of enroll answers); another model than the company's is MODEL_MISMATCH (default: the engine's)",
  ),
  model_scores: z.boolean().optional().describe("Also return each model's own score of the top match (with fused recognizers, FACE_EMBEDDERS, one per model)"),
});
export const ImageBody = z.object({ image: WireImageSchema });
export const CompareBody = z.object({
  query_embedding: EmbeddingSchema,
  reference_embeddings: z.array(z.object({ id: z.string().min(1).max(256), embedding: EmbeddingSchema })).max(100_000),
  distance_metric: DistanceMetricSchema.default("cosine"),
});
export const VerifyBody = z.object({ image1: WireImageSchema, image2: WireImageSchema, threshold: Threshold.optional() });
export function verifyBatchBody(maxPairs: number) {
  return z.object({ pairs: z.array(VerifyBody).min(1, "pairs must not be empty").max(maxPairs, `at most ${maxPairs} pairs`) });
}

// ---------------------------------------------------------------- responses

/**
 * A box on the wire: `[x, y, width, height]` in whole pixels, as the old system answered (a Python
 * backend slices an image with it). The corners are rounded, so a box keeps its edges.
 */
export const WireBBox = z
  .tuple([z.number().int(), z.number().int(), z.number().int().nonnegative(), z.number().int().nonnegative()])
  .meta({ description: "[x, y, width, height] in whole pixels of the (EXIF-rotated) image" });

export function wireBox(b: readonly [number, number, number, number]): [number, number, number, number] {
  const x = Math.round(b[0]);
  const y = Math.round(b[1]);
  return [x, y, Math.max(0, Math.round(b[0] + b[2]) - x), Math.max(0, Math.round(b[1] + b[3]) - y)];
}

/** Recognition confidence on the wire: the cosine similarity, floored at 0 (the old system's 0.0-1.0). */
const wireConfidence = (c: number) => (c > 0 ? c : 0);

export const ErrorBody = z.object({
  error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }),
});
const Revision = z.number().int().optional().describe("Store revision of this write (send it back as X-Min-Revision to read your writes)");

export const CompanyCreatedBody = z.object({ company_id: z.string(), created: z.boolean(), revision: Revision });
export const DeletedBody = z.object({ deleted: z.boolean(), revision: Revision });
export const EnrolledBody = z.object({
  company_id: z.string(),
  user_id: z.string(),
  name: z.string().optional().describe("The person's display name, when they have one"),
  face_id: z.string(),
  embedding: z.array(z.number()).optional().describe("The enrolled face's embedding, with return_embedding: true"),
  detection_score: z.number(),
  bbox: WireBBox.describe("Box of the enrolled face: the largest one when the photo has several"),
  faces_found: z.number().int().min(1).optional().describe("Faces detected in the photo; the largest one was enrolled"),
  model: z.string(),
  revision: Revision,
});
export const FaceIdsBody = z.object({ face_ids: z.array(z.string()) });
const ModelScoresBody = z
  .array(z.object({ model: z.string(), score: z.number() }))
  .describe("With model_scores: each model's own cosine score of the top match (`confidence` is the fused score)");
export const UserBody = z.object({
  company_id: z.string(),
  user_id: z.string(),
  name: z.string().optional().describe("Absent when the person has none"),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).optional(),
  face_ids: z.array(z.string()),
  revision: Revision,
});
export const RecognitionBody = z.object({
  user_id: z.string().nullable(),
  name: z.string().optional().describe("The recognized person's display name, when they have one"),
  confidence: z.number().min(0).describe("Cosine similarity of the best match, floored at 0 (0 when there is no face)"),
  bbox: WireBBox.nullable(),
  face_id: z.string().nullable().optional(),
  detection_score: z.number().optional(),
  threshold: z.number().optional().describe("The threshold this decision used (the company's operating point, or the request's)"),
  embedding: z.array(z.number()).optional().describe("With return_embeddings"),
  landmarks: z.array(PointSchema).optional().describe("With landmarks: left eye, right eye, nose, left and right mouth corner (image pixels)"),
  landmarks_68: z.array(PointSchema).optional().describe("With landmarks, when the engine has them: the 68 iBUG points (image pixels)"),
  model_scores: ModelScoresBody.optional(),
});
export const OperatingPointPutBody = z
  .object({
    fpir_target: z.number().nullable().optional().describe("Fraction of stranger presentations that may be accepted as somebody"),
    threshold: z.number().nullable().optional().describe("A fixed cosine threshold instead of a target"),
  })
  .describe("Set fpir_target or threshold (not both); both null returns the company to the defaults");
const Range = z.object({ min: z.number(), max: z.number() });
export const OperatingPointBody = z.object({
  company_id: z.string(),
  users: z.number().int().describe("Enrolled users: the N of FPIR ≈ 1 − (1 − FAR)^N"),
  multi_face_users: z.number().int().describe("Of them, users with 2+ faces (matched by their template)"),
  threshold: z.number().describe("The threshold this company's recognitions use now"),
  source: z
    .enum(["explicit", "company_threshold", "company_fpir_target", "fpir_target", "uncalibrated_default"])
    .describe("explicit: FACE_RECOGNITION_THRESHOLD; company_*: this company's setting; fpir_target: derived from FACE_FPIR_TARGET"),
  fpir_target: z.number().nullable(),
  expected_fpir: z.number().nullable().describe("Expected fraction of strangers accepted as somebody at this threshold and size"),
  expected_frr: z.number().nullable().describe("Expected fraction of genuine single comparisons below the threshold"),
  settings: z.object({ fpir_target: z.number().optional(), threshold: z.number().optional() }).nullable(),
  bounds: z.object({ fpir_target: Range, threshold: Range }),
  calibration: z
    .object({
      model: z.string(),
      source: z.string(),
      genuine_pairs: z.number().int(),
      impostor_pairs: z.number().int(),
      curve: z
        .array(z.object({ threshold: z.number(), far: z.number(), frr: z.number().nullable(), fpir: z.number() }))
        .describe("Per threshold: FAR of one comparison, FRR of one genuine comparison, expected FPIR at this company's size"),
    })
    .nullable(),
  revision: Revision,
});
const SearchMatchBody = z.object({ user_id: z.string(), confidence: z.number(), face_id: z.string() });
export const SearchResponseBody = z.object({
  user_id: z.string().nullable().describe("The top match when its score reaches the threshold, else null"),
  name: z.string().optional().describe("The decided user's display name, when they have one"),
  confidence: z.number(),
  face_id: z.string().nullable().describe("The decided user's best-matching face"),
  threshold: z.number(),
  matches: z.array(SearchMatchBody).describe("Top-k users, best first, whatever their score"),
  model_scores: ModelScoresBody.optional(),
});
export const RecognizeResponseBody = RecognitionBody.extend({
  company_found: z
    .boolean()
    .describe("false when the company does not exist: the answer is then the old system's (null, 0, null); check this to tell a typo from a stranger"),
  faces: z.array(RecognitionBody).optional(),
  event_id: z.string().optional().describe("The recorded event (record: true and a user identified)"),
});
export const DetectBody = z.object({
  faces_count: z.number().int(),
  bboxes: z.array(WireBBox),
  scores: z.array(z.number()),
  landmarks: z.array(z.array(PointSchema)),
});
export const EmbedBody = z.object({ embedding: z.array(z.number()), detection_score: z.number(), bbox: WireBBox, model: z.string() });
const Match = z.object({ id: z.string(), distance: z.number(), similarity: z.number() });
export const CompareResponseBody = z.object({ best_match: Match.nullable(), matches: z.array(Match) });
export const VerifyResponseBody = z.object({
  is_match: z.boolean(),
  confidence: z.number(),
  threshold: z.number(),
  metrics: z.object({ cosine_similarity: z.number(), euclidean_distance: z.number() }),
  processing_ms: z.number(),
});
export const VerifyBatchResponseBody = z.object({
  results: z.array(
    z.union([
      VerifyResponseBody.extend({ index: z.number().int(), ok: z.literal(true) }),
      z.object({ index: z.number().int(), ok: z.literal(false), error: ErrorBody.shape.error }),
    ]),
  ),
});
/**
 * The old system's health: `status` is "healthy" or "unhealthy" (503). Public callers get `status`
 * only; admin keys (and open mode) get the details too, `state` among them (ok, degraded: serving
 * but e.g. a worker behind or draining, unavailable).
 */
export const HealthBody = z.object({
  status: z.enum(["healthy", "unhealthy"]),
  state: z.enum(["ok", "degraded", "unavailable"]).optional(),
  response_time_ms: z.number().optional(),
  worker_info: z.object({ worker_id: z.string(), uptime_seconds: z.number(), tasks_processed: z.number().int() }).optional(),
  engine: z
    .object({
      engine: z.string(),
      backend: z.string(),
      model_id: z.string(),
      embedding_dim: z.number().int(),
      models: z.array(z.string()),
    })
    .optional(),
  /** The engine probe (a tiny image through the pipeline, cached 10 s); absent where no engine runs. */
  engine_check: z
    .object({
      ok: z.boolean(),
      ms: z.number(),
      checked_at: z.string(),
      error: z.string().optional(),
      workers: z.object({ size: z.number(), ready: z.number(), restarts: z.number(), failed_calls: z.number() }).optional(),
    })
    .optional(),
  store: z.record(z.string(), z.unknown()).optional(),
});
/** GET /v1/me: what the calling key may reach (the admin console signs in with it). */
export const WhoAmIBody = z.object({
  /** Non-secret label of the key (the one in the logs); "open" in open mode. */
  key_id: z.string(),
  /** "open": the server has no API keys and every caller is admin (consoles sign in without a key). */
  auth_mode: z.enum(["keys", "open"]),
  admin: z.boolean(),
  /** The companies a company key reaches; [] for admin (it reaches all). */
  companies: z.array(z.string()),
  /** The key's scope per company ("*": every company): recognize, enroll, manage or admin (server/auth.ts). */
  scopes: z.record(z.string(), z.enum(["recognize", "enroll", "manage", "admin"])),
});
export const StatsBody = z.object({
  companies_count: z.number().int(),
  users_count: z.number().int(),
  faces_count: z.number().int(),
  embeddings_count: z.number().int(),
  uptime_seconds: z.number(),
  total_tasks_processed: z.number().int(),
  worker_id: z.string(),
  revision: z.number().int(),
  /** The old system's: per company, users and faces, nothing else. */
  cache_info: z.record(z.string(), z.object({ users: z.number().int(), faces: z.number().int() })),
  /** The same counts (earlier releases' name). */
  companies: z.record(z.string(), z.object({ users: z.number().int(), faces: z.number().int() })),
  /** Everything else: store, memory, thresholds, models, workers (gateway mode), ... */
  server_info: z.record(z.string(), z.unknown()),
});

type Out<S extends z.ZodType> = z.input<S>;

// ---------------------------------------------------------------- core → wire

export const toWire = {
  companyCreated: (r: CreateCompanyResult): Out<typeof CompanyCreatedBody> => ({
    company_id: r.companyId,
    created: r.created,
    revision: r.revision,
  }),
  deleted: (r: DeleteResult): Out<typeof DeletedBody> => ({ deleted: r.deleted, revision: r.revision }),
  enrolled: (r: EnrollResult, withEmbedding = false): Out<typeof EnrolledBody> => ({
    company_id: r.companyId,
    user_id: r.userId,
    ...(r.name !== undefined ? { name: r.name } : {}),
    face_id: r.faceId,
    ...(withEmbedding ? { embedding: Array.from(r.embedding) } : {}),
    detection_score: r.detectionScore,
    bbox: wireBox(r.bbox),
    ...(r.facesFound !== undefined ? { faces_found: r.facesFound } : {}),
    model: r.model,
    revision: r.revision,
  }),
  faceIds: (r: UserFacesResult): Out<typeof FaceIdsBody> => ({ face_ids: r.faceIds }),
  user: (u: UserInfo): Out<typeof UserBody> => ({
    company_id: u.companyId,
    user_id: u.userId,
    ...(u.name !== undefined ? { name: u.name } : {}),
    ...(u.metadata !== undefined ? { metadata: u.metadata } : {}),
    face_ids: u.faceIds,
    ...(u.revision !== undefined ? { revision: u.revision } : {}),
  }),
  recognition: (r: Recognition): Out<typeof RecognitionBody> => {
    const out: Out<typeof RecognitionBody> = { user_id: r.userId, confidence: wireConfidence(r.confidence), bbox: r.bbox && wireBox(r.bbox) };
    if (r.name !== undefined) out.name = r.name;
    if (r.faceId !== undefined) out.face_id = r.faceId;
    if (r.detectionScore !== undefined) out.detection_score = r.detectionScore;
    if (r.threshold !== undefined) out.threshold = r.threshold;
    if (r.embedding !== undefined) out.embedding = r.embedding;
    if (r.landmarks !== undefined) out.landmarks = r.landmarks;
    if (r.landmarks68 !== undefined) out.landmarks_68 = r.landmarks68;
    if (r.modelScores !== undefined) out.model_scores = r.modelScores;
    return out;
  },
  operatingPoint: (p: OperatingPoint): Out<typeof OperatingPointBody> => ({
    company_id: p.companyId,
    users: p.users,
    multi_face_users: p.multiFaceUsers,
    threshold: p.threshold,
    source: p.source,
    fpir_target: p.fpirTarget,
    expected_fpir: p.expectedFpir,
    expected_frr: p.expectedFrr,
    settings: p.settings ? { fpir_target: p.settings.fpirTarget, threshold: p.settings.threshold } : null,
    bounds: { fpir_target: p.bounds.fpirTarget, threshold: p.bounds.threshold },
    calibration: p.calibration
      ? {
          model: p.calibration.model,
          source: p.calibration.source,
          genuine_pairs: p.calibration.genuinePairs,
          impostor_pairs: p.calibration.impostorPairs,
          curve: p.calibration.curve,
        }
      : null,
    revision: p.revision,
  }),
  search: (r: SearchEmbeddingResult): Out<typeof SearchResponseBody> => ({
    user_id: r.userId,
    ...(r.name !== undefined ? { name: r.name } : {}),
    confidence: r.confidence,
    face_id: r.faceId,
    threshold: r.threshold,
    matches: r.matches.map((m) => ({ user_id: m.userId, confidence: m.confidence, face_id: m.faceId })),
    ...(r.modelScores ? { model_scores: r.modelScores } : {}),
  }),
  detect: (r: DetectResult): Out<typeof DetectBody> => ({
    faces_count: r.facesCount,
    bboxes: r.faces.map((f) => wireBox(f.bbox)),
    scores: r.faces.map((f) => f.score),
    landmarks: r.faces.map((f) => f.landmarks),
  }),
  embed: (r: EmbedResult): Out<typeof EmbedBody> => ({
    embedding: Array.from(r.embedding),
    detection_score: r.detectionScore,
    bbox: wireBox(r.bbox),
    model: r.model,
  }),
  compare: (r: CompareResult): Out<typeof CompareResponseBody> => ({ best_match: r.bestMatch, matches: r.matches }),
  verify: (r: VerifyResult): Out<typeof VerifyResponseBody> => ({
    is_match: r.isMatch,
    confidence: r.confidence,
    threshold: r.threshold,
    metrics: { cosine_similarity: r.metrics.cosineSimilarity, euclidean_distance: r.metrics.euclideanDistance },
    processing_ms: r.processingMs,
  }),
  error: (e: FaceError): Out<typeof ErrorBody> => ({ error: { code: e.code, message: e.message } }),
  health: (h: Health): Out<typeof HealthBody> => {
    const store = snakeKeys(h.store) as Record<string, unknown>;
    return {
      status: healthStatus(h.status),
      state: h.status,
      response_time_ms: h.responseTimeMs,
      worker_info: {
        worker_id: h.workerInfo.workerId,
        uptime_seconds: h.workerInfo.uptimeSeconds,
        tasks_processed: h.workerInfo.tasksProcessed,
      },
      engine: {
        engine: h.engine.engine,
        backend: h.engine.backend,
        model_id: h.engine.modelId,
        embedding_dim: h.engine.embeddingDim,
        models: h.engine.models,
      },
      ...(h.engineCheck ? { engine_check: snakeKeys(h.engineCheck) as NonNullable<Out<typeof HealthBody>["engine_check"]> } : {}),
      store,
    };
  },
  stats: (s: CacheStats): Out<typeof StatsBody> => {
    const serverInfo = snakeKeys(s.cacheInfo) as Record<string, unknown>;
    return {
      companies_count: s.companiesCount,
      users_count: s.usersCount,
      faces_count: s.facesCount,
      embeddings_count: s.embeddingsCount,
      uptime_seconds: s.uptimeSeconds,
      total_tasks_processed: s.totalTasksProcessed,
      worker_id: s.workerId,
      revision: s.revision,
      cache_info: s.companies,
      companies: s.companies,
      server_info: serverInfo,
    };
  },
};

/** The old system's words: serving (even degraded) is "healthy"; only an unavailable service is not. */
export function healthStatus(state: Health["status"]): "healthy" | "unhealthy" {
  return state === "unavailable" ? "unhealthy" : "healthy";
}

/** camelCase → snake_case for free-form keys (store and server info). */
export function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

/**
 * Fields whose keys are data (company ids), not field names: their keys are kept as they are
 * (a company "fooBar" must stay "fooBar"); their values are still converted.
 */
const DATA_KEYED = new Set(["models", "companies", "operatingPoints"]);

/**
 * Deep camelCase → snake_case of the field names in free-form objects (health `store`, stats
 * `server_info` with e.g. the per-worker entries of gateway mode), through arrays and nested
 * objects; values are untouched.
 */
export function snakeKeys(value: unknown, keepKeys = false): unknown {
  if (Array.isArray(value)) return value.map((v) => snakeKeys(v));
  if (value === null || typeof value !== "object") return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value; // typed arrays, dates: values, not records
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[keepKeys ? k : snake(k)] = snakeKeys(v, !keepKeys && DATA_KEYED.has(k));
  }
  return out;
}

/** zod issues → one readable line, with the wire field path. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "body"}${i.message === "is required" ? " " : ": "}${i.message}`)
    .join("; ");
}
