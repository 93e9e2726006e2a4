/**
 * `bun run worker`: a FaceWorker serving a LocalFaceService whose store is the JetStream KV bucket.
 *
 * Environment: NATS_URL, NATS_USER/NATS_PASS/NATS_TOKEN, NATS_CREDS_FILE, NATS_NKEY_SEED_FILE,
 * NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE/NATS_TLS_KEY_FILE, NATS_TLS_REQUIRED, WORKER_CONCURRENCY, WORKER_TIMEOUT_MS,
 * WORKER_DRAIN_TIMEOUT_MS, NATS_KV_BUCKET, NATS_KV_REPLICAS, NATS_SUBJECT_PREFIX, WORKER_ID, plus the
 * service's and engine's variables (FACE_RECOGNITION_THRESHOLD, FACE_ENGINE, DATA_SOURCE, ...).
 * SIGTERM / SIGINT: drain (finish in-flight requests), close, exit 0.
 *
 * `startFaceWorker()` assembles the same stack in-process (tests, benchmarks, the cluster demo).
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { FaceError } from "../../lib/core/internal.ts";
import type { FaceEngine } from "../../lib/engine/mod.ts";
import {
  connectionOptions,
  FaceWorker,
  KvGalleryStore,
  KvIdempotencyStore,
  loadNatsConfig,
  parseNatsConfig,
  type NatsConfig,
  type NatsConfigInput,
  loadShardConfig,
  ShardGuard,
  ShardMap,
  shardBucket,
  shardPrefix,
} from "../../lib/nats/mod.ts";
import { LocalFaceService, withIdempotency, type ServiceConfigInput } from "../../lib/service/mod.ts";

export interface StartFaceWorkerOptions {
  /** NATS settings; unset fields come from the environment. */
  nats?: Partial<NatsConfigInput>;
  /** Service settings (workerId, thresholds, ...); `store` is always the KV bucket. */
  service?: Partial<ServiceConfigInput>;
  /** Share one loaded engine between in-process workers (it is not disposed by close()). */
  engine?: FaceEngine;
  /** Use this connection instead of opening one (not closed by close()). */
  nc?: NatsConnection;
  env?: Record<string, string | undefined>;
  log?: (level: "info" | "warn" | "error", message: string) => void;
  /** Serve this named shard (its bucket and subjects), guarded by the shard map (see startShardWorkers). */
  shard?: { name: string; map: ShardMap };
}

export interface RunningWorker {
  worker: FaceWorker;
  service: LocalFaceService;
  store: KvGalleryStore;
  nc: NatsConnection;
  config: NatsConfig;
  /** The named shard served (undefined: the unsharded layout). */
  shard?: string;
  /** Drain, then close the service, store and (own) connection. */
  close(): Promise<void>;
}

export async function startFaceWorker(opts: StartFaceWorkerOptions = {}): Promise<RunningWorker> {
  // One engine worker thread by default: inference (which blocks its thread) stays off the thread
  // that answers NATS (heartbeats, stats, drain). Run one worker process per core to scale.
  const env = { FACE_ENGINE_WORKERS: "1", ...(opts.env ?? process.env) };
  const config = parseNatsConfig({ ...loadNatsConfig(env), ...opts.nats });
  const log = opts.log ?? ((level, m) => (level === "info" ? console.log : console.warn)(m));
  const ownsNc = !opts.nc;
  const nc =
    opts.nc ??
    (await connect({ ...connectionOptions(config, `facegate-worker-${process.pid}`), waitOnFirstConnect: true }));
  let store: KvGalleryStore | undefined;
  let service: LocalFaceService | undefined;
  try {
    const shard = opts.shard;
    store = await KvGalleryStore.open({
      nc,
      bucket: shard ? shardBucket(shard.name, config.bucket) : config.bucket,
      replicas: config.replicas,
      markerRetentionMs: config.markerRetentionMs,
      onWarning: (m, cause) => log("warn", `[kv-store] ${m}${cause ? `: ${String(cause)}` : ""}`),
    });
    service = await LocalFaceService.create({ engine: opts.engine, store, env, config: opts.service, log });
    // Writes with an Idempotency-Key run once across every worker (records in their own KV bucket).
    const keys = await KvIdempotencyStore.open({
      nc,
      bucket: config.idempotencyBucket,
      ttlMs: config.idempotencyTtlMs,
      replicas: config.replicas,
      subjectPrefix: config.subjectPrefix,
    });
    const guard = shard ? new ShardGuard(shard.name, shard.map) : undefined;
    const subjectPrefix = shard ? shardPrefix(shard.name, config.subjectPrefix) : config.subjectPrefix;
    const svc = service;
    const idempotent = withIdempotency(service, keys, service.gallery, { owner: service.config.workerId });
    const worker = await FaceWorker.start({
      nc,
      // the shard guard first: a request for another shard's company is refused before anything runs
      api: guard ? guard.wrap(idempotent) : idempotent,
      workerId: service.config.workerId,
      concurrency: config.concurrency,
      timeoutMs: config.workerTimeoutMs,
      drainTimeoutMs: config.drainTimeoutMs,
      subjectPrefix,
      revision: () => svc.gallery.revision,
      log,
    });
    guard?.listen(nc, subjectPrefix, worker.workerId);
    const s = store;
    let closing: Promise<void> | undefined;
    return {
      worker,
      service: svc,
      store: s,
      nc,
      config,
      ...(shard ? { shard: shard.name } : {}),
      close: () =>
        (closing ??= (async () => {
          await worker.drain();
          guard?.stop();
          await svc.close();
          s.close();
          if (ownsNc) await nc.drain().catch(() => nc.close());
        })()),
    };
  } catch (err) {
    await service?.close().catch(() => undefined);
    store?.close();
    if (ownsNc) await nc.close();
    throw err;
  }
}

/**
 * The worker process over shards: one FaceWorker stack (bucket, gallery, subjects) per shard in
 * WORKER_SHARDS (default: every shard of FACEGATE_SHARDS), sharing one NATS connection, one engine
 * and one watched shard map. Without FACEGATE_SHARDS it is exactly `startFaceWorker()`.
 */
export interface RunningShardWorkers {
  /** One per served shard (one, unnamed, when unsharded). */
  workers: RunningWorker[];
  /** The watched shard map (sharded only). */
  map?: ShardMap;
  close(): Promise<void>;
}

export async function startShardWorkers(opts: StartFaceWorkerOptions = {}): Promise<RunningShardWorkers> {
  const env: Record<string, string | undefined> = { FACE_ENGINE_WORKERS: "1", ...(opts.env ?? process.env) };
  const shards = loadShardConfig(env);
  if (!shards.sharded) {
    const w = await startFaceWorker(opts);
    return { workers: [w], close: () => w.close() };
  }
  const config = parseNatsConfig({ ...loadNatsConfig(env), ...opts.nats });
  const log = opts.log ?? ((level, m) => (level === "info" ? console.log : console.warn)(m));
  const ownsNc = !opts.nc;
  const nc = opts.nc ?? (await connect({ ...connectionOptions(config, `facegate-worker-${process.pid}`), waitOnFirstConnect: true }));
  let engine: FaceEngine | undefined = opts.engine;
  const ownsEngine = !engine && shards.workerShards.length > 1;
  const workers: RunningWorker[] = [];
  let map: ShardMap | undefined;
  const close = async () => {
    await Promise.allSettled(workers.map((w) => w.close()));
    map?.close();
    if (ownsEngine) await engine?.dispose();
    if (ownsNc) await nc.drain().catch(() => nc.close());
  };
  try {
    map = await ShardMap.open({ nc, shards: shards.shards, bucket: config.bucket, replicas: config.replicas, onWarning: (m) => log("warn", `[shard-map] ${m}`) });
    // several shards in one process share one engine (models loaded once)
    if (ownsEngine) {
      const { createEngine, loadEngineConfig } = await import("../../lib/engine/mod.ts");
      engine = await createEngine(loadEngineConfig(env));
    }
    const baseId = opts.service?.workerId ?? env.WORKER_ID;
    for (const name of shards.workerShards) {
      const workerId = baseId ? (shards.workerShards.length > 1 ? `${baseId}.${name}` : baseId) : undefined;
      workers.push(
        await startFaceWorker({
          ...opts,
          env,
          nc,
          ...(engine ? { engine } : {}),
          service: { ...opts.service, ...(workerId ? { workerId } : {}) },
          shard: { name, map },
        }),
      );
    }
    return { workers, map, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function main(): Promise<void> {
  const running = await startShardWorkers();
  const worker = running.workers[0]!.worker;
  for (const { worker: w, service, config, store } of running.workers) {
    console.log(
      `[worker ${w.workerId}] ready: NATS ${config.servers.join(",")}, bucket ${store.bucket}, ` +
        `revision ${service.gallery.revision}, concurrency ${w.concurrency}`,
    );
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[worker ${worker.workerId}] ${signal}: draining`);
    try {
      await running.close();
      process.exit(0);
    } catch (err) {
      console.error(`[worker ${worker.workerId}] shutdown failed:`, err);
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // SIGUSR2: a full garbage collection (memory measurements, e.g. `bun run fuzz`, compare like with like).
  process.on("SIGUSR2", () => Bun.gc(true));
  process.on("SIGINT", () => void stop("SIGINT"));
}

if (import.meta.main) {
  main().catch((err) => {
    console.error("[worker] failed to start:", err);
    // A bad setting exits 2, like the gateway.
    process.exit(err instanceof FaceError && err.code === "INVALID_ARGUMENT" ? 2 : 1);
  });
}
