/**
 * LocalFaceService, the composition root: engine + store + gallery + threshold policy, and the
 * operations of the old system (ARCHITECTURE §1) over them. The stateless operations are in
 * stateless.ts, stats and health in status.ts, operating points in operating-point.ts (what is shown: operating-point-view.ts). Writes go to the store first; the gallery is fed only by `store.watch`, and a write returns
 * once the gallery has applied its revision (read-your-writes). Reads never block on each other: a
 * recognition is engine work plus one synchronous gallery search.
 */
import type { z } from "zod";
import {
  bestKernel,
  type CompanySettings,
  decodeCursor,
  encodeCursor,
  type FaceApi,
  FaceError,
  Gallery,
  type GalleryStore,
  IdCursorAnySchema,
  MemoryGalleryStore,
  normalize,
} from "../core/internal.ts";
import {
  CallOptionsSchema,
  CompanyRequestSchema,
  CompareRequestSchema,
  EnrollRequestSchema,
  FaceRequestSchema,
  ImageRequestSchema,
  RecognizeRequestSchema,
  SearchEmbeddingRequestSchema,
  OperatingPointRequestSchema,
  SetOperatingPointRequestSchema,
  UserRequestSchema,
  UpdateUserRequestSchema,
  VerifyRequestSchema,
  type BBox,
  type CacheStats,
  type CallOptions,
  type CompanyRequest,
  type CompareRequest,
  type CompareResult,
  type CreateCompanyResult,
  type DeleteResult,
  type DetectResult,
  type EmbedResult,
  type EnrollRequest,
  type EnrollResult,
  type FaceRequest,
  type Health,
  type ImageInput,
  type ImageRequest,
  type RecognizeFacesResult,
  type RecognizeRequest,
  type Recognition,
  type ModelScore,
  type OperatingPoint,
  type OperatingPointRequest,
  type SetOperatingPointRequest,
  type SearchEmbeddingRequest,
  type SearchEmbeddingResult,
  type UserFacesResult,
  type UserRequest,
  type UpdateUserRequest,
  type UserInfo,
  type VerifyRequest,
  type VerifyResult,
  compactProfile,
} from "../core/internal.ts";
import {
  DEFAULT_LIST_LIMIT,
  ListCompaniesRequestSchema,
  ListUsersRequestSchema,
  pageOf,
  type ListCompaniesRequest,
  type ListCompaniesResult,
  type ListUsersRequest,
  type ListUsersResult,
} from "../core/internal.ts";
import { type AnalyzedFace, EngineProbe, type FaceEngine } from "../engine/internal.ts";
import { checkQuality, measureQuality } from "./quality.ts";
import { databasePath, qualityBounds, loadServiceConfig, parseServiceConfig, type ServiceConfig, type ServiceConfigInput } from "./config.ts";
import { applyInitialData, type InitialDataOutcome } from "./initial-data-source.ts";
import { DEFAULT_PAIR_THRESHOLD, ThresholdPolicy, findCalibration, type OperatingPointInForce } from "./operating-point.ts";
import { operatingPointView } from "./operating-point-view.ts";
import { sharedScanPool } from "./scan-pool.ts";
import { ModelRouting, type ServedModel } from "./model-routing.ts";
import { partScores } from "../core/internal.ts";
import * as stateless from "./stateless.ts";
import { analyzeImage } from "./stateless.ts";
import { cacheStats, health, type StatusSource } from "./status.ts";
import { SqliteGalleryStore } from "./sqlite-store.ts";

export interface LocalFaceServiceOptions {
  config?: Partial<ServiceConfigInput>;
  engine?: FaceEngine;
  store?: GalleryStore;
  env?: Record<string, string | undefined>;
  /** Log lines (start-up statistics, initial-data warnings); default console. */
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join(".") || what}: ${i.message}`);
  throw new FaceError("INVALID_ARGUMENT", `invalid ${what}: ${issues.join("; ")}`, { details: result.error.issues });
}

const area = (f: { bbox: BBox }) => f.bbox[2] * f.bbox[3];

/** The face enrollment uses: the largest box (ties: the engine's order, i.e. the higher score). */
export function largestFace<T extends { bbox: BBox }>(faces: readonly T[]): T {
  let best = faces[0];
  for (const f of faces) if (area(f) > area(best)) best = f;
  return best;
}

export class LocalFaceService implements FaceApi {
  readonly gallery: Gallery;
  private readonly startedAt = Date.now();
  private tasks = 0;
  private unwatch: (() => void) | null = null;
  private closed = false;
  /** What the initial-data step did at start (null: not attempted). */
  initialData: InitialDataOutcome | null = null;

  private constructor(
    readonly config: ServiceConfig,
    readonly engine: FaceEngine,
    readonly store: GalleryStore,
    private readonly ownsEngine: boolean,
    private readonly ownsStore: boolean,
    private readonly log: NonNullable<LocalFaceServiceOptions["log"]>,
  ) {
    const parallel = config.searchThreads > 1 && typeof Worker !== "undefined" ? sharedScanPool() : undefined;
    this.gallery = new Gallery({
      onWarning: (m) => log("warn", `[gallery] ${m}`),
      kernel: () => bestKernel({ parallel }),
      score: config.userScore,
    });
    this.modelId = engine.info().modelId;
    this.routing = new ModelRouting(engine.info());
    this.thresholds = this.policy(findCalibration(this.modelId, config.calibrationFile));
    this.policies.set(this.modelId, this.thresholds);
    this.engineProbe = new EngineProbe(engine);
    this.engineProbe.warm();
  }

  /** Health runs a tiny image through the engine at most every 10 s (cached in between). */
  private readonly engineProbe: EngineProbe;

  /** Per-company thresholds from the calibration, FACE_FPIR_TARGET and FACE_RECOGNITION_THRESHOLD. */
  readonly thresholds: ThresholdPolicy;

  /** The engine's model id, read once: it is on every recognition's path. */
  private readonly modelId: string;

  /** Which model each company is served with (an old gallery of one fused model keeps it). */
  private readonly routing: ModelRouting;

  /** Threshold policies by served model: the engine's, and each fused model's own for old galleries. */
  private readonly policies = new Map<string, ThresholdPolicy>();

  private policy(calibration: ReturnType<typeof findCalibration>): ThresholdPolicy {
    return new ThresholdPolicy({
      calibration,
      explicitThreshold: this.config.recognitionThreshold,
      fpirTarget: this.config.fpirTarget,
      companySettings: (id) => this.gallery.companySettings(id),
    });
  }

  /** The model a company is served with: its gallery's when that is one of the fused models, else the engine's. */
  private served(companyId: string): ServedModel {
    return this.routing.forCompany(this.gallery.companyModel(companyId));
  }

  /** The threshold policy of a served model (each fused model's shipped calibration for an old gallery). */
  private thresholdsFor(served: ServedModel): ThresholdPolicy {
    let p = this.policies.get(served.modelId);
    if (!p) {
      p = this.policy(findCalibration(served.modelId));
      this.policies.set(served.modelId, p);
    }
    return p;
  }

  /** Creates a started service: store replayed into the gallery, initial data applied to an empty store. */
  static async create(opts: LocalFaceServiceOptions = {}): Promise<LocalFaceService> {
    const base = loadServiceConfig(opts.env ?? process.env);
    const config = parseServiceConfig({ ...base, ...opts.config });
    const log =
      opts.log ??
      ((level, message) => (level === "error" ? console.error : level === "warn" ? console.warn : console.log)(message));
    // the store first: a database held by another process fails at once, before the models load
    let store = opts.store;
    if (!store) {
      store =
        config.store === "memory"
          ? new MemoryGalleryStore()
          : new SqliteGalleryStore({ path: databasePath(config), synchronous: config.sqliteSynchronous });
    }
    let engine = opts.engine;
    if (!engine) {
      try {
        const { createEngine, loadEngineConfig } = await import("../engine/mod.ts");
        // an explicit env reaches the engine's variables too (FACE_ENGINE, FACE_DETECTION_THRESHOLD, ...)
        engine = await createEngine(opts.env ? loadEngineConfig(opts.env) : {});
      } catch (error) {
        if (!opts.store) await store.close();
        throw error;
      }
    }
    const service = new LocalFaceService(config, engine, store, !opts.engine, !opts.store, log);
    try {
      await service.start();
    } catch (error) {
      await service.close();
      throw error;
    }
    return service;
  }

  private async start(): Promise<void> {
    this.unwatch = await this.store.watch((event) => this.gallery.apply(event));
    // Stores that do not emit a "sync" event after their replay: everything up to now is applied.
    this.gallery.advanceTo(await this.store.revision());
    this.initialData = await applyInitialData({
      config: this.config,
      store: this.store,
      gallery: this.gallery,
      engineInfo: this.engine.info(),
      log: this.log,
    });
    if (this.initialData.revision !== undefined) {
      await this.gallery.waitForRevision(this.initialData.revision, Math.max(this.config.minRevisionWaitMs, 60_000));
    }
    // the replay grew each company's rows by doubling: give back what it does not use
    this.gallery.trim();
    const s = this.gallery.stats();
    this.log(
      "info",
      `[service] ready: ${s.companies} companies, ${s.users} users, ${s.faces} faces, ${s.embeddings} embeddings; ` +
        `store ${this.store.kind} at revision ${this.gallery.revision}; model ${this.modelId}`,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    this.gallery.clear();
    if (this.ownsStore) await this.store.close();
    if (this.ownsEngine) await this.engine.dispose();
  }

  // ------------------------------------------------------------------ plumbing

  /** Runs one operation: validates options, waits for minRevision, counts the task. */
  private async run<T>(opts: CallOptions | undefined, fn: (o: CallOptions) => Promise<T>): Promise<T> {
    try {
      if (this.closed) throw new FaceError("UNAVAILABLE", "service closed");
      const o = parse(CallOptionsSchema, opts ?? {}, "call options");
      if (o.minRevision !== undefined) await this.gallery.waitForRevision(o.minRevision, o.timeoutMs ?? this.config.minRevisionWaitMs);
      return await fn(o);
    } catch (error) {
      throw FaceError.from(error);
    } finally {
      this.tasks++;
    }
  }

  /** After a store write: wait until the gallery has it. */
  private async applied(revision: number): Promise<void> {
    await this.gallery.waitForRevision(revision, Math.max(this.config.minRevisionWaitMs, 1000));
  }

  private requireCompany(companyId: string): void {
    if (!this.gallery.hasCompany(companyId)) {
      throw new FaceError("COMPANY_NOT_FOUND", `company ${JSON.stringify(companyId)} does not exist`, { details: { companyId } });
    }
  }

  /**
   * The face an enrollment uses (largest; MULTIPLE_FACES under ENROLL_MULTIPLE_FACES=reject), after the
   * quality gate (FACE_QUALITY naming the check, the value and the bound; ENROLL_QUALITY=off skips it).
   */
  private async enrollFace(image: unknown, sourceScale?: number): Promise<AnalyzedFace & { facesFound: number }> {
    const faces = await analyzeImage(this.engine, image, undefined, sourceScale);
    if (faces.length === 0) throw new FaceError("NO_FACE", "no face detected in the image");
    if (faces.length > 1 && this.config.enrollMultipleFaces === "reject") {
      throw new FaceError("MULTIPLE_FACES", `${faces.length} faces detected; enrollment needs exactly one`, {
        details: { count: faces.length, bboxes: faces.map((f) => f.bbox) },
      });
    }
    const face = largestFace(faces);
    if (this.config.enrollQuality === "enforce") {
      checkQuality(await measureQuality(image as ImageInput, face, faces, sourceScale), qualityBounds(this.config));
    }
    return { ...face, facesFound: faces.length };
  }

  private async storeFace(req: FaceRequest, face: AnalyzedFace & { facesFound: number }, served: ServedModel): Promise<EnrollResult> {
    const embedding = this.routing.project(face.embedding, served);
    const put = await this.store.addFace({ ...req, embedding, model: served.modelId });
    if (!put.created) {
      throw new FaceError("FACE_EXISTS", `face ${JSON.stringify(req.faceId)} already exists for user ${JSON.stringify(req.userId)}`, {
        details: req,
      });
    }
    await this.applied(put.revision);
    const name = this.gallery.userName(req.companyId, req.userId);
    return {
      ...(name !== undefined ? { name } : {}),
      companyId: req.companyId,
      userId: req.userId,
      faceId: req.faceId,
      embedding: Array.from(embedding),
      detectionScore: face.score,
      bbox: face.bbox,
      model: served.modelId,
      revision: put.revision,
      facesFound: face.facesFound,
    };
  }

  /** The company's served model, after checking that an engine embedding of `dim` values can join it (MODEL_MISMATCH). */
  private checkServed(companyId: string, dim: number): ServedModel {
    const served = this.served(companyId);
    this.gallery.checkModel(companyId, served.modelId, served.part && dim === this.engine.info().embeddingDim ? served.dim : dim);
    return served;
  }

  // ------------------------------------------------------------------ management (fanout in the old system)

  createCompany(req: CompanyRequest, opts?: CallOptions): Promise<CreateCompanyResult> {
    return this.run(opts, async () => {
      const { companyId } = parse(CompanyRequestSchema, req, "create_company request");
      const r = await this.store.createCompany(companyId);
      await this.applied(r.revision);
      return { companyId, created: r.created, revision: r.revision };
    });
  }

  deleteCompany(req: CompanyRequest, opts?: CallOptions): Promise<DeleteResult> {
    return this.run(opts, async () => {
      const { companyId } = parse(CompanyRequestSchema, req, "delete_company request");
      const r = await this.store.deleteCompany(companyId);
      await this.applied(r.revision);
      return { deleted: r.deleted, revision: r.revision };
    });
  }

  createUser(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult> {
    return this.run(opts, async (o) => {
      const r = parse(EnrollRequestSchema, req, "create_user request");
      this.requireCompany(r.companyId);
      // cheap checks before the engine work; the store's create-if-absent is the atomic one
      if (this.gallery.hasUser(r.companyId, r.userId)) throw userExists(r);
      this.checkServed(r.companyId, this.engine.info().embeddingDim);
      const face = await this.enrollFace(r.image, o.imageScales?.image);
      const served = this.checkServed(r.companyId, face.embedding.length);
      const created = await this.store.createUser(r.companyId, r.userId, compactProfile({ name: r.name, metadata: r.metadata }));
      if (!created.created) throw userExists(r);
      await this.applied(created.revision);
      return this.storeFace(r, face, served);
    });
  }

  addFace(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult> {
    return this.run(opts, async (o) => {
      const r = parse(EnrollRequestSchema, req, "add_face request");
      this.requireCompany(r.companyId);
      if (!this.gallery.hasUser(r.companyId, r.userId)) {
        throw new FaceError("USER_NOT_FOUND", `user ${JSON.stringify(r.userId)} does not exist in company ${JSON.stringify(r.companyId)}`, {
          details: { companyId: r.companyId, userId: r.userId },
        });
      }
      if (this.gallery.hasFace(r.companyId, r.userId, r.faceId)) {
        throw new FaceError("FACE_EXISTS", `face ${JSON.stringify(r.faceId)} already exists for user ${JSON.stringify(r.userId)}`, {
          details: { companyId: r.companyId, userId: r.userId, faceId: r.faceId },
        });
      }
      this.checkServed(r.companyId, this.engine.info().embeddingDim);
      const face = await this.enrollFace(r.image, o.imageScales?.image);
      return this.storeFace(r, face, this.checkServed(r.companyId, face.embedding.length));
    });
  }

  getUser(req: UserRequest, opts?: CallOptions): Promise<UserInfo> {
    return this.run(opts, async () => {
      const { companyId, userId } = parse(UserRequestSchema, req, "get_user request");
      this.requireUser(companyId, userId);
      return this.userInfo(companyId, userId);
    });
  }

  updateUser(req: UpdateUserRequest, opts?: CallOptions): Promise<UserInfo> {
    return this.run(opts, async () => {
      const r = parse(UpdateUserRequestSchema, req, "update_user request");
      this.requireUser(r.companyId, r.userId);
      const now = this.gallery.userProfile(r.companyId, r.userId) ?? {};
      const next = compactProfile({
        name: r.name === undefined ? now.name : (r.name ?? undefined),
        metadata: r.metadata === undefined ? now.metadata : (r.metadata ?? undefined),
      });
      const w = await this.store.updateUser(r.companyId, r.userId, next);
      await this.applied(w.revision);
      return { ...this.userInfo(r.companyId, r.userId), revision: w.revision };
    });
  }

  private requireUser(companyId: string, userId: string): void {
    this.requireCompany(companyId);
    if (!this.gallery.hasUser(companyId, userId)) {
      throw new FaceError("USER_NOT_FOUND", `user ${JSON.stringify(userId)} does not exist in company ${JSON.stringify(companyId)}`, {
        details: { companyId, userId },
      });
    }
  }

  private userInfo(companyId: string, userId: string): UserInfo {
    const profile = this.gallery.userProfile(companyId, userId);
    return { companyId, userId, ...profile, faceIds: this.gallery.getUserFaces(companyId, userId) };
  }

  deleteUser(req: UserRequest, opts?: CallOptions): Promise<DeleteResult> {
    return this.run(opts, async () => {
      const { companyId, userId } = parse(UserRequestSchema, req, "delete_user request");
      const r = await this.store.deleteUser(companyId, userId);
      await this.applied(r.revision);
      return { deleted: r.deleted, revision: r.revision };
    });
  }

  deleteFace(req: FaceRequest, opts?: CallOptions): Promise<DeleteResult> {
    return this.run(opts, async () => {
      const { companyId, userId, faceId } = parse(FaceRequestSchema, req, "delete_face request");
      const r = await this.store.deleteFace(companyId, userId, faceId);
      await this.applied(r.revision);
      return { deleted: r.deleted, revision: r.revision };
    });
  }

  getUserFaces(req: UserRequest, opts?: CallOptions): Promise<UserFacesResult> {
    return this.run(opts, async () => {
      const { companyId, userId } = parse(UserRequestSchema, req, "get_user_faces request");
      return { faceIds: this.gallery.getUserFaces(companyId, userId) };
    });
  }

  // ------------------------------------------------------------------ recognition (queue in the old system)

  /** The company's operating point: the threshold decisions use, where it comes from, the FPIR expected at it. */
  operatingPoint(companyId: string): OperatingPointInForce {
    const c = this.gallery.index(companyId);
    const thresholds = this.thresholdsFor(this.served(companyId));
    // scored by the best face, a user with k faces is k chances for a stranger: count faces as single photos
    if (this.config.userScore === "max") return thresholds.resolve(companyId, c?.count ?? 0, 0);
    // users without faces cannot be matched: N counts users with a template
    return thresholds.resolve(companyId, c?.templates?.users.size ?? c?.users.size ?? 0, c?.multiFaceUsers ?? 0);
  }

  /** The operating point with the calibration's curves for this company's size (what GET .../operating-point shows). */
  private describeOperatingPoint(companyId: string, revision?: number): OperatingPoint {
    return operatingPointView({
      companyId,
      inForce: this.operatingPoint(companyId),
      calibration: this.thresholdsFor(this.served(companyId)).calibration,
      settings: this.gallery.companySettings(companyId),
      revision,
    });
  }

  getOperatingPoint(req: OperatingPointRequest, opts?: CallOptions): Promise<OperatingPoint> {
    return this.run(opts, async () => {
      const { companyId } = parse(OperatingPointRequestSchema, req, "get_operating_point request");
      this.requireCompany(companyId);
      return this.describeOperatingPoint(companyId);
    });
  }

  setOperatingPoint(req: SetOperatingPointRequest, opts?: CallOptions): Promise<OperatingPoint> {
    return this.run(opts, async () => {
      const r = parse(SetOperatingPointRequestSchema, req, "set_operating_point request");
      this.requireCompany(r.companyId);
      if (!this.store.setCompanySettings) {
        throw new FaceError("UNAVAILABLE", `the ${this.store.kind} store does not keep per-company settings`);
      }
      const settings: CompanySettings | null =
        r.fpirTarget != null ? { fpirTarget: r.fpirTarget } : r.threshold != null ? { threshold: r.threshold } : null;
      const w = await this.store.setCompanySettings(r.companyId, settings);
      await this.applied(w.revision);
      return this.describeOperatingPoint(r.companyId, w.revision);
    });
  }

  /** Searches with an engine embedding (or a caller's vector of the served model), projected onto the company's served model. */
  private decide(companyId: string, embedding: ArrayLike<number>, threshold: number, k: number, withModelScores = false): SearchEmbeddingResult {
    const served = this.served(companyId);
    const query = this.routing.project(embedding, served);
    const hits = this.gallery.search(companyId, query, { k, model: served.modelId });
    const top = hits[0];
    const matched = top !== undefined && top.score >= threshold;
    const modelScores = withModelScores && top ? this.modelScores(companyId, served, query, top) : undefined;
    const name = matched ? this.gallery.userName(companyId, top.userId) : undefined;
    return {
      userId: matched ? top.userId : null,
      ...(name !== undefined ? { name } : {}),
      confidence: top?.score ?? 0,
      faceId: matched ? top.faceId : null,
      threshold,
      matches: hits.map((h) => ({ userId: h.userId, confidence: h.score, faceId: h.faceId })),
      ...(modelScores ? { modelScores } : {}),
    };
  }

  /**
   * Each model's own cosine between the query and the top match (the user's template, or their best face
   * when users are scored by their best face): the fused score's parts, or the served model's one score.
   */
  private modelScores(companyId: string, served: ServedModel, query: Float32Array, top: { userId: string; faceId: string; score: number }): ModelScore[] {
    const parts = this.routing.fusedParts;
    if (served.part || parts.length === 0) return [{ model: served.modelId, score: top.score }];
    const target =
      (this.config.userScore === "mean" ? this.gallery.index(companyId)?.template(top.userId) : undefined) ??
      this.gallery.getEmbedding(companyId, top.userId, top.faceId);
    if (!target) return [{ model: served.modelId, score: top.score }];
    const scores = partScores(parts, query, target);
    return parts.map((p, i) => ({ model: p.modelId, score: scores[i] }));
  }

  private match(companyId: string, face: AnalyzedFace, threshold: number, extra: { embedding: boolean; landmarks: boolean; modelScores: boolean }): Recognition {
    const d = this.decide(companyId, face.embedding, threshold, 1, extra.modelScores);
    const out: Recognition = { userId: d.userId, confidence: d.confidence, bbox: face.bbox, faceId: d.faceId, detectionScore: face.score, threshold };
    if (d.modelScores) out.modelScores = d.modelScores;
    if (d.name !== undefined) out.name = d.name;
    if (extra.embedding) out.embedding = Array.from(normalize(face.embedding));
    if (extra.landmarks) {
      out.landmarks = face.landmarks;
      if (face.landmarks68) out.landmarks68 = face.landmarks68;
    }
    return out;
  }

  /** Companies last warned about as unknown (recognize), with when: one warning per company a minute. */
  private readonly unknownWarned = new Map<string, number>();

  private warnUnknownCompany(companyId: string): void {
    const now = Date.now();
    if ((this.unknownWarned.get(companyId) ?? -Infinity) > now - 60_000) return;
    if (this.unknownWarned.size >= 1000) this.unknownWarned.clear(); // bounded: ids come from callers
    this.unknownWarned.set(companyId, now);
    this.log("warn", `[service] recognize for company ${JSON.stringify(companyId)}, which does not exist: answered no match (company_found false); a typo in the kiosk's or backend's company id?`);
  }

  private async recognizeAll(
    req: RecognizeRequest,
    what: string,
    sourceScale?: number,
  ): Promise<{ faces: Recognition[]; threshold: number; companyFound: boolean }> {
    const r = parse(RecognizeRequestSchema, req, what);
    if (!this.gallery.hasCompany(r.companyId)) {
      this.warnUnknownCompany(r.companyId);
      return { faces: [], threshold: r.threshold ?? this.operatingPoint(r.companyId).threshold, companyFound: false };
    }
    const faces = await analyzeImage(this.engine, r.image, this.config.recognizeMaxFaces, sourceScale);
    // the threshold is read after the engine work: it follows the gallery size at decision time
    const threshold = r.threshold ?? this.operatingPoint(r.companyId).threshold;
    const extra = { embedding: r.returnEmbeddings === true, landmarks: r.landmarks === true, modelScores: r.modelScores === true };
    return { faces: faces.map((f) => this.match(r.companyId, f, threshold, extra)), threshold, companyFound: true };
  }

  recognizeFace(req: RecognizeRequest, opts?: CallOptions): Promise<Recognition> {
    return this.run(opts, async (o) => {
      const all = await this.recognizeAll(req, "recognize_face request", o.imageScales?.image);
      if (all.faces.length === 0) return { userId: null, confidence: 0, bbox: null, threshold: all.threshold, companyFound: all.companyFound };
      // best match: a recognised face beats an unrecognised one, then the higher similarity
      let best = all.faces[0];
      for (const r of all.faces) {
        const rk = r.userId !== null ? 1 : 0;
        const bk = best.userId !== null ? 1 : 0;
        if (rk > bk || (rk === bk && r.confidence > best.confidence)) best = r;
      }
      return { ...best, companyFound: true };
    });
  }

  recognizeFaces(req: RecognizeRequest, opts?: CallOptions): Promise<RecognizeFacesResult> {
    return this.run(opts, async (o) => {
      return this.recognizeAll(req, "recognize_faces request", o.imageScales?.image);
    });
  }

  searchEmbedding(req: SearchEmbeddingRequest, opts?: CallOptions): Promise<SearchEmbeddingResult> {
    return this.run(opts, async () => {
      const r = parse(SearchEmbeddingRequestSchema, req, "search_embedding request");
      this.requireCompany(r.companyId);
      const served = this.served(r.companyId);
      const engineDim = this.engine.info().embeddingDim;
      // absent, the query's model is the engine's; a vector of the served model's own length into an old gallery is that model's
      const model = r.model ?? (served.part && r.embedding.length === served.dim ? served.modelId : this.modelId);
      const own = model === served.modelId && r.embedding.length === served.dim;
      // an old gallery of one fused model takes the fused vector too (its slice is searched)
      const fusedIntoPart = served.part !== undefined && model === this.modelId && r.embedding.length === engineDim;
      // a vector of another model (or dimension) is never searched: its scores would mean nothing
      if (!own && !fusedIntoPart) {
        const held = this.gallery.companyModel(r.companyId);
        throw new FaceError(
          "MODEL_MISMATCH",
          `the query is a ${r.embedding.length}-d embedding of model ${model}; company ${JSON.stringify(r.companyId)} ` +
            `${held ? "holds" : "takes"} ${served.dim}-d embeddings of model ${served.modelId}`,
          { details: { model, dimensions: r.embedding.length, expectedModel: served.modelId, expected: served.dim } },
        );
      }
      const embedding = normalize(r.embedding);
      const threshold = r.threshold ?? this.operatingPoint(r.companyId).threshold;
      return this.decide(r.companyId, embedding, threshold, r.topK ?? 1, r.modelScores === true);
    });
  }

  detectFaces(req: ImageRequest, opts?: CallOptions): Promise<DetectResult> {
    return this.run(opts, async (o) =>
      stateless.detectFaces(this.engine, parse(ImageRequestSchema, req, "detect_faces request").image, o.imageScales?.image),
    );
  }

  generateEmbedding(req: ImageRequest, opts?: CallOptions): Promise<EmbedResult> {
    return this.run(opts, async (o) =>
      stateless.generateEmbedding(this.engine, parse(ImageRequestSchema, req, "generate_embedding request").image, this.modelId, o.imageScales?.image),
    );
  }

  compare(req: CompareRequest, opts?: CallOptions): Promise<CompareResult> {
    return this.run(opts, async () => stateless.compare(parse(CompareRequestSchema, req, "compare request")));
  }

  verify(req: VerifyRequest, opts?: CallOptions): Promise<VerifyResult> {
    return this.run(opts, async (o) => {
      const r = parse(VerifyRequestSchema, req, "verify request");
      return stateless.verify(this.engine, r, r.threshold ?? this.config.recognitionThreshold ?? DEFAULT_PAIR_THRESHOLD, o.imageScales);
    });
  }

  // ------------------------------------------------------------------ listing

  listCompanies(req: ListCompaniesRequest = {}, opts?: CallOptions): Promise<ListCompaniesResult> {
    return this.run(opts, async () => {
      const r = parse(ListCompaniesRequestSchema, req, "list_companies request");
      const after = r.cursor === undefined ? undefined : decodeCursor(r.cursor, IdCursorAnySchema).after;
      const ids = this.gallery.companyIds();
      const { page, last } = pageOf(ids, after, r.limit ?? DEFAULT_LIST_LIMIT);
      const stats = this.gallery.stats().perCompany;
      return {
        companies: page.map((companyId) => ({ companyId, users: stats[companyId]?.users ?? 0, faces: stats[companyId]?.faces ?? 0 })),
        total: ids.length,
        nextCursor: last === null ? null : encodeCursor({ after: last }),
      };
    });
  }

  listUsers(req: ListUsersRequest, opts?: CallOptions): Promise<ListUsersResult> {
    return this.run(opts, async () => {
      const r = parse(ListUsersRequestSchema, req, "list_users request");
      this.requireCompany(r.companyId);
      const after = r.cursor === undefined ? undefined : decodeCursor(r.cursor, IdCursorAnySchema).after;
      const users = this.gallery.index(r.companyId)?.users ?? new Map<string, { faces: Map<string, number> }>();
      const { page, last } = pageOf([...users.keys()], after, r.limit ?? DEFAULT_LIST_LIMIT);
      return {
        companyId: r.companyId,
        users: page.map((userId) => {
          const name = this.gallery.userName(r.companyId, userId);
          return { userId, ...(name !== undefined ? { name } : {}), faces: users.get(userId)?.faces.size ?? 0 };
        }),
        total: users.size,
        nextCursor: last === null ? null : encodeCursor({ after: last }),
      };
    });
  }

  // ------------------------------------------------------------------ status

  private statusSource(): StatusSource {
    return {
      gallery: this.gallery,
      store: this.store,
      engineInfo: this.engine.info(),
      engineCheck: () => this.engineProbe.check(),
      workerId: this.config.workerId,
      uptimeSeconds: (Date.now() - this.startedAt) / 1000,
      tasks: this.tasks,
      explicitThreshold: this.config.recognitionThreshold ?? null,
      operatingPoint: (id) => {
        const p = this.operatingPoint(id);
        return { threshold: p.threshold, source: p.source, expectedFpir: p.expectedFpir };
      },
    };
  }

  getCacheStats(opts?: CallOptions): Promise<CacheStats> {
    return this.run(opts, async (o) => cacheStats(this.statusSource(), { detail: o.statsDetail, companyId: o.statsCompanyId }));
  }

  healthCheck(opts?: CallOptions): Promise<Health> {
    return this.run(opts, async () => health(this.statusSource()));
  }
}

function userExists(r: { companyId: string; userId: string }): FaceError {
  return new FaceError("USER_EXISTS", `user ${JSON.stringify(r.userId)} already exists in company ${JSON.stringify(r.companyId)}`, {
    details: { companyId: r.companyId, userId: r.userId },
  });
}
