/**
 * FaceWorker: serves a FaceApi (a LocalFaceService over a KvGalleryStore) on NATS.
 *
 * - One subscription per operation on `facegate.v1.<operation>` in the queue group `facegate`:
 *   the server hands each request to one member of the group.
 * - WORKER_CONCURRENCY (the old prefetch): at most that many requests run at once; further
 *   deliveries wait in a local FIFO backlog. When the backlog is full (4 × concurrency) the worker
 *   drains its subscriptions, i.e. leaves the queue group, so the server routes new requests to
 *   the other workers; it rejoins when the backlog is half empty. If every worker is full, clients
 *   get "no responders" and back off (the client retries those for every operation: nothing ran).
 * - A request that waited longer than its client's timeout is dropped unanswered (the client has
 *   given up); one that runs past WORKER_TIMEOUT_MS is answered TIMEOUT (the work itself cannot be
 *   interrupted, so its slot stays taken until it ends).
 * - `<prefix>.w.<worker token>.<operation>` reaches this worker only: clients that know the workers
 *   (from stats) send each request to the one with the fewest of their requests outstanding
 *   (client.ts). Random queue-group routing with few requests in flight leaves a worker idle while
 *   another has a queue (2 workers, 4 in flight: at most 1.6x one worker); this subscription is
 *   never dropped when the backlog is full, the client's balancing keeps backlogs short.
 * - `facegate.v1.stats` is a plain subscription (no queue group): every worker answers with its own
 *   counters, gallery revision, cache statistics and health; the client aggregates. We do not use
 *   `@nats-io/services` ($SRV): it owns its endpoint subscriptions, so a worker could not leave
 *   the queue group when full, and it is still a pre-release (3.0.0-rc) on npm.
 * - `drain()` (SIGTERM): stop taking requests, finish the in-flight and backlog ones, then resolve.
 */
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { type CallOptions, type FaceApi, FaceError, type OperationName, OPERATIONS, TimeoutError } from "../core/internal.ts";
import {
  HDR_IDEMPOTENCY_KEY,
  HDR_REVISION,
  HDR_WORKER,
  PING_OPERATION,
  OPERATION_BY_NAME,
  OPERATION_SPECS,
  QUEUE_GROUP,
  directPrefix,
  SUBJECT_PREFIX,
  apiMethod,
  decodeRequest,
  encodeError,
  encodeReply,
  type WorkerStats,
} from "./protocol.ts";

export interface FaceWorkerOptions {
  nc: NatsConnection;
  api: FaceApi;
  /** Reported in stats and the `Facegate-Worker` reply header. Default: the api's health workerId or a random id. */
  workerId?: string;
  /** WORKER_CONCURRENCY (default 2). */
  concurrency?: number;
  /** Local backlog before the worker leaves the queue group (default 4 × concurrency). */
  maxBacklog?: number;
  /** WORKER_TIMEOUT_MS (default 30 s). */
  timeoutMs?: number;
  /** WORKER_DRAIN_TIMEOUT_MS: how long drain() waits for in-flight work (default 30 s). */
  drainTimeoutMs?: number;
  /** Subject prefix (default facegate.v1). */
  subjectPrefix?: string;
  /** Applied gallery revision; default `api.gallery.revision` when the api has one (LocalFaceService). */
  revision?: () => number;
  log?: (level: "info" | "warn" | "error", message: string) => void;
}

interface Job {
  op: OperationName;
  msg: Msg;
  arrived: number;
}

type OpCounters = { count: number; errors: number; totalMs: number };

function defaultRevision(api: FaceApi): () => number {
  const g = (api as { gallery?: { revision?: unknown } }).gallery;
  return () => (g && typeof g.revision === "number" ? g.revision : 0);
}

export class FaceWorker {
  readonly workerId: string;
  readonly concurrency: number;
  private readonly nc: NatsConnection;
  private readonly api: FaceApi;
  private readonly maxBacklog: number;
  private readonly timeoutMs: number;
  private readonly drainTimeoutMs: number;
  private readonly prefix: string;
  private readonly revision: () => number;
  private readonly log: NonNullable<FaceWorkerOptions["log"]>;
  private readonly startedAt = new Date();
  private readonly backlog: Job[] = [];
  private readonly counters = new Map<string, OpCounters>();
  private subs: Subscription[] = [];
  private statsSub: Subscription | null = null;
  private directSub: Subscription | null = null;
  /** Subject prefix that reaches this worker only (see directPrefix). */
  readonly direct: string;
  private listening = false;
  private inFlight = 0;
  private processed = 0;
  private failed = 0;
  private timedOut = 0;
  private expired = 0;
  private draining = false;
  private idleWaiters: Array<() => void> = [];

  private constructor(opts: FaceWorkerOptions, workerId: string) {
    this.nc = opts.nc;
    this.api = opts.api;
    this.workerId = workerId;
    this.concurrency = Math.max(1, opts.concurrency ?? 2);
    this.maxBacklog = Math.max(1, opts.maxBacklog ?? this.concurrency * 4);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? 30_000;
    this.prefix = opts.subjectPrefix ?? SUBJECT_PREFIX;
    this.revision = opts.revision ?? defaultRevision(opts.api);
    this.log = opts.log ?? ((level, m) => (level === "info" ? console.log : console.warn)(m));
    this.direct = directPrefix(workerId, this.prefix);
  }

  /** Subscribes and resolves once the server has registered the subscriptions. */
  static async start(opts: FaceWorkerOptions): Promise<FaceWorker> {
    let workerId = opts.workerId;
    if (!workerId) {
      const h = await opts.api.healthCheck().catch(() => null);
      workerId = h?.workerInfo.workerId ?? `worker-${Math.random().toString(36).slice(2, 10)}`;
    }
    const worker = new FaceWorker(opts, workerId);
    worker.listen();
    worker.directSub = worker.nc.subscribe(`${worker.direct}.*`, {
      callback: (err, msg) => {
        if (err) return worker.log("warn", `[worker ${workerId}] direct subscription: ${err.message}`);
        const name = msg.subject.slice(worker.direct.length + 1);
        if (name === PING_OPERATION) return worker.respond(msg, encodeReply({ workerId, draining: worker.draining }));
        const op = OPERATION_BY_NAME.get(name);
        if (op) worker.accept({ op, msg, arrived: performance.now() });
      },
    });
    worker.statsSub = worker.nc.subscribe(`${worker.prefix}.stats`, {
      callback: (err, msg) => {
        if (!err) void worker.answerStats(msg);
      },
    });
    await worker.nc.flush();
    worker.log("info", `[worker ${workerId}] serving ${worker.prefix}.* in queue group ${QUEUE_GROUP} (concurrency ${worker.concurrency})`);
    return worker;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** This worker's counters (without cache statistics). */
  stats(): Omit<WorkerStats, "cache" | "health"> {
    const operations: Record<string, OpCounters> = {};
    for (const [k, v] of this.counters) operations[k] = { ...v };
    return {
      workerId: this.workerId,
      startedAt: this.startedAt.toISOString(),
      uptimeSeconds: (Date.now() - this.startedAt.getTime()) / 1000,
      concurrency: this.concurrency,
      inFlight: this.inFlight,
      backlog: this.backlog.length,
      draining: this.draining,
      processed: this.processed,
      failed: this.failed,
      timedOut: this.timedOut + this.expired,
      revision: this.revision(),
      direct: this.direct,
      operations,
    };
  }

  /**
   * Graceful stop: leave the queue group, finish what was delivered, stop answering stats.
   * Resolves when idle or after the drain timeout. The caller then closes the api and connection.
   */
  async drain(): Promise<void> {
    if (this.draining) return this.waitIdle(this.drainTimeoutMs);
    this.draining = true;
    this.log("info", `[worker ${this.workerId}] draining: ${this.inFlight} in flight, ${this.backlog.length} queued`);
    // Subscription drain delivers anything already on its way to us before it closes.
    await Promise.allSettled([...this.subs, ...(this.directSub ? [this.directSub] : [])].map((s) => s.drain()));
    this.directSub = null;
    this.subs = [];
    this.listening = false;
    await this.waitIdle(this.drainTimeoutMs);
    if (this.statsSub) await this.statsSub.drain().catch(() => undefined);
    this.statsSub = null;
    this.log("info", `[worker ${this.workerId}] drained (${this.processed} processed)`);
  }

  // ------------------------------------------------------------------ subscriptions and scheduling

  private listen(): void {
    if (this.listening || this.draining) return;
    this.listening = true;
    this.subs = (Object.keys(OPERATIONS) as OperationName[]).map((op) =>
      this.nc.subscribe(`${this.prefix}.${OPERATIONS[op]}`, {
        queue: QUEUE_GROUP,
        callback: (err, msg) => {
          if (err) this.log("warn", `[worker ${this.workerId}] subscription ${op}: ${err.message}`);
          else this.accept({ op, msg, arrived: performance.now() });
        },
      }),
    );
  }

  /** Leaves the queue group while the backlog is full; rejoins when it is half empty. */
  private adjustListening(): void {
    if (this.draining) return;
    if (this.listening && this.backlog.length >= this.maxBacklog) {
      this.listening = false;
      const subs = this.subs;
      this.subs = [];
      for (const s of subs) void s.drain().catch(() => undefined);
    } else if (!this.listening && this.backlog.length <= this.maxBacklog / 2) {
      this.listen();
    }
  }

  private accept(job: Job): void {
    if (this.inFlight < this.concurrency) void this.run(job);
    else this.backlog.push(job);
    this.adjustListening();
  }

  private async run(job: Job): Promise<void> {
    this.inFlight++;
    try {
      await this.process(job);
    } finally {
      this.inFlight--;
      const next = this.backlog.shift();
      if (next) void this.run(next);
      this.adjustListening();
      if (this.inFlight === 0 && this.backlog.length === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  private waitIdle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0 && this.backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.log("warn", `[worker ${this.workerId}] drain timeout with ${this.inFlight} in flight`);
        resolve();
      }, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // ------------------------------------------------------------------ one request

  private async process(job: Job): Promise<void> {
    const { op, msg } = job;
    const started = performance.now();
    const counters = this.counters.get(OPERATIONS[op]) ?? { count: 0, errors: 0, totalMs: 0 };
    this.counters.set(OPERATIONS[op], counters);
    let ok = false;
    try {
      const envelope = decodeRequest(msg.data, msg.headers);
      const clientTimeout = envelope.opts?.timeoutMs;
      const waited = started - job.arrived;
      if (clientTimeout !== undefined && waited >= clientTimeout) {
        // The caller gave up while this waited in the backlog: answering is pointless.
        this.expired++;
        return;
      }
      const budget = Math.min(this.timeoutMs, clientTimeout !== undefined ? clientTimeout - waited : Infinity);
      const idempotencyKey = OPERATION_SPECS[op].write ? msg.headers?.get(HDR_IDEMPOTENCY_KEY) : undefined;
      const opts = { ...envelope.opts, timeoutMs: Math.max(1, Math.floor(budget)), ...(idempotencyKey ? { idempotencyKey } : {}) };
      const spec = OPERATION_SPECS[op];
      const call = apiMethod(this.api, op)(spec.request === null ? undefined : (envelope.args ?? {}), opts);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(`worker ${this.workerId}: ${OPERATIONS[op]} took longer than ${Math.round(budget)} ms`)), budget);
      });
      try {
        const result = await Promise.race([call, deadline]);
        this.respond(msg, encodeReply(result));
        ok = true;
      } finally {
        clearTimeout(timer);
        call.catch(() => undefined);
      }
      // Keep the slot until the work really ends (a timed-out call still holds the engine).
      await call.catch(() => undefined);
    } catch (err) {
      const error = FaceError.from(err);
      if (error.code === "INTERNAL") this.log("error", `[worker ${this.workerId}] ${OPERATIONS[op]} failed: ${String(err instanceof Error ? (err.stack ?? err.message) : err)}`);
      if (error instanceof TimeoutError) this.timedOut++;
      this.respond(msg, encodeError(error), error);
    } finally {
      const ms = performance.now() - started;
      counters.count++;
      counters.totalMs += ms;
      if (ok) this.processed++;
      else {
        counters.errors++;
        this.failed++;
      }
    }
  }

  private respond(msg: Msg, payload: Uint8Array, error?: FaceError): void {
    if (!msg.reply) return;
    const h: MsgHdrs = natsHeaders();
    h.set(HDR_WORKER, this.workerId);
    h.set(HDR_REVISION, String(this.revision()));
    if (error) {
      // The NATS service-API convention, so generic tools see the failure too.
      h.set("Nats-Service-Error", error.message.replace(/[\r\n]+/g, " ").slice(0, 500));
      h.set("Nats-Service-Error-Code", String(error.status));
    }
    try {
      msg.respond(payload, { headers: h });
    } catch (err) {
      this.log("warn", `[worker ${this.workerId}] cannot reply: ${(err as Error).message}`);
    }
  }

  private async answerStats(msg: Msg): Promise<void> {
    const base = this.stats();
    // `{ args: { brief: true } }`: counters only (clients refreshing their routing table every few
    // seconds). `detail: "totals"` (health) or `companyId`: the gallery statistics without the
    // per-company maps, or with one company's: a fixed-size answer however many companies there
    // are. No args: every company (an old gateway's request), refused when past max_payload.
    let args: Record<string, unknown> = {};
    try {
      args = decodeRequest(msg.data, msg.headers).args ?? {};
    } catch {
      // a malformed stats request still gets an answer
    }
    if (args.brief === true) return this.respond(msg, encodeReply(base));
    const detail: CallOptions["statsDetail"] = args.detail === "totals" || args.detail === "companies" ? args.detail : undefined;
    const scope: CallOptions = {
      ...(detail ? { statsDetail: detail } : {}),
      ...(typeof args.companyId === "string" && args.companyId !== "" ? { statsCompanyId: args.companyId } : {}),
    };
    const [cache, health] = await Promise.all([
      this.api.getCacheStats(scope).catch(() => undefined),
      this.api.healthCheck().catch(() => undefined),
    ]);
    const stats: WorkerStats = { ...base, ...(cache ? { cache } : {}), ...(health ? { health } : {}) };
    const payload = encodeReply(stats);
    const max = this.nc.info?.max_payload;
    if (max !== undefined && payload.byteLength > max - 4096) {
      const error = new FaceError(
        "PAYLOAD_TOO_LARGE",
        `worker ${this.workerId}: the statistics of every company (${payload.byteLength} bytes) exceed the server's max_payload (${max}); ask for totals or one company`,
      );
      return this.respond(msg, encodeError(error), error);
    }
    this.respond(msg, payload);
  }
}
