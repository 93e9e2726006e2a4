/**
 * LocalFaceService: the operations of the old system (ARCHITECTURE §1) over an engine, a gallery and
 * a store. Writes go to the store first; the gallery is fed only by `store.watch`, and a write returns
 * once the gallery has applied its revision (read-your-writes). Reads never block on each other: a
 * recognition is engine work plus one synchronous gallery search.
 */
import type { z } from "zod";
import type { FaceApi } from "../core/api.ts";
import { FaceError } from "../core/errors.ts";
import { Gallery } from "../core/gallery.ts";
import { bestKernel } from "../core/int8-kernel.ts";
import { MemoryGalleryStore } from "../core/memory-store.ts";
import { cosineSimilarity, normalize } from "../core/vectors.ts";
import {
  CallOptionsSchema,
  CompanyRequestSchema,
  CompareRequestSchema,
  EnrollRequestSchema,
  FaceRequestSchema,
  ImageRequestSchema,
  RecognizeRequestSchema,
  UserRequestSchema,
  VerifyRequestSchema,
  type BBox,
  type CacheStats,
  type CallOptions,
  type CompanyRequest,
  type CompareMatch,
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
  type ImageRequest,
  type RecognizeFacesResult,
  type RecognizeRequest,
  type Recognition,
  type UserFacesResult,
  type UserRequest,
  type VerifyRequest,
  type VerifyResult,
} from "../core/schemas.ts";
import type { GalleryStore } from "../core/store.ts";
import type { AnalyzedFace, FaceEngine } from "../engine/types.ts";
import { databasePath, loadServiceConfig, parseServiceConfig, type ServiceConfig, type ServiceConfigInput } from "./config.ts";
import { applyInitialData, type InitialDataOutcome } from "./initial-data-source.ts";
import { sharedScanPool } from "./scan-pool.ts";
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

function euclidean(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
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
    this.gallery = new Gallery({ onWarning: (m) => log("warn", `[gallery] ${m}`), kernel: () => bestKernel({ parallel }) });
    this.modelId = engine.info().modelId;
  }

  /** The engine's model id, read once: it is on every recognition's path. */
  private readonly modelId: string;

  /** Creates a started service: store replayed into the gallery, initial data applied to an empty store. */
  static async create(opts: LocalFaceServiceOptions = {}): Promise<LocalFaceService> {
    const base = loadServiceConfig(opts.env ?? process.env);
    const config = parseServiceConfig({ ...base, ...opts.config });
    const log =
      opts.log ??
      ((level, message) => (level === "error" ? console.error : level === "warn" ? console.warn : console.log)(message));
    let engine = opts.engine;
    if (!engine) {
      const { createEngine, loadEngineConfig } = await import("../engine/mod.ts");
      // an explicit env reaches the engine's variables too (FACE_ENGINE, FACE_DETECTION_THRESHOLD, ...)
      engine = await createEngine(opts.env ? loadEngineConfig(opts.env) : {});
    }
    let store = opts.store;
    if (!store) {
      store =
        config.store === "memory"
          ? new MemoryGalleryStore()
          : new SqliteGalleryStore({ path: databasePath(config), synchronous: config.sqliteSynchronous });
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
  private async run<T>(opts: CallOptions | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      if (this.closed) throw new FaceError("UNAVAILABLE", "service closed");
      const o = parse(CallOptionsSchema, opts ?? {}, "call options");
      if (o.minRevision !== undefined) await this.gallery.waitForRevision(o.minRevision, o.timeoutMs ?? this.config.minRevisionWaitMs);
      return await fn();
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

  private async analyze(image: unknown, maxFaces?: number): Promise<AnalyzedFace[]> {
    try {
      return await this.engine.analyze(image as EnrollRequest["image"], maxFaces === undefined ? undefined : { maxFaces });
    } catch (error) {
      if (error instanceof FaceError) throw error;
      throw new FaceError("INVALID_IMAGE", "image processing failed", { cause: error });
    }
  }

  /** The face an enrollment uses (largest; MULTIPLE_FACES under ENROLL_MULTIPLE_FACES=reject). */
  private async enrollFace(image: unknown): Promise<AnalyzedFace> {
    const faces = await this.analyze(image);
    if (faces.length === 0) throw new FaceError("NO_FACE", "no face detected in the image");
    if (faces.length > 1 && this.config.enrollMultipleFaces === "reject") {
      throw new FaceError("MULTIPLE_FACES", `${faces.length} faces detected; enrollment needs exactly one`, {
        details: { count: faces.length, bboxes: faces.map((f) => f.bbox) },
      });
    }
    return largestFace(faces);
  }

  /** The engine's preferred face (score, then size); NO_FACE if none. */
  private async bestFace(image: unknown, which?: string): Promise<AnalyzedFace> {
    const faces = await this.analyze(image, 1);
    if (faces.length === 0) {
      throw new FaceError("NO_FACE", `no face detected in ${which ?? "the image"}`, which ? { details: { image: which } } : {});
    }
    return faces[0];
  }

  private async storeFace(req: FaceRequest, face: AnalyzedFace): Promise<EnrollResult> {
    const info = this.engine.info();
    const embedding = normalize(face.embedding);
    const put = await this.store.addFace({ ...req, embedding, model: info.modelId });
    if (!put.created) {
      throw new FaceError("FACE_EXISTS", `face ${JSON.stringify(req.faceId)} already exists for user ${JSON.stringify(req.userId)}`, {
        details: req,
      });
    }
    await this.applied(put.revision);
    return {
      companyId: req.companyId,
      userId: req.userId,
      faceId: req.faceId,
      embedding: Array.from(embedding),
      detectionScore: face.score,
      bbox: face.bbox,
      model: info.modelId,
      revision: put.revision,
    };
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
    return this.run(opts, async () => {
      const r = parse(EnrollRequestSchema, req, "create_user request");
      this.requireCompany(r.companyId);
      // cheap checks before the engine work; the store's create-if-absent is the atomic one
      if (this.gallery.hasUser(r.companyId, r.userId)) throw userExists(r);
      const info = this.engine.info();
      this.gallery.checkModel(r.companyId, info.modelId, info.embeddingDim);
      const face = await this.enrollFace(r.image);
      this.gallery.checkModel(r.companyId, info.modelId, face.embedding.length);
      const created = await this.store.createUser(r.companyId, r.userId);
      if (!created.created) throw userExists(r);
      await this.applied(created.revision);
      return this.storeFace(r, face);
    });
  }

  addFace(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult> {
    return this.run(opts, async () => {
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
      const info = this.engine.info();
      this.gallery.checkModel(r.companyId, info.modelId, info.embeddingDim);
      const face = await this.enrollFace(r.image);
      this.gallery.checkModel(r.companyId, info.modelId, face.embedding.length);
      return this.storeFace(r, face);
    });
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

  private match(companyId: string, face: AnalyzedFace, threshold: number, landmarks: boolean): Recognition {
    const [hit] = this.gallery.search(companyId, face.embedding, { k: 1, model: this.modelId });
    const points = landmarks
      ? { landmarks: face.landmarks, ...(face.landmarks68 ? { landmarks68: face.landmarks68 } : {}) }
      : {};
    if (!hit) return { userId: null, confidence: 0, bbox: face.bbox, faceId: null, detectionScore: face.score, ...points };
    const matched = hit.score >= threshold;
    return {
      userId: matched ? hit.userId : null,
      confidence: hit.score,
      bbox: face.bbox,
      faceId: matched ? hit.faceId : null,
      detectionScore: face.score,
      ...points,
    };
  }

  private async recognizeAll(req: RecognizeRequest, what: string): Promise<Recognition[] | null> {
    const r = parse(RecognizeRequestSchema, req, what);
    if (!this.gallery.hasCompany(r.companyId)) return null;
    const faces = await this.analyze(r.image, this.config.recognizeMaxFaces);
    const threshold = r.threshold ?? this.config.recognitionThreshold;
    return faces.map((f) => this.match(r.companyId, f, threshold, r.landmarks === true));
  }

  recognizeFace(req: RecognizeRequest, opts?: CallOptions): Promise<Recognition> {
    return this.run(opts, async () => {
      const all = await this.recognizeAll(req, "recognize_face request");
      if (!all || all.length === 0) return { userId: null, confidence: 0, bbox: null };
      // best match: a recognised face beats an unrecognised one, then the higher similarity
      let best = all[0];
      for (const r of all) {
        const rk = r.userId !== null ? 1 : 0;
        const bk = best.userId !== null ? 1 : 0;
        if (rk > bk || (rk === bk && r.confidence > best.confidence)) best = r;
      }
      return best;
    });
  }

  recognizeFaces(req: RecognizeRequest, opts?: CallOptions): Promise<RecognizeFacesResult> {
    return this.run(opts, async () => {
      const all = await this.recognizeAll(req, "recognize_faces request");
      return { faces: all ?? [] };
    });
  }

  detectFaces(req: ImageRequest, opts?: CallOptions): Promise<DetectResult> {
    return this.run(opts, async () => {
      const r = parse(ImageRequestSchema, req, "detect_faces request");
      let faces;
      try {
        faces = await this.engine.detect(r.image);
      } catch (error) {
        if (error instanceof FaceError) throw error;
        throw new FaceError("INVALID_IMAGE", "image processing failed", { cause: error });
      }
      return { facesCount: faces.length, faces };
    });
  }

  generateEmbedding(req: ImageRequest, opts?: CallOptions): Promise<EmbedResult> {
    return this.run(opts, async () => {
      const r = parse(ImageRequestSchema, req, "generate_embedding request");
      const face = await this.bestFace(r.image);
      return {
        embedding: Array.from(normalize(face.embedding)),
        detectionScore: face.score,
        bbox: face.bbox,
        model: this.modelId,
      };
    });
  }

  compare(req: CompareRequest, opts?: CallOptions): Promise<CompareResult> {
    return this.run(opts, async () => {
      const r = parse(CompareRequestSchema, req, "compare request");
      const dim = r.queryEmbedding.length;
      const bad = r.referenceEmbeddings.findIndex((e) => e.embedding.length !== dim);
      if (bad >= 0) {
        throw new FaceError(
          "INVALID_ARGUMENT",
          `reference ${JSON.stringify(r.referenceEmbeddings[bad].id)} has ${r.referenceEmbeddings[bad].embedding.length} dimensions; the query has ${dim}`,
          { details: { index: bad, id: r.referenceEmbeddings[bad].id } },
        );
      }
      const matches: CompareMatch[] = r.referenceEmbeddings.map(({ id, embedding }) => {
        const similarity = cosineSimilarity(r.queryEmbedding, embedding);
        const distance = r.distanceMetric === "cosine" ? 1 - similarity : euclidean(r.queryEmbedding, embedding);
        return { id, distance, similarity };
      });
      // best first: smallest distance; ties keep the given order (stable sort)
      matches.sort((a, b) => a.distance - b.distance);
      return { bestMatch: matches[0] ?? null, matches };
    });
  }

  verify(req: VerifyRequest, opts?: CallOptions): Promise<VerifyResult> {
    return this.run(opts, async () => {
      const t0 = performance.now();
      const r = parse(VerifyRequestSchema, req, "verify request");
      const [a, b] = await Promise.all([this.bestFace(r.image1, "image1"), this.bestFace(r.image2, "image2")]);
      const cos = cosineSimilarity(a.embedding, b.embedding);
      const threshold = r.threshold ?? this.config.recognitionThreshold;
      return {
        isMatch: cos >= threshold,
        confidence: cos,
        threshold,
        metrics: { cosineSimilarity: cos, euclideanDistance: euclidean(normalize(a.embedding), normalize(b.embedding)) },
        processingMs: performance.now() - t0,
      };
    });
  }

  // ------------------------------------------------------------------ stats

  private uptimeSeconds(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  getCacheStats(opts?: CallOptions): Promise<CacheStats> {
    return this.run(opts, async () => {
      const s = this.gallery.stats();
      const companies: CacheStats["companies"] = {};
      for (const [id, c] of Object.entries(s.perCompany)) companies[id] = { users: c.users, faces: c.faces };
      return {
        companiesCount: s.companies,
        usersCount: s.users,
        facesCount: s.faces,
        embeddingsCount: s.embeddings,
        uptimeSeconds: this.uptimeSeconds(),
        totalTasksProcessed: this.tasks,
        workerId: this.config.workerId,
        revision: s.revision,
        companies,
        cacheInfo: {
          store: this.store.kind,
          memoryBytes: s.bytes,
          recognitionThreshold: this.config.recognitionThreshold,
          model: this.modelId,
          models: Object.fromEntries(Object.entries(s.perCompany).map(([id, c]) => [id, c.model])),
          skippedEvents: this.gallery.skipped,
        },
      };
    });
  }

  healthCheck(opts?: CallOptions): Promise<Health> {
    return this.run(opts, async () => {
      const t0 = performance.now();
      let storeRevision = -1;
      let storeError: string | undefined;
      try {
        storeRevision = await this.store.revision();
      } catch (error) {
        storeError = (error as Error).message;
      }
      const status: Health["status"] = storeError ? "degraded" : "ok";
      return {
        status,
        responseTimeMs: performance.now() - t0,
        workerInfo: { workerId: this.config.workerId, uptimeSeconds: this.uptimeSeconds(), tasksProcessed: this.tasks },
        engine: this.engine.info(),
        store: {
          kind: this.store.kind,
          revision: Math.max(0, storeRevision),
          galleryRevision: this.gallery.revision,
          ...(storeError ? { error: storeError } : {}),
        },
      };
    });
  }
}

function userExists(r: { companyId: string; userId: string }): FaceError {
  return new FaceError("USER_EXISTS", `user ${JSON.stringify(r.userId)} already exists in company ${JSON.stringify(r.companyId)}`, {
    details: { companyId: r.companyId, userId: r.userId },
  });
}
