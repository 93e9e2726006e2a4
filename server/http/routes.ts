/**
 * The v1 route table: one entry per route with its auth scope, body encodings, wire schemas and
 * the FaceApi call. app.ts registers the entries; openapi.ts documents the same entries, so the
 * document cannot drift from what is served.
 */
import { z } from "zod";
import { FaceError, IdSchema, type CallOptions, type ErrorCode, type EventRecord, type FaceApi, type NewEvent, type Recognition } from "../../lib/core/mod.ts";
import { OPEN_PRINCIPAL, type Principal, type Scope } from "./auth.ts";
import type { BodySpec } from "./body.ts";
import type { ServerConfig } from "../config/server.ts";
import {
  AddFaceBody,
  CompanyCreatedBody,
  CompareBody,
  CompareResponseBody,
  CreateCompanyBody,
  CreateUserBody,
  DeletedBody,
  DetectBody,
  EmbedBody,
  EnrolledBody,
  FaceIdsBody,
  HealthBody,
  ImageBody,
  RecognizeBody,
  RecognizeResponseBody,
  OperatingPointBody,
  OperatingPointPutBody,
  SearchBody,
  SearchResponseBody,
  StatsBody,
  UpdateUserBody,
  UserBody,
  VerifyBatchResponseBody,
  VerifyBody,
  VerifyResponseBody,
  WhoAmIBody,
  describeIssues,
  healthStatus,
  toWire,
  verifyBatchBody,
} from "./wire.ts";

export interface RouteContext<B> {
  api: FaceApi;
  body: B;
  params: Record<string, string>;
  query: Record<string, string>;
  opts: CallOptions;
  principal: Principal;
  config: ServerConfig;
  /** False while starting or draining: health answers 503. */
  ready: () => boolean;
  req: Request;
  /** Records an event in the event log (undefined: the server has none). */
  record?: (event: NewEvent) => Promise<EventRecord>;
}

export interface Reply {
  status?: number;
  body?: unknown;
  /** A ready response instead of JSON (CSV, server-sent events). */
  response?: Response;
  /** The response is an endless stream (no idle timeout). */
  stream?: boolean;
}

export interface RouteDef<S extends z.ZodType = z.ZodType> {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Hono pattern (`:param`); openapi.ts converts it to `{param}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /**
   * What the caller's key needs (server/auth.ts): "public", "any" valid key, or a key scope
   * ("recognize" | "enroll" | "manage" | "admin") on the route's company (the `:company`
   * parameter, or `company` below); without a company the scope must be held on every company.
   * Checked before the body is read; a body `threshold` below THRESHOLD_FLOOR needs "admin".
   */
  scope: Scope;
  body?: BodySpec & { schema: S };
  /** Query parameters (documented in OpenAPI; the route parses them). */
  query?: z.ZodObject;
  /** The key may come as ?key= (EventSource cannot set headers). */
  keyInQuery?: true;
  /** Other media types the 2xx answer may have (CSV, server-sent events), documented in OpenAPI. */
  produces?: string[];
  /** When the company is not the `:company` path parameter: where to find it (checked once the body is parsed). */
  company?: (params: Record<string, string>, body: z.output<S>) => string;
  ok: { status: number; schema: z.ZodType; description: string };
  /**
   * Runs inference (CPU-bound): admitted through the bounded limiter (MAX_INFLIGHT / MAX_QUEUE),
   * refused with 503 UNAVAILABLE + Retry-After beyond it. Cheap routes leave it unset.
   */
  engine?: true;
  /**
   * Not bound by REQUEST_TIMEOUT_MS: health, whose own work is bounded (the engine probe has its own
   * timeout and is cached), must not report a busy server as timed out.
   */
  noDeadline?: true;
  /** Error codes the route can answer besides the common ones (documented in OpenAPI). */
  errors: ErrorCode[];
  run(ctx: RouteContext<z.output<S>>): Promise<Reply>;
}

/** POST /v1/compare, also served as the embed/compare service's /api/v1/compare (server/compat). */
export async function runCompare({ api, body, opts }: RouteContext<z.output<typeof CompareBody>>): Promise<Reply> {
  const result = await api.compare(
    { queryEmbedding: body.query_embedding, referenceEmbeddings: body.reference_embeddings, distanceMetric: body.distance_metric },
    opts,
  );
  return { body: toWire.compare(result) };
}

/** Erases the body type so routes with different schemas share one array. */
export type AnyRoute = RouteDef<z.ZodType>;
function route<S extends z.ZodType>(def: RouteDef<S>): AnyRoute {
  return def as unknown as AnyRoute;
}

type RecognizeReply = z.input<typeof RecognizeResponseBody>;

/** GET /v1/stats: totals (default), one company, or every company (the old answer, which grows with tenants). */
const StatsQuery = z.object({
  detail: z.enum(["totals", "companies"]).optional(),
  company: IdSchema.optional(),
});

const IMAGE_ERRORS: ErrorCode[] = ["INVALID_IMAGE", "IMAGE_TOO_LARGE"];
const ENROLL_ERRORS: ErrorCode[] = [...IMAGE_ERRORS, "NO_FACE", "MULTIPLE_FACES", "FACE_TOO_SMALL", "FACE_QUALITY", "MODEL_MISMATCH"];
const ALL_KINDS = ["json", "multipart", "raw"] as const;

/**
 * The best recognition among several faces (ARCHITECTURE §1: "several faces → the best match"):
 * the most similar identified face; if none is identified, the most similar face; none → no face.
 */
export function bestRecognition(faces: readonly Recognition[]): Recognition {
  let best: Recognition | undefined;
  for (const face of faces) {
    if (!best) best = face;
    else if ((face.userId !== null) !== (best.userId !== null)) {
      if (face.userId !== null) best = face;
    } else if (face.confidence > best.confidence) best = face;
  }
  return best ?? { userId: null, confidence: 0, bbox: null };
}

export function buildRoutes(config: ServerConfig): AnyRoute[] {
  return [
    route({
      method: "POST",
      path: "/v1/companies",
      operationId: "create_company",
      summary: "Create a company (idempotent: 201 when created, 200 when it already existed)",
      tag: "companies",
      scope: "manage",
      body: { schema: CreateCompanyBody, kinds: ["json", "multipart"] },
      company: (_p, b) => b.company_id,
      ok: { status: 201, schema: CompanyCreatedBody, description: "created (201) or already there (200)" },
      errors: [],
      async run({ api, body, opts }) {
        const result = await api.createCompany({ companyId: body.company_id }, opts);
        return { status: result.created ? 201 : 200, body: toWire.companyCreated(result) };
      },
    }),
    route({
      method: "DELETE",
      path: "/v1/companies/:company",
      operationId: "delete_company",
      summary: "Delete a company with its users and faces",
      tag: "companies",
      scope: "manage",
      ok: { status: 200, schema: DeletedBody, description: "`deleted` is false when it did not exist" },
      errors: [],
      async run({ api, params, opts }) {
        return { body: toWire.deleted(await api.deleteCompany({ companyId: params.company }, opts)) };
      },
    }),
    route({
      method: "POST",
      path: "/v1/companies/:company/users",
      operationId: "create_user",
      engine: true,
      summary:
        "Create a user with a first face (the largest face of the photo; faces_found says how many there were); the embedding with return_embedding: true",
      tag: "users",
      scope: "enroll",
      body: { schema: CreateUserBody, kinds: ALL_KINDS, rawImageField: "image", formTypes: { return_embedding: "boolean", metadata: "json" } },
      ok: { status: 201, schema: EnrolledBody, description: "enrolled" },
      errors: [...ENROLL_ERRORS, "COMPANY_NOT_FOUND", "USER_EXISTS"],
      async run({ api, params, body, opts }) {
        const result = await api.createUser(
          { companyId: params.company, userId: body.user_id, faceId: body.face_id, image: body.image, name: body.name, metadata: body.metadata },
          opts,
        );
        return { status: 201, body: toWire.enrolled(result, body.return_embedding === true) };
      },
    }),
    route({
      method: "GET",
      path: "/v1/companies/:company/users/:user",
      operationId: "get_user",
      summary: "A user: their display name and metadata (when they have any) and face ids",
      tag: "users",
      scope: "enroll",
      ok: { status: 200, schema: UserBody, description: "the user" },
      errors: ["COMPANY_NOT_FOUND", "USER_NOT_FOUND"],
      async run({ api, params, opts }) {
        return { body: toWire.user(await api.getUser({ companyId: params.company, userId: params.user }, opts)) };
      },
    }),
    route({
      method: "PATCH",
      path: "/v1/companies/:company/users/:user",
      operationId: "update_user",
      summary: "Change a user's display name and/or metadata (a field left out is unchanged; null removes it)",
      tag: "users",
      scope: "enroll",
      body: { schema: UpdateUserBody, kinds: ["json"] },
      ok: { status: 200, schema: UserBody, description: "the user as changed" },
      errors: ["COMPANY_NOT_FOUND", "USER_NOT_FOUND"],
      async run({ api, params, body, opts }) {
        const req = { companyId: params.company, userId: params.user, name: body.name, metadata: body.metadata };
        return { body: toWire.user(await api.updateUser(req, opts)) };
      },
    }),
    route({
      method: "DELETE",
      path: "/v1/companies/:company/users/:user",
      operationId: "delete_user",
      summary: "Delete a user and their faces",
      tag: "users",
      scope: "manage",
      ok: { status: 200, schema: DeletedBody, description: "`deleted` is false when absent" },
      errors: [],
      async run({ api, params, opts }) {
        return { body: toWire.deleted(await api.deleteUser({ companyId: params.company, userId: params.user }, opts)) };
      },
    }),
    route({
      method: "GET",
      path: "/v1/companies/:company/users/:user/faces",
      operationId: "get_user_faces",
      summary: "List a user's face ids ([] when the company or user is unknown)",
      tag: "faces",
      scope: "enroll",
      ok: { status: 200, schema: FaceIdsBody, description: "face ids" },
      errors: [],
      async run({ api, params, opts }) {
        return { body: toWire.faceIds(await api.getUserFaces({ companyId: params.company, userId: params.user }, opts)) };
      },
    }),
    route({
      method: "POST",
      path: "/v1/companies/:company/users/:user/faces",
      operationId: "add_face",
      engine: true,
      summary: "Add a face to an existing user (the largest face of the photo); the embedding with return_embedding: true",
      tag: "faces",
      scope: "enroll",
      body: { schema: AddFaceBody, kinds: ALL_KINDS, rawImageField: "image", formTypes: { return_embedding: "boolean" } },
      ok: { status: 201, schema: EnrolledBody, description: "enrolled" },
      errors: [...ENROLL_ERRORS, "COMPANY_NOT_FOUND", "USER_NOT_FOUND", "FACE_EXISTS"],
      async run({ api, params, body, opts }) {
        const result = await api.addFace(
          { companyId: params.company, userId: params.user, faceId: body.face_id, image: body.image },
          opts,
        );
        return { status: 201, body: toWire.enrolled(result, body.return_embedding === true) };
      },
    }),
    route({
      method: "DELETE",
      path: "/v1/companies/:company/users/:user/faces/:face",
      operationId: "delete_face",
      summary: "Delete one face (deleting the last face keeps the user)",
      tag: "faces",
      scope: "manage",
      ok: { status: 200, schema: DeletedBody, description: "`deleted` is false when absent" },
      errors: [],
      async run({ api, params, opts }) {
        const result = await api.deleteFace({ companyId: params.company, userId: params.user, faceId: params.face }, opts);
        return { body: toWire.deleted(result) };
      },
    }),
    route({
      method: "POST",
      path: "/v1/companies/:company/recognize",
      operationId: "recognize_face",
      engine: true,
      summary:
        "Recognize the best-matching face (no face or unknown company: user_id null, confidence 0, bbox null; below threshold: user_id null with the score)",
      tag: "recognition",
      scope: "recognize",
      body: {
        schema: RecognizeBody,
        kinds: ALL_KINDS,
        rawImageField: "image",
        formTypes: { all_faces: "boolean", threshold: "number", return_embeddings: "boolean", landmarks: "boolean", record: "boolean", model_scores: "boolean" },
      },
      ok: { status: 200, schema: RecognizeResponseBody, description: "best match, and every face with all_faces" },
      errors: IMAGE_ERRORS,
      async run({ api, params, body, opts, record }) {
        const req = {
          companyId: params.company,
          image: body.image,
          threshold: body.threshold,
          returnEmbeddings: body.return_embeddings,
          landmarks: body.landmarks,
          modelScores: body.model_scores,
        };
        let out: RecognizeReply;
        let best: Recognition;
        if (!body.all_faces) {
          best = await api.recognizeFace(req, opts);
          out = { ...toWire.recognition(best), company_found: best.companyFound ?? true };
        } else {
          const { faces, threshold, companyFound } = await api.recognizeFaces(req, opts);
          best = faces.length > 0 ? bestRecognition(faces) : { userId: null, confidence: 0, bbox: null, threshold };
          out = { ...toWire.recognition(best), company_found: companyFound ?? true, faces: faces.map(toWire.recognition) };
        }
        // record: true → a successful identification goes to the event log (and its webhook)
        if (body.record && best.userId !== null) {
          if (!record) throw new FaceError("UNAVAILABLE", "this server has no event log");
          const e = await record({
            companyId: params.company,
            userId: best.userId,
            ...(best.name !== undefined ? { name: best.name } : {}),
            confidence: best.confidence,
            threshold: best.threshold ?? body.threshold ?? null,
            kioskId: body.kiosk_id ?? null,
            source: body.source ?? "api",
            frames: null,
          });
          out.event_id = e.id;
        }
        return { body: out };
      },
    }),
    route({
      method: "GET",
      path: "/v1/companies/:company/operating-point",
      operationId: "get_operating_point",
      summary:
        "The company's operating point: users, threshold in force and its source, FPIR target, expected FPIR, and the calibration's FAR/FRR/FPIR curves",
      tag: "recognition",
      scope: "recognize",
      ok: { status: 200, schema: OperatingPointBody, description: "operating point" },
      errors: ["COMPANY_NOT_FOUND"],
      async run({ api, params, opts }) {
        return { body: toWire.operatingPoint(await api.getOperatingPoint({ companyId: params.company }, opts)) };
      },
    }),
    route({
      method: "PUT",
      path: "/v1/companies/:company/operating-point",
      operationId: "set_operating_point",
      summary:
        "Set the company's FPIR target or threshold (within the bounds GET reports); both null: back to the defaults. FACE_RECOGNITION_THRESHOLD, when configured, still wins",
      tag: "recognition",
      scope: "manage",
      body: { schema: OperatingPointPutBody, kinds: ["json"] },
      ok: { status: 200, schema: OperatingPointBody, description: "the new operating point" },
      errors: ["COMPANY_NOT_FOUND"],
      async run({ api, params, body, opts }) {
        const req = { companyId: params.company, fpirTarget: body.fpir_target, threshold: body.threshold };
        return { body: toWire.operatingPoint(await api.setOperatingPoint(req, opts)) };
      },
    }),
    route({
      method: "POST",
      path: "/v1/companies/:company/search",
      operationId: "search_embedding",
      summary:
        "1:N search by an embedding (as CompreFace's embeddings recognition): the decided user or null, the threshold used, the top-k users with their best faces",
      tag: "recognition",
      scope: "recognize",
      body: { schema: SearchBody, kinds: ["json"] },
      ok: { status: 200, schema: SearchResponseBody, description: "decision and top matches" },
      errors: ["COMPANY_NOT_FOUND", "MODEL_MISMATCH"],
      async run({ api, params, body, opts }) {
        const req = { companyId: params.company, embedding: body.embedding, topK: body.top_k, threshold: body.threshold, model: body.model, modelScores: body.model_scores };
        return { body: toWire.search(await api.searchEmbedding(req, opts)) };
      },
    }),
    route({
      method: "POST",
      path: "/v1/detect",
      operationId: "detect_faces",
      engine: true,
      summary: "Detect faces: count, boxes [x, y, w, h], scores and 5 landmarks each",
      tag: "stateless",
      scope: "any",
      body: { schema: ImageBody, kinds: ALL_KINDS, rawImageField: "image" },
      ok: { status: 200, schema: DetectBody, description: "detections (faces_count 0 when none)" },
      errors: IMAGE_ERRORS,
      async run({ api, body, opts }) {
        return { body: toWire.detect(await api.detectFaces({ image: body.image }, opts)) };
      },
    }),
    route({
      method: "POST",
      path: "/v1/embed",
      operationId: "generate_embedding",
      engine: true,
      summary: "Embedding (L2-normalised) and detection score of the main face",
      tag: "stateless",
      scope: "any",
      body: { schema: ImageBody, kinds: ALL_KINDS, rawImageField: "image" },
      ok: { status: 200, schema: EmbedBody, description: "embedding" },
      errors: [...IMAGE_ERRORS, "NO_FACE", "FACE_TOO_SMALL"],
      async run({ api, body, opts }) {
        return { body: toWire.embed(await api.generateEmbedding({ image: body.image }, opts)) };
      },
    }),
    route({
      method: "POST",
      path: "/v1/compare",
      operationId: "compare",
      summary: "Compare a query embedding with reference embeddings (best match first)",
      tag: "stateless",
      scope: "any",
      body: { schema: CompareBody, kinds: ["json"] },
      ok: { status: 200, schema: CompareResponseBody, description: "matches, best first" },
      errors: [],
      run: runCompare,
    }),
    route({
      method: "POST",
      path: "/v1/verify",
      operationId: "verify",
      engine: true,
      summary: "Do two images show the same person? (multipart: file parts image1 and image2)",
      tag: "stateless",
      scope: "any",
      body: { schema: VerifyBody, kinds: ["json", "multipart"], formTypes: { threshold: "number" } },
      ok: { status: 200, schema: VerifyResponseBody, description: "verdict and metrics" },
      errors: [...IMAGE_ERRORS, "NO_FACE", "FACE_TOO_SMALL"],
      async run({ api, body, opts }) {
        return { body: toWire.verify(await api.verify({ image1: body.image1, image2: body.image2, threshold: body.threshold }, opts)) };
      },
    }),
    route({
      method: "POST",
      path: "/v1/verify/batch",
      operationId: "verify_batch",
      engine: true,
      summary: `Verify up to ${config.maxBatchPairs} pairs; a failing pair reports its error inline`,
      tag: "stateless",
      scope: "any",
      body: { schema: verifyBatchBody(config.maxBatchPairs), kinds: ["json"] },
      ok: { status: 200, schema: VerifyBatchResponseBody, description: "one result per pair, in order" },
      errors: [],
      async run({ api, body, opts }) {
        const results = [];
        // Sequential: inference is CPU-bound, parallel pairs would only compete for the same cores.
        for (const [index, pair] of body.pairs.entries()) {
          try {
            const r = await api.verify({ image1: pair.image1, image2: pair.image2, threshold: pair.threshold }, opts);
            results.push({ index, ok: true as const, ...toWire.verify(r) });
          } catch (error) {
            const e = FaceError.from(error);
            if (e.code === "TIMEOUT" || e.code === "UNAVAILABLE" || e.code === "INTERNAL") throw e;
            results.push({ index, ok: false as const, ...toWire.error(e) });
          }
        }
        return { body: { results } };
      },
    }),
    route({
      method: "GET",
      path: "/v1/health",
      operationId: "health_check",
      summary:
        'Health: status "healthy" or "unhealthy" (503); public callers get only the status, admin keys also get state, engine, backend, model, store, uptime, response time',
      tag: "operations",
      scope: "public",
      noDeadline: true,
      ok: {
        status: 200,
        schema: HealthBody,
        description: 'status "healthy" (503 with status "unhealthy" when unavailable), as the old system; details (state, engine, store, ...) for admin keys',
      },
      errors: [],
      async run({ api, ready, principal }) {
        if (!ready()) throw new FaceError("UNAVAILABLE", "the server is not ready (starting or shutting down)");
        let health;
        try {
          // no X-Min-Revision wait: health answers at once whatever the caller's revision
          health = await api.healthCheck();
        } catch (error) {
          const e = FaceError.from(error);
          throw e.code === "INTERNAL" ? new FaceError("UNAVAILABLE", "health check failed", { cause: error }) : e;
        }
        const status = health.status === "unavailable" ? 503 : 200;
        // Counts, worker ids and versions are for operators: the public learns only up or not.
        return { status, body: principal.admin ? toWire.health(health) : { status: healthStatus(health.status) } };
      },
    }),
    route({
      method: "GET",
      path: "/v1/me",
      operationId: "whoami",
      summary: "What this API key may reach: admin, or its companies (for consoles signing in with a key)",
      tag: "operations",
      scope: "any",
      ok: { status: 200, schema: WhoAmIBody, description: "the key's reach" },
      errors: [],
      async run({ principal }) {
        const companies = principal.admin ? [] : [...principal.grants.keys()].filter((c) => c !== "*").sort();
        const authMode = principal === OPEN_PRINCIPAL ? "open" : "keys";
        return { body: { key_id: principal.id, auth_mode: authMode, admin: principal.admin, companies, scopes: Object.fromEntries(principal.grants) } };
      },
    }),
    route({
      method: "GET",
      path: "/v1/stats",
      operationId: "get_cache_stats",
      summary:
        "Gallery statistics (the old system's get_cache_stats names); admin key. Totals by default (`cache_info` and `companies` empty: " +
        "a fixed-size answer however many companies there are); `?company=<id>` maps that company, `?detail=companies` every company (the old answer)",
      tag: "operations",
      scope: "admin",
      query: StatsQuery,
      ok: { status: 200, schema: StatsBody, description: "statistics" },
      errors: ["PAYLOAD_TOO_LARGE"],
      async run({ api, opts, query }) {
        const q = StatsQuery.safeParse(query);
        if (!q.success) throw new FaceError("INVALID_ARGUMENT", describeIssues(q.error), { details: q.error.issues });
        const scoped: CallOptions = {
          ...opts,
          statsDetail: q.data.company !== undefined ? "totals" : (q.data.detail ?? "totals"),
          ...(q.data.company !== undefined ? { statsCompanyId: q.data.company } : {}),
        };
        return { body: toWire.stats(await api.getCacheStats(scoped)) };
      },
    }),
  ];
}
