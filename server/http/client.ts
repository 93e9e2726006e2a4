/**
 * HttpFaceClient: the FaceApi over this server's HTTP API (the CLI's `--url` mode and the load
 * test use it). Images given as bytes go as multipart file parts (no base64 overhead); errors come
 * back as FaceError with the server's code; 429, and 503 with Retry-After (busy: the admission limit
 * refused it before any work started), are retried after Retry-After (bounded). Every write sends
 * an Idempotency-Key (`opts.idempotencyKey`, or one per call) and is retried with it after a 503,
 * a timeout or a connection error (`writeRetries`, backoff with jitter).
 */
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import {
  FaceError,
  type CacheStats,
  type CallOptions,
  type CompareRequest,
  type CompareResult,
  type CompanyRequest,
  type CreateCompanyResult,
  type DeleteResult,
  type DetectResult,
  type EmbedResult,
  type EnrollRequest,
  type EnrollResult,
  type FaceApi,
  type FaceRequest,
  type Health,
  type ImageInput,
  type ImageRequest,
  type Recognition,
  type RecognizeFacesResult,
  type RecognizeRequest,
  type SearchEmbeddingRequest,
  type SearchEmbeddingResult,
  type OperatingPoint,
  type OperatingPointRequest,
  type SetOperatingPointRequest,
  type UpdateUserRequest,
  type UserFacesResult,
  type UserInfo,
  type UserRequest,
  type VerifyRequest,
  type VerifyResult,
  type ListCompaniesRequest,
  type ListCompaniesResult,
  type ListUsersRequest,
  type ListUsersResult,
} from "../../lib/core/mod.ts";
import { AttendanceBody, CompaniesPageBody, EventsPageBody, RequeuedBody, UsersPageBody, WebhookBody } from "./events/wire.ts";
import {
  CompanyCreatedBody,
  CompareResponseBody,
  DeletedBody,
  DetectBody,
  describeIssues,
  EmbedBody,
  EnrolledBody,
  ErrorBody,
  FaceIdsBody,
  HealthBody,
  RecognitionBody,
  RecognizeResponseBody,
  SearchResponseBody,
  OperatingPointBody,
  StatsBody,
  UserBody,
  VerifyResponseBody,
} from "./wire.ts";

export interface HttpFaceClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  key?: string;
  /** Retries of a 429, or a 503 with Retry-After (server busy, nothing ran), waiting Retry-After each time. Default 5. */
  rateLimitRetries?: number;
  /** Per request; default 60 s. */
  timeoutMs?: number;
  /**
   * Retries of a write after a 503, a timeout or a connection error, with the same Idempotency-Key
   * (the server answers a retry of a write that landed with its first answer). Default 3.
   */
  writeRetries?: number;
  /** First backoff delay of those retries in ms (default 200), doubled each time, capped at 5 s. */
  backoffMs?: number;
}

type Body = Record<string, unknown>;

const enc = encodeURIComponent;

export class HttpFaceClient implements FaceApi {
  private readonly base: string;

  constructor(private readonly options: HttpFaceClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
  }

  /** One request; the parsed JSON body (any 2xx, and 503 from health) or a FaceError. */
  async request(method: string, path: string, body?: Body, opts?: CallOptions): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = {};
    if (this.options.key) headers["X-API-Key"] = this.options.key;
    if (opts?.minRevision !== undefined) headers["X-Min-Revision"] = String(opts.minRevision);
    // One key per write call, the same on every retry of it.
    const write = method !== "GET";
    if (write) headers["Idempotency-Key"] = opts?.idempotencyKey ?? randomUUID();
    let unknownOutcomes = 0;
    const backoff = async () => {
      const delay = Math.min(5000, (this.options.backoffMs ?? 200) * 2 ** unknownOutcomes++);
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * (delay / 2)));
    };
    const writeRetries = write ? (this.options.writeRetries ?? 3) : 0;
    let payload: BodyInit | undefined;
    if (body !== undefined) {
      const hasBytes = Object.values(body).some((v) => v instanceof Uint8Array);
      if (hasBytes) {
        const form = new FormData();
        for (const [k, v] of Object.entries(body)) {
          if (v === undefined) continue;
          if (v instanceof Uint8Array) form.set(k, new Blob([v as Uint8Array<ArrayBuffer>]), k);
          // objects (metadata) travel as JSON text: the routes parse such fields back (body.ts formTypes "json")
          else form.set(k, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
        }
        payload = form;
      } else {
        headers["Content-Type"] = "application/json";
        payload = JSON.stringify(body);
      }
    }
    const retries = this.options.rateLimitRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${this.base}${path}`, {
          method,
          headers,
          body: payload,
          signal: AbortSignal.timeout(opts?.timeoutMs ?? this.options.timeoutMs ?? 60_000),
        });
      } catch (cause) {
        if (unknownOutcomes < writeRetries) {
          await backoff();
          continue;
        }
        const timedOut = (cause as Error)?.name === "TimeoutError";
        throw new FaceError(timedOut ? "TIMEOUT" : "UNAVAILABLE", `${method} ${path}: ${(cause as Error).message}`, { cause });
      }
      const text = await res.text();
      let json: unknown = undefined;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      // Both mean the server did not start the work, so retrying is safe for writes too.
      const refused = res.status === 429 || (res.status === 503 && res.headers.has("retry-after"));
      if (refused && attempt < retries) {
        const wait = Number(res.headers.get("retry-after") ?? "1");
        await new Promise((r) => setTimeout(r, Math.min(60, Math.max(0.1, wait)) * 1000));
        continue;
      }
      if (res.ok || (res.status === 503 && path === "/v1/health" && HealthBody.safeParse(json).success)) {
        return { status: res.status, body: json };
      }
      // A write whose outcome is unknown (TIMEOUT, UNAVAILABLE): the same key again.
      if (res.status === 503 && unknownOutcomes < writeRetries) {
        await backoff();
        continue;
      }
      const error = ErrorBody.safeParse(json);
      if (error.success) throw new FaceError(error.data.error.code, error.data.error.message);
      throw new FaceError(res.status === 503 ? "UNAVAILABLE" : "INTERNAL", `${method} ${path}: HTTP ${res.status}`);
    }
  }

  private async call<S extends z.ZodType>(schema: S, method: string, path: string, body?: Body, opts?: CallOptions): Promise<z.output<S>> {
    const { body: json } = await this.request(method, path, body, opts);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new FaceError("INTERNAL", `${method} ${path}: unexpected response (${describeIssues(parsed.error)})`);
    return parsed.data;
  }

  async createCompany(req: CompanyRequest, opts?: CallOptions): Promise<CreateCompanyResult> {
    const r = await this.call(CompanyCreatedBody, "POST", "/v1/companies", { company_id: req.companyId }, opts);
    return { companyId: r.company_id, created: r.created, revision: r.revision };
  }
  async deleteCompany(req: CompanyRequest, opts?: CallOptions): Promise<DeleteResult> {
    return this.call(DeletedBody, "DELETE", `/v1/companies/${enc(req.companyId)}`, undefined, opts);
  }
  async createUser(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult> {
    // FaceApi's EnrollResult carries the embedding: ask for it (the HTTP answer leaves it out by default)
    const body = { user_id: req.userId, face_id: req.faceId, image: image(req.image), name: req.name, metadata: req.metadata, return_embedding: true };
    return enrolled(await this.call(EnrolledBody, "POST", `/v1/companies/${enc(req.companyId)}/users`, body, opts));
  }
  async addFace(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult> {
    const path = `/v1/companies/${enc(req.companyId)}/users/${enc(req.userId)}/faces`;
    return enrolled(await this.call(EnrolledBody, "POST", path, { face_id: req.faceId, image: image(req.image), return_embedding: true }, opts));
  }
  async deleteUser(req: UserRequest, opts?: CallOptions): Promise<DeleteResult> {
    return this.call(DeletedBody, "DELETE", `/v1/companies/${enc(req.companyId)}/users/${enc(req.userId)}`, undefined, opts);
  }
  async deleteFace(req: FaceRequest, opts?: CallOptions): Promise<DeleteResult> {
    const path = `/v1/companies/${enc(req.companyId)}/users/${enc(req.userId)}/faces/${enc(req.faceId)}`;
    return this.call(DeletedBody, "DELETE", path, undefined, opts);
  }
  async getUser(req: UserRequest, opts?: CallOptions): Promise<UserInfo> {
    return userInfo(await this.call(UserBody, "GET", `/v1/companies/${enc(req.companyId)}/users/${enc(req.userId)}`, undefined, opts));
  }
  async updateUser(req: UpdateUserRequest, opts?: CallOptions): Promise<UserInfo> {
    const body = { name: req.name, metadata: req.metadata };
    return userInfo(await this.call(UserBody, "PATCH", `/v1/companies/${enc(req.companyId)}/users/${enc(req.userId)}`, body, opts));
  }
  async getUserFaces(req: UserRequest, opts?: CallOptions): Promise<UserFacesResult> {
    const path = `/v1/companies/${enc(req.companyId)}/users/${enc(req.userId)}/faces`;
    return { faceIds: (await this.call(FaceIdsBody, "GET", path, undefined, opts)).face_ids };
  }
  async recognizeFace(req: RecognizeRequest, opts?: CallOptions): Promise<Recognition> {
    const body = { image: image(req.image), threshold: req.threshold, return_embeddings: req.returnEmbeddings, landmarks: req.landmarks, model_scores: req.modelScores };
    const r = await this.call(RecognizeResponseBody, "POST", `/v1/companies/${enc(req.companyId)}/recognize`, body, opts);
    return { ...recognition(r), companyFound: r.company_found };
  }
  async recognizeFaces(req: RecognizeRequest, opts?: CallOptions): Promise<RecognizeFacesResult> {
    const body = { image: image(req.image), threshold: req.threshold, all_faces: true, return_embeddings: req.returnEmbeddings, landmarks: req.landmarks, model_scores: req.modelScores };
    const r = await this.call(RecognizeResponseBody, "POST", `/v1/companies/${enc(req.companyId)}/recognize`, body, opts);
    return { faces: (r.faces ?? []).map(recognition), ...(r.threshold !== undefined ? { threshold: r.threshold } : {}), companyFound: r.company_found };
  }
  async searchEmbedding(req: SearchEmbeddingRequest, opts?: CallOptions): Promise<SearchEmbeddingResult> {
    const body = { embedding: req.embedding, top_k: req.topK, threshold: req.threshold, model: req.model, model_scores: req.modelScores };
    const r = await this.call(SearchResponseBody, "POST", `/v1/companies/${enc(req.companyId)}/search`, body, opts);
    return {
      userId: r.user_id,
      ...(r.name !== undefined ? { name: r.name } : {}),
      confidence: r.confidence,
      faceId: r.face_id,
      threshold: r.threshold,
      matches: r.matches.map((m) => ({ userId: m.user_id, confidence: m.confidence, faceId: m.face_id })),
      ...(r.model_scores ? { modelScores: r.model_scores } : {}),
    };
  }
  async getOperatingPoint(req: OperatingPointRequest, opts?: CallOptions): Promise<OperatingPoint> {
    return operatingPoint(await this.call(OperatingPointBody, "GET", `/v1/companies/${enc(req.companyId)}/operating-point`, undefined, opts));
  }
  async setOperatingPoint(req: SetOperatingPointRequest, opts?: CallOptions): Promise<OperatingPoint> {
    const body = { fpir_target: req.fpirTarget ?? null, threshold: req.threshold ?? null };
    return operatingPoint(await this.call(OperatingPointBody, "PUT", `/v1/companies/${enc(req.companyId)}/operating-point`, body, opts));
  }
  async detectFaces(req: ImageRequest, opts?: CallOptions): Promise<DetectResult> {
    const r = await this.call(DetectBody, "POST", "/v1/detect", { image: image(req.image) }, opts);
    return { facesCount: r.faces_count, faces: r.bboxes.map((bbox, i) => ({ bbox, score: r.scores[i], landmarks: r.landmarks[i] ?? [] })) };
  }
  async generateEmbedding(req: ImageRequest, opts?: CallOptions): Promise<EmbedResult> {
    const r = await this.call(EmbedBody, "POST", "/v1/embed", { image: image(req.image) }, opts);
    return { embedding: r.embedding, detectionScore: r.detection_score, bbox: r.bbox, model: r.model };
  }
  async compare(req: CompareRequest, opts?: CallOptions): Promise<CompareResult> {
    const body = { query_embedding: req.queryEmbedding, reference_embeddings: req.referenceEmbeddings, distance_metric: req.distanceMetric };
    const r = await this.call(CompareResponseBody, "POST", "/v1/compare", body, opts);
    return { bestMatch: r.best_match, matches: r.matches };
  }
  async verify(req: VerifyRequest, opts?: CallOptions): Promise<VerifyResult> {
    const body = { image1: image(req.image1), image2: image(req.image2), threshold: req.threshold };
    const r = await this.call(VerifyResponseBody, "POST", "/v1/verify", body, opts);
    return {
      isMatch: r.is_match,
      confidence: r.confidence,
      threshold: r.threshold,
      metrics: { cosineSimilarity: r.metrics.cosine_similarity, euclideanDistance: r.metrics.euclidean_distance },
      processingMs: r.processing_ms,
    };
  }
  async getCacheStats(opts?: CallOptions): Promise<CacheStats> {
    // Every company unless asked otherwise (the FaceApi's default; the server's is totals).
    const query = opts?.statsCompanyId !== undefined ? `company=${enc(opts.statsCompanyId)}` : `detail=${opts?.statsDetail ?? "companies"}`;
    const r = await this.call(StatsBody, "GET", `/v1/stats?${query}`, undefined, opts);
    return {
      companiesCount: r.companies_count,
      usersCount: r.users_count,
      facesCount: r.faces_count,
      embeddingsCount: r.embeddings_count,
      uptimeSeconds: r.uptime_seconds,
      totalTasksProcessed: r.total_tasks_processed,
      workerId: r.worker_id,
      revision: r.revision,
      companies: r.cache_info,
      cacheInfo: r.server_info,
    };
  }
  async healthCheck(opts?: CallOptions): Promise<Health> {
    const r = await this.call(HealthBody, "GET", "/v1/health", undefined, opts);
    if (r.response_time_ms === undefined || !r.worker_info || !r.engine || !r.store) {
      // The public health says only up or not; the details need an admin key.
      throw new FaceError("FORBIDDEN", `the server reports "${r.status}"; health details need an admin key`);
    }
    return {
      // the wire speaks the old system's healthy/unhealthy; the state beside it is the three-way one
      status: r.state ?? (r.status === "healthy" ? "ok" : "unavailable"),
      responseTimeMs: r.response_time_ms,
      workerInfo: { workerId: r.worker_info.worker_id, uptimeSeconds: r.worker_info.uptime_seconds, tasksProcessed: r.worker_info.tasks_processed },
      engine: {
        engine: r.engine.engine,
        backend: r.engine.backend,
        modelId: r.engine.model_id,
        embeddingDim: r.engine.embedding_dim,
        models: r.engine.models,
      },
      store: { kind: String(r.store.kind ?? "unknown"), revision: Number(r.store.revision ?? 0), ...r.store },
    };
  }
  async listCompanies(req: ListCompaniesRequest = {}, opts?: CallOptions): Promise<ListCompaniesResult> {
    const r = await this.call(CompaniesPageBody, "GET", `/v1/companies${qs({ cursor: req.cursor, limit: req.limit })}`, undefined, opts);
    return { companies: r.companies.map((c) => ({ companyId: c.company_id, users: c.users, faces: c.faces })), total: r.total, nextCursor: r.next_cursor };
  }
  async listUsers(req: ListUsersRequest, opts?: CallOptions): Promise<ListUsersResult> {
    const path = `/v1/companies/${enc(req.companyId)}/users${qs({ cursor: req.cursor, limit: req.limit })}`;
    const r = await this.call(UsersPageBody, "GET", path, undefined, opts);
    return { companyId: r.company_id, users: r.users.map((u) => ({ userId: u.user_id, ...(u.name !== undefined ? { name: u.name } : {}), faces: u.faces })), total: r.total, nextCursor: r.next_cursor };
  }

  // ---------------------------------------------------------------- events and webhooks (wire shapes)

  /** A page of the company's events (`since`/`until`: ISO 8601 or ms; newest first unless order "asc"). */
  async listEvents(
    companyId: string,
    query: { since?: string | number; until?: string | number; userId?: string; limit?: number; cursor?: string; order?: "asc" | "desc" } = {},
  ): Promise<z.output<typeof EventsPageBody>> {
    const q = qs({ since: query.since, until: query.until, user_id: query.userId, limit: query.limit, cursor: query.cursor, order: query.order });
    return this.call(EventsPageBody, "GET", `/v1/companies/${enc(companyId)}/events${q}`);
  }
  /** First and last event per user on `date` (YYYY-MM-DD) at `utcOffset` (+HH:MM, default UTC). */
  async attendance(companyId: string, date: string, utcOffset?: string): Promise<z.output<typeof AttendanceBody>> {
    return this.call(AttendanceBody, "GET", `/v1/companies/${enc(companyId)}/attendance${qs({ date, utc_offset: utcOffset })}`);
  }
  /** Sets the webhook; without a secret the server generates one and returns it (only this once). */
  async putWebhook(companyId: string, url: string, secret?: string): Promise<z.output<typeof WebhookBody>> {
    return this.call(WebhookBody, "PUT", `/v1/companies/${enc(companyId)}/webhook`, { url, secret });
  }
  async getWebhook(companyId: string): Promise<z.output<typeof WebhookBody>> {
    return this.call(WebhookBody, "GET", `/v1/companies/${enc(companyId)}/webhook`);
  }
  async deleteWebhook(companyId: string): Promise<boolean> {
    return (await this.call(DeletedBody, "DELETE", `/v1/companies/${enc(companyId)}/webhook`)).deleted;
  }
  async retryWebhook(companyId: string): Promise<number> {
    return (await this.call(RequeuedBody, "POST", `/v1/companies/${enc(companyId)}/webhook/retry`)).requeued;
  }
  async close(): Promise<void> {}
}

function qs(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v));
  const text = search.toString();
  return text ? `?${text}` : "";
}

function image(input: ImageInput): string | Uint8Array {
  return input instanceof ArrayBuffer ? new Uint8Array(input) : input;
}
function enrolled(r: z.output<typeof EnrolledBody>): EnrollResult {
  if (!r.embedding) throw new FaceError("INTERNAL", "the server's enroll answer has no embedding (a server older than return_embedding?)");
  return {
    companyId: r.company_id,
    userId: r.user_id,
    faceId: r.face_id,
    embedding: r.embedding,
    detectionScore: r.detection_score,
    bbox: r.bbox,
    model: r.model,
    revision: r.revision,
    ...(r.faces_found !== undefined ? { facesFound: r.faces_found } : {}),
    ...(r.name !== undefined ? { name: r.name } : {}),
  };
}
function userInfo(r: z.output<typeof UserBody>): UserInfo {
  return {
    companyId: r.company_id,
    userId: r.user_id,
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...(r.metadata !== undefined ? { metadata: r.metadata } : {}),
    faceIds: r.face_ids,
    ...(r.revision !== undefined ? { revision: r.revision } : {}),
  };
}
function operatingPoint(r: z.output<typeof OperatingPointBody>): OperatingPoint {
  return {
    companyId: r.company_id,
    users: r.users,
    multiFaceUsers: r.multi_face_users,
    threshold: r.threshold,
    source: r.source,
    fpirTarget: r.fpir_target,
    expectedFpir: r.expected_fpir,
    expectedFrr: r.expected_frr,
    settings: r.settings ? { fpirTarget: r.settings.fpir_target, threshold: r.settings.threshold } : null,
    bounds: { fpirTarget: r.bounds.fpir_target, threshold: r.bounds.threshold },
    calibration: r.calibration
      ? {
          model: r.calibration.model,
          source: r.calibration.source,
          genuinePairs: r.calibration.genuine_pairs,
          impostorPairs: r.calibration.impostor_pairs,
          curve: r.calibration.curve,
        }
      : null,
    ...(r.revision !== undefined ? { revision: r.revision } : {}),
  };
}
function recognition(r: z.output<typeof RecognitionBody>): Recognition {
  const out: Recognition = { userId: r.user_id, confidence: r.confidence, bbox: r.bbox };
  if (r.name !== undefined) out.name = r.name;
  if (r.face_id !== undefined) out.faceId = r.face_id;
  if (r.detection_score !== undefined) out.detectionScore = r.detection_score;
  if (r.threshold !== undefined) out.threshold = r.threshold;
  if (r.embedding !== undefined) out.embedding = r.embedding;
  if (r.landmarks !== undefined) out.landmarks = r.landmarks;
  if (r.landmarks_68 !== undefined) out.landmarks68 = r.landmarks_68;
  if (r.model_scores !== undefined) out.modelScores = r.model_scores;
  return out;
}
