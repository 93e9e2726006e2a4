/**
 * FaceClient: FaceApi over NATS (the old system's MessageProducer).
 *
 *   const client = await FaceClient.connect({ servers: "nats://127.0.0.1:4222" });
 *   await client.createCompany({ companyId: "acme" });
 *   const who = await client.recognizeFace({ companyId: "acme", image: jpegBytes });
 *   await client.close();
 *
 * - Inputs are validated with the core zod schemas before anything is sent (INVALID_ARGUMENT).
 * - Each attempt has a timeout (default 10 s, `opts.timeoutMs` per call). Every operation is retried
 *   after a timeout or an UNAVAILABLE reply, with exponential backoff and jitter: reads are
 *   idempotent, and each write carries an idempotency key (`opts.idempotencyKey`, or one made per
 *   call) in the `Facegate-Idempotency-Key` header, so its retry gets the first attempt's answer.
 * - Errors: FaceError with the worker's code; TimeoutError; UnavailableError (no responders, not
 *   connected, closed, draining).
 * - Read-your-writes: the client remembers the highest revision its writes returned and sends it as
 *   `minRevision`, so any worker answers only after it has applied those writes.
 * - getCacheStats / healthCheck ask every worker (`facegate.v1.stats`) and aggregate; the
 *   per-worker view is in `cacheInfo.workers` / `store.workers`, or from `workers()`.
 */
import { randomUUID } from "node:crypto";
import { connect, errors as natsErrors, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import {
  CallOptionsSchema,
  type FaceApi,
  FaceError,
  type ImageInput,
  type ListCompaniesRequest,
  type ListCompaniesResult,
  type ListUsersRequest,
  type ListUsersResult,
  type OperationName,
  OPERATIONS,
  TimeoutError,
  UnavailableError,
} from "../core/internal.ts";
import type {
  CacheStats,
  CallOptions,
  CompanyRequest,
  CompareRequest,
  CompareResult,
  CreateCompanyResult,
  DeleteResult,
  DetectResult,
  EmbedResult,
  EnrollRequest,
  EnrollResult,
  FaceRequest,
  Health,
  ImageRequest,
  RecognizeFacesResult,
  RecognizeRequest,
  Recognition,
  SearchEmbeddingRequest,
  SearchEmbeddingResult,
  OperatingPoint,
  OperatingPointRequest,
  SetOperatingPointRequest,
  UpdateUserRequest,
  UserFacesResult,
  UserInfo,
  UserRequest,
  VerifyRequest,
  VerifyResult,
} from "../core/internal.ts";
import type { ImageLimits } from "../engine/mod.ts";
import { connectionOptions, loadNatsConfig, parseNatsConfig } from "./config.ts";
import { encodedHeaderBytes, transportError, type Retry } from "./transport-errors.ts";
import { PeerRouter } from "./peer-router.ts";
import { prepareImage } from "./image-prep.ts";
import {
  HDR_IDEMPOTENCY_KEY,
  HDR_WORKER,
  OPERATION_SPECS,
  SUBJECT_PREFIX,
  WorkerStatsSchema,
  decodeReply,
  encodeRequest,
  type WorkerStats,
} from "./protocol.ts";

export interface FaceClientOptions {
  /** Per-attempt timeout in ms (default 10 000); `CallOptions.timeoutMs` overrides it per call. */
  timeoutMs?: number;
  /** Retries for idempotent operations (default 2). */
  retries?: number;
  /** First backoff delay in ms (default 100), doubled per retry, capped by maxBackoffMs (default 2000). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Send the last write's revision as minRevision (default true). */
  readYourWrites?: boolean;
  /** How long stats/health wait for more workers after the last answer (default 150 ms). */
  statsStallMs?: number;
  /** Subject prefix (default facegate.v1). */
  subjectPrefix?: string;
  /** The engine's image limits (default: MAX_IMAGE_BYTES / MAX_IMAGE_PIXELS / MAX_IMAGE_SIDE defaults, working size 1920). */
  imageLimits?: ImageLimits;
  /**
   * Largest image sent as it is (default 4 MiB, never more than the server's max_payload allows);
   * larger ones, and any over the working size, are downscaled and re-encoded first (image-prep.ts).
   */
  imageByteBudget?: number;
  /**
   * healthCheck answers from a cache this young (default 1000 ms; 0 = always ask): a public health
   * endpoint polled by load balancers must not fan out to every worker on each call.
   */
  healthCacheMs?: number;
  /**
   * "least-loaded" (default): send each request to the known worker with the fewest of this
   * client's requests outstanding (workers learnt from stats every `peerRefreshMs`, default 2 s),
   * falling back to the queue group; "queue": always the queue group (NATS picks at random).
   */
  routing?: "least-loaded" | "queue";
  peerRefreshMs?: number;
}

export interface FaceClientConnectOptions extends FaceClientOptions {
  /** NATS_URL: a URL, a comma-separated list or an array (default nats://127.0.0.1:4222). */
  servers?: string | string[];
  user?: string;
  pass?: string;
  token?: string;
  /** NATS_CREDS_FILE / NATS_NKEY_SEED_FILE equivalents (see `NatsConfig`). */
  credsFile?: string;
  nkeySeedFile?: string;
  /** NATS_TLS_CA_FILE / NATS_TLS_CERT_FILE / NATS_TLS_KEY_FILE / NATS_TLS_REQUIRED equivalents. */
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsRequired?: boolean;
  /** Connection name shown by the server. */
  name?: string;
  /** Wait for the server at start instead of failing (default false: UnavailableError). */
  waitOnFirstConnect?: boolean;
  /**
   * Fallbacks for options not given: NATS_URL, NATS_USER/NATS_PASS/NATS_TOKEN, NATS_CREDS_FILE,
   * NATS_NKEY_SEED_FILE, NATS_TLS_*, NATS_REQUEST_TIMEOUT_MS, NATS_RETRIES, NATS_SUBJECT_PREFIX
   * (default process.env; pass {} to ignore the environment).
   */
  env?: Record<string, string | undefined>;
}

/** One worker's entry in aggregated stats and health. */
export interface WorkerSummary {
  workerId: string;
  revision: number;
  processed: number;
  failed: number;
  inFlight: number;
  backlog: number;
  concurrency: number;
  draining: boolean;
  uptimeSeconds: number;
  companiesCount?: number;
  usersCount?: number;
  facesCount?: number;
  status?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Room left in a message for the JSON envelope and headers next to the images. */
const ENVELOPE_ROOM = 16 * 1024;
const IMAGE_FIELDS = ["image", "image1", "image2"] as const;
/** Per-company revisions remembered for read-your-writes; older entries fold into one floor. */
const MAX_COMPANY_REVISIONS = 10_000;

function summary(w: WorkerStats): WorkerSummary {
  return {
    workerId: w.workerId,
    revision: w.revision,
    processed: w.processed,
    failed: w.failed,
    inFlight: w.inFlight,
    backlog: w.backlog,
    concurrency: w.concurrency,
    draining: w.draining,
    uptimeSeconds: w.uptimeSeconds,
    ...(w.cache ? { companiesCount: w.cache.companiesCount, usersCount: w.cache.usersCount, facesCount: w.cache.facesCount } : {}),
    ...(w.health ? { status: w.health.status } : {}),
  };
}

export class FaceClient implements FaceApi {
  readonly nc: NatsConnection;
  private readonly ownsConnection: boolean;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly readYourWrites: boolean;
  private readonly statsStallMs: number;
  private readonly prefix: string;
  private readonly imageLimits: ImageLimits | undefined;
  private readonly imageByteBudget: number;
  /** Read-your-writes per company: the newest revision this client's writes to it returned. */
  private readonly companyRevisions = new Map<string, number>();
  /** Revisions of companies evicted from companyRevisions (a safe, if pessimistic, floor). */
  private revisionFloor = 0;
  private revisionSeen = 0;
  private readonly healthCacheMs: number;
  private healthCache: { at: number; value: Promise<Health> } | undefined;
  private readonly router: PeerRouter | undefined;
  private closed = false;
  /** Worker that answered the last call (for tests and diagnostics). */
  lastWorker: string | null = null;

  constructor(nc: NatsConnection, opts: FaceClientOptions = {}, ownsConnection = false) {
    this.nc = nc;
    this.ownsConnection = ownsConnection;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.retries = opts.retries ?? 2;
    this.backoffMs = opts.backoffMs ?? 100;
    this.maxBackoffMs = opts.maxBackoffMs ?? 2000;
    this.readYourWrites = opts.readYourWrites ?? true;
    this.statsStallMs = opts.statsStallMs ?? 150;
    this.prefix = opts.subjectPrefix ?? SUBJECT_PREFIX;
    this.imageLimits = opts.imageLimits;
    this.imageByteBudget = opts.imageByteBudget ?? 4 * 1024 * 1024;
    this.healthCacheMs = opts.healthCacheMs ?? 1000;
    this.router =
      (opts.routing ?? "least-loaded") === "least-loaded"
        ? new PeerRouter(opts.peerRefreshMs ?? 2000, () => this.workerStats({ timeoutMs: 2000 }, true))
        : undefined;
  }

  /** Connects to NATS; the client owns (and `close()` closes) the connection. */
  static async connect(opts: FaceClientConnectOptions = {}): Promise<FaceClient> {
    const env = loadNatsConfig(opts.env ?? process.env);
    // Explicit options win over the environment; the merge is validated again (files, cert+key pairs).
    const overrides = Object.fromEntries(
      (["servers", "user", "pass", "token", "credsFile", "nkeySeedFile", "tlsCaFile", "tlsCertFile", "tlsKeyFile", "tlsRequired"] as const)
        .filter((k) => opts[k] !== undefined)
        .map((k) => [k, opts[k]]),
    );
    const config = Object.keys(overrides).length > 0 ? parseNatsConfig({ ...env, ...overrides }) : env;
    const list = config.servers;
    const clientOpts: FaceClientOptions = {
      timeoutMs: env.requestTimeoutMs,
      retries: env.retries,
      subjectPrefix: env.subjectPrefix,
      ...opts,
    };
    try {
      const nc = await connect({
        ...connectionOptions(config, opts.name ?? "facegate-client"),
        waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
      });
      return new FaceClient(nc, clientOpts, true);
    } catch (err) {
      throw new UnavailableError(`cannot connect to NATS at ${list.join(", ")}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Highest store revision returned by this client's writes. */
  get lastRevision(): number {
    return this.revisionSeen;
  }

  /** The revision a read of `companyId` waits for: this client's newest write to that company. */
  revisionFor(companyId: string): number {
    return Math.max(this.companyRevisions.get(companyId) ?? 0, this.revisionFloor);
  }

  private noteWrite(companyId: string | undefined, revision: number): void {
    this.revisionSeen = Math.max(this.revisionSeen, revision);
    if (companyId === undefined) {
      this.revisionFloor = Math.max(this.revisionFloor, revision);
      return;
    }
    const prev = this.companyRevisions.get(companyId) ?? 0;
    this.companyRevisions.delete(companyId); // re-inserted last: the Map's order is least recently written first
    this.companyRevisions.set(companyId, Math.max(prev, revision));
    if (this.companyRevisions.size > MAX_COMPANY_REVISIONS) {
      const [oldest, rev] = this.companyRevisions.entries().next().value as [string, number];
      this.companyRevisions.delete(oldest);
      this.revisionFloor = Math.max(this.revisionFloor, rev);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsConnection) await this.nc.close();
  }

  // ------------------------------------------------------------------ FaceApi

  createCompany(req: CompanyRequest, opts?: CallOptions): Promise<CreateCompanyResult> {
    return this.call("createCompany", req, opts);
  }
  deleteCompany(req: CompanyRequest, opts?: CallOptions): Promise<DeleteResult> {
    return this.call("deleteCompany", req, opts);
  }
  createUser(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult> {
    return this.call("createUser", req, opts);
  }
  addFace(req: EnrollRequest, opts?: CallOptions): Promise<EnrollResult> {
    return this.call("addFace", req, opts);
  }
  deleteUser(req: UserRequest, opts?: CallOptions): Promise<DeleteResult> {
    return this.call("deleteUser", req, opts);
  }
  deleteFace(req: FaceRequest, opts?: CallOptions): Promise<DeleteResult> {
    return this.call("deleteFace", req, opts);
  }
  getUser(req: UserRequest, opts?: CallOptions): Promise<UserInfo> {
    return this.call("getUser", req, opts);
  }
  updateUser(req: UpdateUserRequest, opts?: CallOptions): Promise<UserInfo> {
    return this.call("updateUser", req, opts);
  }
  getUserFaces(req: UserRequest, opts?: CallOptions): Promise<UserFacesResult> {
    return this.call("getUserFaces", req, opts);
  }
  recognizeFace(req: RecognizeRequest, opts?: CallOptions): Promise<Recognition> {
    return this.call("recognizeFace", req, opts);
  }
  recognizeFaces(req: RecognizeRequest, opts?: CallOptions): Promise<RecognizeFacesResult> {
    return this.call("recognizeFaces", req, opts);
  }
  searchEmbedding(req: SearchEmbeddingRequest, opts?: CallOptions): Promise<SearchEmbeddingResult> {
    return this.call("searchEmbedding", req, opts);
  }
  getOperatingPoint(req: OperatingPointRequest, opts?: CallOptions): Promise<OperatingPoint> {
    return this.call("getOperatingPoint", req, opts);
  }
  setOperatingPoint(req: SetOperatingPointRequest, opts?: CallOptions): Promise<OperatingPoint> {
    return this.call("setOperatingPoint", req, opts);
  }
  detectFaces(req: ImageRequest, opts?: CallOptions): Promise<DetectResult> {
    return this.call("detectFaces", req, opts);
  }
  generateEmbedding(req: ImageRequest, opts?: CallOptions): Promise<EmbedResult> {
    return this.call("generateEmbedding", req, opts);
  }
  compare(req: CompareRequest, opts?: CallOptions): Promise<CompareResult> {
    return this.call("compare", req, opts);
  }
  verify(req: VerifyRequest, opts?: CallOptions): Promise<VerifyResult> {
    return this.call("verify", req, opts);
  }
  listCompanies(req: ListCompaniesRequest = {}, opts?: CallOptions): Promise<ListCompaniesResult> {
    return this.call("listCompanies", req, opts);
  }
  listUsers(req: ListUsersRequest, opts?: CallOptions): Promise<ListUsersResult> {
    return this.call("listUsers", req, opts);
  }

  /** Cluster view: counts from the most up-to-date worker, tasks summed, every worker in cacheInfo.workers. */
  async getCacheStats(opts?: CallOptions): Promise<CacheStats> {
    // Every company by default (as embedded mode); `statsDetail: "totals"` / `statsCompanyId`: a fixed-size answer.
    const workers = await this.workerStats(opts, false, {
      detail: opts?.statsDetail ?? "companies",
      ...(opts?.statsCompanyId !== undefined ? { companyId: opts.statsCompanyId } : {}),
    });
    const withCache = workers.filter((w) => w.cache);
    if (withCache.length === 0) throw new UnavailableError("no worker reported cache statistics");
    const newest = withCache.reduce((a, b) => (b.revision > a.revision ? b : a));
    const cache = newest.cache!;
    return {
      ...cache,
      uptimeSeconds: Math.max(...workers.map((w) => w.uptimeSeconds)),
      totalTasksProcessed: workers.reduce((n, w) => n + w.processed, 0),
      workerId: workers.length === 1 ? workers[0]!.workerId : `cluster(${workers.length})`,
      revision: newest.revision,
      cacheInfo: {
        ...cache.cacheInfo,
        mode: "nats",
        workersSeen: workers.length,
        workers: workers.map(summary),
      },
    };
  }

  /**
   * ok: every worker ok; degraded: some worker not ok, draining, or behind the newest revision.
   * Answered from a cache of `healthCacheMs` (one fan-out at a time, failures cached alike).
   */
  healthCheck(opts?: CallOptions): Promise<Health> {
    const now = performance.now();
    if (this.healthCache && now - this.healthCache.at < this.healthCacheMs && !this.closed) return this.healthCache.value;
    const value = this.freshHealth(opts);
    value.catch(() => undefined);
    if (this.healthCacheMs > 0) this.healthCache = { at: now, value };
    return value;
  }

  private async freshHealth(opts?: CallOptions): Promise<Health> {
    const started = performance.now();
    // Totals only: health must not grow with the number of companies (nor fail past max_payload).
    const workers = await this.workerStats(opts, false, { detail: "totals" });
    const withHealth = workers.filter((w) => w.health);
    if (withHealth.length === 0) throw new UnavailableError("no worker reported health");
    const newest = Math.max(...workers.map((w) => w.revision));
    const allOk = withHealth.length === workers.length && withHealth.every((w) => w.health!.status === "ok") && workers.every((w) => !w.draining);
    const base = withHealth[0]!.health!;
    return {
      status: allOk ? "ok" : "degraded",
      responseTimeMs: performance.now() - started,
      workerInfo: {
        workerId: workers.length === 1 ? workers[0]!.workerId : `cluster(${workers.length})`,
        uptimeSeconds: Math.max(...workers.map((w) => w.uptimeSeconds)),
        tasksProcessed: workers.reduce((n, w) => n + w.processed, 0),
      },
      engine: base.engine,
      store: {
        ...base.store,
        revision: newest,
        workersSeen: workers.length,
        workers: workers.map(summary),
        behind: workers.filter((w) => w.revision < newest).map((w) => w.workerId),
      },
    };
  }

  /** Every worker's own statistics (each answers `facegate.v1.stats`); UnavailableError if none does. */
  async workerStats(opts?: CallOptions, brief = false, scope: { detail?: "totals" | "companies"; companyId?: string } = { detail: "totals" }): Promise<WorkerStats[]> {
    this.assertOpen();
    const timeout = opts?.timeoutMs ?? Math.min(this.timeoutMs, 5000);
    const subject = `${this.prefix}.stats`;
    const out: WorkerStats[] = [];
    let refused: FaceError | undefined;
    try {
      const replies = await this.nc.requestMany(subject, encodeRequest(brief ? { brief: true } : scope).payload, {
        strategy: "stall",
        stall: this.statsStallMs,
        maxWait: timeout,
      });
      for await (const m of replies) {
        if (m.data.byteLength === 0) continue; // no-responders status message
        try {
          const parsed = WorkerStatsSchema.safeParse(decodeReply(m.data));
          if (parsed.success) out.push(parsed.data);
        } catch (err) {
          // A worker's error reply: skip it, the others still count.
          refused ??= FaceError.from(err);
        }
      }
    } catch (err) {
      if (!(err instanceof natsErrors.NoRespondersError || (err instanceof natsErrors.RequestError && err.isNoResponders()))) {
        throw transportError(err, subject).error;
      }
    }
    if (out.length === 0) throw refused ?? new UnavailableError(`no worker answered ${subject}`);
    return out.sort((a, b) => a.workerId.localeCompare(b.workerId));
  }

  /** Short form of workerStats() for dashboards. */
  async workers(opts?: CallOptions): Promise<WorkerSummary[]> {
    return (await this.workerStats(opts)).map(summary);
  }

  // ------------------------------------------------------------------ plumbing

  private assertOpen(): void {
    if (this.closed || this.nc.isClosed()) throw new UnavailableError("FaceClient is closed");
  }

  private async call<R>(op: OperationName, req: unknown, opts?: CallOptions): Promise<R> {
    const spec = OPERATION_SPECS[op];
    // Validate before sending: bad input never costs a round trip.
    let args: Record<string, unknown> | undefined;
    if (spec.request !== null) {
      const parsed = (spec.request as z.ZodType).safeParse(req);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`);
        throw new FaceError("INVALID_ARGUMENT", `invalid ${OPERATIONS[op]} request: ${issues.join("; ")}`, {
          details: parsed.error.issues,
        });
      }
      args = parsed.data as Record<string, unknown>;
    }
    const o = CallOptionsSchema.safeParse(opts ?? {});
    if (!o.success) throw new FaceError("INVALID_ARGUMENT", `invalid call options: ${o.error.message}`, { details: o.error.issues });
    const timeoutMs = o.data.timeoutMs ?? this.timeoutMs;
    // Read-your-writes per company: a read of one company never waits for another company's writes.
    const companyId = typeof args?.companyId === "string" ? args.companyId : undefined;
    let minRevision = o.data.minRevision;
    if (this.readYourWrites && companyId !== undefined) {
      const own = this.revisionFor(companyId);
      if (own > 0) minRevision = Math.max(minRevision ?? 0, own);
    }
    this.assertOpen();
    const maxPayload = this.nc.info?.max_payload;

    // Images: binary, and no larger than the engine will use or the message can carry. A downscaled
    // image travels with its factor, so the worker reports faces, and applies MIN_FACE_SIZE and the
    // enrollment quality gate, in the original's pixels, as embedded mode does.
    let imageScales = o.data.imageScales;
    if (args) {
      const fields = IMAGE_FIELDS.filter((k) => args![k] !== undefined);
      if (fields.length > 0) {
        const room = maxPayload !== undefined ? Math.max(0, maxPayload - ENVELOPE_ROOM) : Infinity;
        const byteBudget = Math.floor(Math.min(this.imageByteBudget, room) / fields.length);
        args = { ...args };
        for (const k of fields) {
          const prepared = await prepareImage(args[k] as ImageInput, { byteBudget, ...(this.imageLimits ? { limits: this.imageLimits } : {}) });
          args[k] = prepared.bytes;
          if (prepared.scale !== 1) imageScales = { ...imageScales, [k]: (imageScales?.[k] ?? 1) * prepared.scale };
        }
      }
    }

    const encoded = encodeRequest(args, {
      ...(minRevision !== undefined ? { minRevision } : {}),
      ...(imageScales !== undefined ? { imageScales } : {}),
      timeoutMs,
    });
    const payload = encoded.payload;
    // Every write carries a key (the caller's, or one made here), the same on each retry: the
    // worker answers a retry with the first attempt's answer, so writes are safe to retry too.
    const idempotencyKey = spec.write ? (o.data.idempotencyKey ?? randomUUID()) : undefined;
    const headers = idempotencyKey !== undefined ? (encoded.headers ?? natsHeaders()) : encoded.headers;
    if (idempotencyKey !== undefined) headers!.set(HDR_IDEMPOTENCY_KEY, idempotencyKey);
    const hasImage = args !== undefined && IMAGE_FIELDS.some((k) => args![k] !== undefined);
    // What still exceeds max_payload is refused by the client library before anything is sent
    // (InvalidArgumentError "'payload' max_payload size exceeded"): mapped to 413, never retried.
    const queueSubject = `${this.prefix}.${OPERATIONS[op]}`;
    if (!this.closed) this.router?.refresh();
    let directOk = true;
    for (let attempt = 0; ; attempt++) {
      let failure: { error: FaceError; retry: Retry };
      let refusedByWorker = false;
      // After a failed direct attempt the queue group serves the retries.
      const peer = directOk ? this.router?.pick() : undefined;
      const subject = peer ? `${peer.direct}.${OPERATIONS[op]}` : queueSubject;
      if (peer) peer.outstanding++;
      try {
        this.assertOpen();
        const msg = await this.nc.request(subject, payload, { timeout: timeoutMs, ...(headers ? { headers } : {}) });
        this.lastWorker = msg.headers?.get(HDR_WORKER) ?? null;
        const result = decodeReply(msg.data);
        const checked = (spec.result as z.ZodType).safeParse(result);
        if (!checked.success) throw new FaceError("INTERNAL", `bad ${OPERATIONS[op]} result from worker: ${checked.error.message}`);
        const value = checked.data as R & { revision?: number };
        if (spec.write && typeof value.revision === "number") this.noteWrite(companyId, value.revision);
        return value;
      } catch (err) {
        failure = transportError(err, subject, payload.byteLength + (headers ? encodedHeaderBytes(headers) : 0), maxPayload);
        refusedByWorker = err instanceof FaceError && err.code === "UNAVAILABLE";
      } finally {
        if (peer) peer.outstanding--;
      }
      if (peer && (failure.retry === "all" || failure.error.code === "TIMEOUT" || failure.error.code === "UNAVAILABLE")) {
        // Gone (no responders: nothing ran, retry at once) or not answering: forget it until the next refresh.
        this.router?.drop(peer);
        directOk = false;
        if (failure.retry === "all") {
          attempt--;
          continue;
        }
      }
      const { error, retry } = failure;
      if (error.code === "PAYLOAD_TOO_LARGE" && hasImage) throw new FaceError("IMAGE_TOO_LARGE", error.message, { cause: error });
      // A keyed write is retried when its outcome is unknown (timeout, lost connection); a worker's
      // own UNAVAILABLE (e.g. no JetStream leader within its retry budget) goes back to the caller.
      const retryable = retry === "all" || (retry === "idempotent" && (spec.idempotent || (idempotencyKey !== undefined && !refusedByWorker)));
      if (!retryable || attempt >= this.retries || this.closed) throw error;
      const delay = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }
}
