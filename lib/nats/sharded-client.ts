/**
 * ShardedFaceClient: the FaceApi over sharded NATS workers (the gateway with FACEGATE_SHARDS).
 *
 * - One FaceClient per shard on one connection (subjects `facegate.v1.<shard>.<op>`), each with its
 *   own least-loaded router (peer-router.ts) and read-your-writes per company.
 * - A request for a company goes to the shard the watched shard map places it on. A write to a
 *   company that is moving is refused at once (503 UNAVAILABLE, Retry-After 1). A read of a company
 *   moved here waits for the revision at which the move made it complete (`since`).
 * - A refusal (UNAVAILABLE) makes the client re-read the company's placement: if it changed (a move
 *   this gateway had not seen yet) the request goes to the new shard.
 * - A shard without any worker: 503 UNAVAILABLE naming the shard, after the few fast "no responders"
 *   retries of FaceClient (no timeout).
 * - Requests without a company (detect, embed, compare, verify) go to any shard with workers;
 *   listCompanies merges the shards' pages; health and cache statistics combine the shards'.
 */
import { connect, errors as natsErrors } from "@nats-io/transport-node";
import type { FaceApi, OperationName } from "../core/internal.ts";
import { FaceError, UnavailableError } from "../core/internal.ts";
import type { ListCompaniesRequest, ListCompaniesResult } from "../core/internal.ts";
import type { CacheStats, CallOptions, Health } from "../core/internal.ts";
import { FaceClient, type FaceClientConnectOptions } from "./client.ts";
import { connectionOptions, loadNatsConfig, parseNatsConfig } from "./config.ts";
import { apiMethod, OPERATION_SPECS } from "./protocol.ts";
import { movingError } from "./shard-guard.ts";
import { ShardMap } from "./shard-map.ts";
import { loadShardConfig, shardLabel, shardPrefix, type ShardConfig } from "./shards.ts";

export interface ShardedFaceClientConnectOptions extends FaceClientConnectOptions {
  /** The shard list (default: FACEGATE_SHARDS from `env`). */
  shards?: string[];
}

/** True when the failure (or its cause) is NATS "no responders": nobody listens on the subject. */
export function isNoResponders(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    if (e instanceof natsErrors.NoRespondersError) return true;
    if (e instanceof natsErrors.RequestError && e.isNoResponders()) return true;
  }
  return false;
}

export class ShardedFaceClient implements FaceApi {
  private closed = false;
  private next = 0;

  private constructor(
    private readonly clients: ReadonlyMap<string, FaceClient>,
    readonly map: ShardMap,
    private readonly ownsConnection: boolean,
  ) {}

  /** The shared connection (events, webhooks and the company-delete watch use it). */
  get nc() {
    return this.clients.values().next().value!.nc;
  }

  get shards(): readonly string[] {
    return this.map.shards;
  }

  /** The shard's own client (tests, diagnostics). */
  shard(name: string): FaceClient {
    const c = this.clients.get(name);
    if (!c) throw new FaceError("INVALID_ARGUMENT", `unknown shard ${name}`);
    return c;
  }

  static async connect(opts: ShardedFaceClientConnectOptions = {}): Promise<ShardedFaceClient> {
    const envVars = opts.env ?? process.env;
    const env = loadNatsConfig(envVars);
    const shards = opts.shards ?? loadShardConfig(envVars).shards;
    const overrides = Object.fromEntries(
      (["servers", "user", "pass", "token", "credsFile", "nkeySeedFile", "tlsCaFile", "tlsCertFile", "tlsKeyFile", "tlsRequired"] as const)
        .filter((k) => opts[k] !== undefined)
        .map((k) => [k, opts[k]]),
    );
    const config = Object.keys(overrides).length > 0 ? parseNatsConfig({ ...env, ...overrides }) : env;
    let nc;
    try {
      nc = await connect({ ...connectionOptions(config, opts.name ?? "facegate-client"), waitOnFirstConnect: opts.waitOnFirstConnect ?? false });
    } catch (err) {
      throw new UnavailableError(`cannot connect to NATS at ${config.servers.join(", ")}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const map = await ShardMap.open({ nc, shards, bucket: config.bucket, replicas: config.replicas });
      const prefix = opts.subjectPrefix ?? env.subjectPrefix;
      const clients = new Map(
        shards.map((s) => [s, new FaceClient(nc, { timeoutMs: env.requestTimeoutMs, retries: env.retries, ...opts, subjectPrefix: shardPrefix(s, prefix) })]),
      );
      return new ShardedFaceClient(clients, map, true);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.map.close();
    for (const c of this.clients.values()) await c.close();
    if (this.ownsConnection) await this.nc.close();
  }

  // ------------------------------------------------------------------ FaceApi: by company

  createCompany = this.byCompany("createCompany");
  deleteCompany = this.byCompany("deleteCompany");
  createUser = this.byCompany("createUser");
  addFace = this.byCompany("addFace");
  deleteUser = this.byCompany("deleteUser");
  deleteFace = this.byCompany("deleteFace");
  getUserFaces = this.byCompany("getUserFaces");
  getUser = this.byCompany("getUser");
  updateUser = this.byCompany("updateUser");
  recognizeFace = this.byCompany("recognizeFace");
  recognizeFaces = this.byCompany("recognizeFaces");
  searchEmbedding = this.byCompany("searchEmbedding");
  getOperatingPoint = this.byCompany("getOperatingPoint");
  setOperatingPoint = this.byCompany("setOperatingPoint");
  listUsers = this.byCompany("listUsers");

  // ------------------------------------------------------------------ FaceApi: any shard

  detectFaces = this.anyShard("detectFaces");
  generateEmbedding = this.anyShard("generateEmbedding");
  compare = this.anyShard("compare");
  verify = this.anyShard("verify");

  /** Every shard's page after the cursor, merged by id; `total` sums the shards. */
  async listCompanies(req: ListCompaniesRequest = {}, opts?: CallOptions): Promise<ListCompaniesResult> {
    const limit = req.limit ?? 100;
    const pages = await Promise.all(this.shards.map((s) => this.shardCall(s, undefined, () => this.shard(s).listCompanies({ ...req, limit }, opts))));
    const byId = new Map<string, ListCompaniesResult["companies"][number]>();
    // a company is counted on the shard the map names (during a move, or after one cut short, the
    // other shard may hold a copy)
    for (const [i, page] of pages.entries()) {
      for (const c of page.companies) if (this.map.placement(c.companyId).shard === this.shards[i]) byId.set(c.companyId, c);
    }
    const all = [...byId.values()].sort((a, b) => (a.companyId < b.companyId ? -1 : a.companyId > b.companyId ? 1 : 0));
    const companies = all.slice(0, limit);
    const more = all.length > limit || pages.some((p) => p.nextCursor !== null);
    return {
      companies,
      total: pages.reduce((n, p) => n + p.total, 0),
      nextCursor: more && companies.length > 0 ? companies[companies.length - 1]!.companyId : null,
    };
  }

  /** ok when every shard is ok; a shard without workers makes it degraded (named in `store.shards`). */
  async healthCheck(opts?: CallOptions): Promise<Health> {
    const started = performance.now();
    const results = await Promise.allSettled(this.shards.map((s) => this.shard(s).healthCheck(opts)));
    const ok = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const down = this.shards.filter((_, i) => results[i]!.status === "rejected");
    if (ok.length === 0) throw new UnavailableError(`no worker answered health on any shard (${this.shards.map(shardLabel).join(", ")})`);
    const base = ok[0]!;
    const shards = Object.fromEntries(
      this.shards.map((s, i) => {
        const r = results[i]!;
        return [s, r.status === "fulfilled" ? { status: r.value.status, revision: r.value.store.revision, workersSeen: r.value.store.workersSeen } : { status: "unavailable", error: (r.reason as Error).message }];
      }),
    );
    const list = (h: Health, k: string) => ((h.store as Record<string, unknown>)[k] as unknown[] | undefined) ?? [];
    return {
      status: down.length === 0 && ok.every((h) => h.status === "ok") ? "ok" : "degraded",
      responseTimeMs: performance.now() - started,
      workerInfo: {
        workerId: `shards(${this.shards.length})`,
        uptimeSeconds: Math.max(...ok.map((h) => h.workerInfo.uptimeSeconds)),
        tasksProcessed: ok.reduce((n, h) => n + h.workerInfo.tasksProcessed, 0),
      },
      engine: base.engine,
      store: {
        ...base.store,
        revision: Math.max(...ok.map((h) => h.store.revision)),
        workersSeen: ok.reduce((n, h) => n + ((h.store as { workersSeen?: number }).workersSeen ?? 0), 0),
        workers: ok.flatMap((h) => list(h, "workers")),
        behind: ok.flatMap((h) => list(h, "behind")),
        shards,
        ...(down.length > 0 ? { shardsWithoutWorkers: down } : {}),
      },
    };
  }

  /** Counts summed over the shards (each shard's own view in `cacheInfo.shards`). */
  async getCacheStats(opts?: CallOptions): Promise<CacheStats> {
    const stats = await Promise.all(this.shards.map((s) => this.shardCall(s, undefined, () => this.shard(s).getCacheStats(opts))));
    const sum = (k: "companiesCount" | "usersCount" | "facesCount" | "embeddingsCount" | "totalTasksProcessed") => stats.reduce((n, c) => n + c[k], 0);
    return {
      companiesCount: sum("companiesCount"),
      usersCount: sum("usersCount"),
      facesCount: sum("facesCount"),
      embeddingsCount: sum("embeddingsCount"),
      uptimeSeconds: Math.max(...stats.map((c) => c.uptimeSeconds)),
      totalTasksProcessed: sum("totalTasksProcessed"),
      workerId: `shards(${this.shards.length})`,
      revision: Math.max(...stats.map((c) => c.revision)),
      companies: Object.assign({}, ...stats.map((c) => c.companies)),
      cacheInfo: {
        mode: "nats-sharded",
        shards: Object.fromEntries(this.shards.map((s, i) => [s, stats[i]!.cacheInfo])),
      },
    };
  }

  // ------------------------------------------------------------------ routing

  private byCompany<Op extends OperationName>(op: Op): FaceApi[Op] {
    return ((req: { companyId: string }, opts?: CallOptions) => this.routed(op, req, opts)) as unknown as FaceApi[Op];
  }

  private anyShard<Op extends OperationName>(op: Op): FaceApi[Op] {
    return (async (req: unknown, opts?: CallOptions) => {
      const start = this.next++ % this.shards.length;
      for (let i = 0; ; i++) {
        const s = this.shards[(start + i) % this.shards.length]!;
        try {
          return await apiMethod(this.shard(s), op)(req, opts);
        } catch (err) {
          // a shard without workers: the next one may have some
          if (!isNoResponders(err) || i + 1 >= this.shards.length) throw err;
        }
      }
    }) as unknown as FaceApi[Op];
  }

  private async routed(op: OperationName, req: { companyId: string }, opts?: CallOptions): Promise<unknown> {
    const companyId = req?.companyId;
    // invalid requests: the shard client's own validation answers (400)
    if (typeof companyId !== "string") return apiMethod(this.shard(this.shards[0]!), op)(req, opts);
    const write = OPERATION_SPECS[op].write;
    let p = this.map.placement(companyId);
    for (let attempt = 0; ; attempt++) {
      if (write && p.movingTo !== undefined) throw movingError(companyId, p);
      const o = p.since !== undefined ? { ...opts, minRevision: Math.max(opts?.minRevision ?? 0, p.since) } : opts;
      const shard = p.shard;
      try {
        return await this.shardCall(shard, companyId, () => apiMethod(this.shard(shard), op)(req, o));
      } catch (err) {
        if (!(err instanceof FaceError) || err.code !== "UNAVAILABLE" || attempt >= 2) throw err;
        // a refusal from a shard the company left (this copy of the map is behind): re-read it
        const fresh = await this.map.fresh(companyId);
        if (fresh.shard === p.shard && fresh.movingTo === p.movingTo) throw err;
        p = fresh;
      }
    }
  }

  /** Runs a call on one shard; "no responders" becomes a 503 naming the shard. */
  private async shardCall<T>(shard: string, companyId: string | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (!isNoResponders(err)) throw err;
      const who = companyId !== undefined ? ` (company ${JSON.stringify(companyId)} is on it)` : "";
      throw new UnavailableError(
        `shard ${shardLabel(shard)} has no worker${who}: start one with WORKER_SHARDS=${shard} (or none, to serve every shard)`,
        { cause: err, details: { shard } },
      );
    }
  }
}

/** The gateway's FaceApi over NATS: ShardedFaceClient with FACEGATE_SHARDS, else FaceClient (today's layout). */
export async function connectFaceApi(opts: ShardedFaceClientConnectOptions & { shardConfig?: ShardConfig } = {}): Promise<FaceClient | ShardedFaceClient> {
  const shards = opts.shardConfig ?? loadShardConfig(opts.env ?? process.env);
  return shards.sharded ? ShardedFaceClient.connect({ ...opts, shards: shards.shards }) : FaceClient.connect(opts);
}
