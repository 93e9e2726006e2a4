/**
 * Many tenants on NATS: 1 shard x 2 workers against 2 shards x 2 workers, on a 3-node NATS cluster
 * started here (every bucket with 3 replicas).
 *
 *   bun run bench:tenants [-- --companies 1000 --users 100 --requests 600 --json bench/results/tenants.json]
 *
 * - Data: synthetic L2-normalised 512-d embeddings, one face per user, bulk-loaded as initial data
 *   (KvGalleryStore.bulkLoad, the store's create-if-absent path) into the unsharded bucket and into
 *   the two shard buckets (companies split by the shard map's hashing), not through the engine.
 * - Workers are `bun server/compose/worker.ts` processes (the real worker, engine included, one engine
 *   thread each). Per worker: resident memory after a full GC (and above an idle worker on an empty
 *   bucket: the gallery's share), time from spawn to ready, replay volume (its bucket's bytes).
 * - Load: recognize-by-embedding (searchEmbedding of a stored user's vector plus noise) through the
 *   gateway client (FaceClient / ShardedFaceClient), concurrency 8, p50/p99; health p99 (no cache:
 *   each call asks every worker); the stats answer's size (full and brief).
 * - Node loss: during the sharded run's load one nats-server is SIGKILLed, and restarted after;
 *   errors during the load are counted.
 * - Replay: a bucket per shard against a key prefix per shard in one bucket (the alternative design),
 *   the time a fresh watcher takes to replay one shard's keys.
 * Every figure is one run on a shared machine: the load average is recorded next to them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, resolve } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { normalize, type FaceApi } from "../lib/core/mod.ts";
import { FaceClient, hashShard, KvGalleryStore, ShardedFaceClient, shardBucket, ShardMap, startNatsCluster, type NatsCluster } from "../lib/nats/mod.ts";
import { quantile } from "./lfw-metrics.ts";

const ROOT = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] && !args[i + 1]!.startsWith("--") ? args[i + 1]! : fallback;
};
const COMPANIES = Number(opt("companies", "1000"));
const USERS = Number(opt("users", "100"));
const REQUESTS = Number(opt("requests", "600"));
const CONCURRENCY = 8;
const REPLAY_KEYS = Number(opt("replay-keys", "20000"));
const jsonOut = args.includes("--json") ? opt("json", "bench/results/tenants.json") : null;
const SHARDS = ["s1", "s2"];
const DIM = 512;
/** The engine's model id (asked from the idle worker before the data is loaded). */
let MODEL = "";

/** Deterministic unit vector of (company, user). */
function embedding(c: number, u: number, noise = 0): Float32Array {
  let a = (c * 1_000_003 + u * 7919 + 1) >>> 0;
  const v = new Float32Array(DIM);
  for (let i = 0; i < DIM; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    v[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5 + (noise ? (Math.random() - 0.5) * noise : 0);
  }
  return normalize(v);
}
const companyId = (c: number) => `tenant-${c}`;
const log = (m: string) => console.log(`[tenants] ${m}`);
const la = () => loadavg().map((x) => x.toFixed(1)).join(" ");

async function bulkLoad(nc: NatsConnection, bucket: string, companies: number[]): Promise<{ seconds: number; bytes: number }> {
  const started = performance.now();
  const store = await KvGalleryStore.open({ nc, bucket, replicas: 3, markerRetentionMs: 0, writeRetryMs: 30_000 });
  try {
    // in slices, so the batch of records stays small in memory
    for (let i = 0; i < companies.length; i += 100) {
      const slice = companies.slice(i, i + 100);
      await store.bulkLoad({
        companies: slice.map(companyId),
        users: slice.flatMap((c) => Array.from({ length: USERS }, (_, u) => ({ companyId: companyId(c), userId: `u${u}` }))),
        faces: slice.flatMap((c) => Array.from({ length: USERS }, (_, u) => ({ companyId: companyId(c), userId: `u${u}`, faceId: `f${u}`, model: MODEL, embedding: embedding(c, u) }))),
      });
    }
  } finally {
    store.close();
  }
  const jsm = await jetstreamManager(nc);
  return { seconds: (performance.now() - started) / 1000, bytes: (await jsm.streams.info(`KV_${bucket}`)).state.bytes };
}

interface Worker {
  id: string;
  proc: ChildProcess;
  spawnedAt: number;
  readyMs: Promise<number>;
  bucket: string;
}

function spawnWorker(id: string, url: string, env: Record<string, string>, bucket: string): Worker {
  const spawnedAt = performance.now();
  const proc = spawn("bun", ["server/compose/worker.ts"], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: url, WORKER_ID: id, NATS_KV_REPLICAS: "3", FACE_ENGINE_WORKERS: "1", WORKER_CONCURRENCY: "2", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const readyMs = new Promise<number>((resolveReady, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      // the worker's own line (after it installed its signal handlers), not the service's
      if (/\[worker [^\]]+\] ready:/.test(out)) {
        proc.stdout!.off("data", onData);
        resolveReady(performance.now() - spawnedAt);
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    proc.on("exit", (code) => reject(new Error(`worker ${id} exited ${code}: ${out.slice(-2000)}`)));
  });
  readyMs.catch(() => undefined);
  return { id, proc, spawnedAt, readyMs, bucket };
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

async function settledRss(w: Worker): Promise<number> {
  w.proc.kill("SIGUSR2"); // the worker runs a full GC (server/compose/worker.ts)
  await Bun.sleep(1500);
  return rssMb(w.proc.pid!);
}

async function stopWorkers(ws: Worker[]): Promise<void> {
  await Promise.all(
    ws.map(
      (w) =>
        new Promise<void>((r) => {
          if (w.proc.exitCode !== null || w.proc.signalCode !== null) return r();
          w.proc.once("exit", () => r());
          w.proc.kill("SIGTERM");
        }),
    ),
  );
}

async function loadRun(api: FaceApi, requests: number, during?: (progress: number) => Promise<void>) {
  const lat: number[] = [];
  let errors = 0;
  const firstErrors: string[] = [];
  let next = 0;
  let hook = during ? Math.floor(requests / 3) : -1;
  const one = async () => {
    for (;;) {
      const i = next++;
      if (i >= requests) return;
      if (i === hook) {
        hook = -1;
        void during!(i);
      }
      const c = Math.floor(Math.random() * COMPANIES);
      const u = Math.floor(Math.random() * USERS);
      const t = performance.now();
      try {
        const r = await api.searchEmbedding({ companyId: companyId(c), embedding: Array.from(embedding(c, u, 0.02)) }, { timeoutMs: 15_000 });
        if (r.userId !== `u${u}`) throw new Error(`wrong user ${r.userId}`);
        lat.push(performance.now() - t);
      } catch (e) {
        errors++;
        if (firstErrors.length < 5) firstErrors.push(String((e as Error).message).slice(0, 200));
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, one));
  const seconds = (performance.now() - started) / 1000;
  return { requests, errors, firstErrors, seconds, throughput: lat.length / seconds, p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99) };
}

async function healthRun(api: FaceApi, n: number) {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await api.healthCheck();
    lat.push(performance.now() - t);
  }
  return { calls: n, p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99) };
}

/** Bytes of each worker's full and brief stats answer on `<prefix>.stats`. */
async function statsSizes(nc: NatsConnection, prefix: string) {
  const sizes = async (brief: boolean) => {
    const out: number[] = [];
    const it = await nc.requestMany(`${prefix}.stats`, JSON.stringify(brief ? { args: { brief: true } } : {}), { strategy: "stall", stall: 500, maxWait: 10_000 });
    for await (const m of it) if (m.data.byteLength > 0) out.push(m.data.byteLength);
    return out;
  };
  return { full: await sizes(false), brief: await sizes(true) };
}

/** Replays `keys` face-sized values of one shard: from its own bucket, or filtered from a shared one. */
async function replayCompare(nc: NatsConnection) {
  const kvm = new Kvm(jetstream(nc, { timeout: 30_000 }));
  const value = new Uint8Array(2800).fill(65);
  const own = await kvm.create("replay-own", { history: 1, replicas: 3 });
  const shared = await kvm.create("replay-shared", { history: 1, replicas: 3 });
  for (let i = 0; i < REPLAY_KEYS; i += 500) {
    const batch = [];
    for (let j = i; j < Math.min(REPLAY_KEYS, i + 500); j++) {
      batch.push(own.put(`f.k${j}`, value), shared.put(`s1.f.k${j}`, value), shared.put(`s2.f.k${j}`, value));
    }
    await Promise.all(batch);
  }
  const time = async (kv: typeof own, key: string) => {
    const t = performance.now();
    const it = await kv.watch({ key });
    let n = 0;
    for await (const e of it) {
      n++;
      if (e.delta === 0) break;
    }
    it.stop();
    return { keys: n, ms: performance.now() - t };
  };
  const runs = [];
  for (let r = 0; r < 3; r++) runs.push({ bucketPerShard: await time(own, "f.>"), prefixInSharedBucket: await time(shared, "s1.f.>") });
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[1]!;
  return {
    keysPerShard: REPLAY_KEYS,
    bucketPerShardMs: median(runs.map((r) => r.bucketPerShard.ms)),
    prefixInSharedBucketMs: median(runs.map((r) => r.prefixInSharedBucket.ms)),
    runs,
  };
}

async function main() {
  const loadStart = la();
  log(`${COMPANIES} companies x ${USERS} users (${COMPANIES * USERS} users, one 512-d face each); load average ${loadStart}`);
  const cluster: NatsCluster = await startNatsCluster({ nodes: 3 });
  const results: Record<string, unknown> = { companies: COMPANIES, usersPerCompany: USERS, users: COMPANIES * USERS, loadAverageAtStart: loadStart };
  const all: Worker[] = [];
  try {
    const nc = await connect({ servers: cluster.urls });
    results.replay = await replayCompare(nc);
    log(`replay of one shard (${REPLAY_KEYS} keys): ${JSON.stringify(results.replay).slice(0, 200)}`);

    // an idle worker on an empty bucket: the memory every worker has before its gallery; its model id
    log("spawning the idle worker");
    const idle = spawnWorker("idle", cluster.urls[0]!, { NATS_KV_BUCKET: "empty", NATS_SUBJECT_PREFIX: "idle.v1" }, "empty");
    all.push(idle);
    log(`idle worker pid ${idle.proc.pid}`);
    await idle.readyMs;
    log("idle worker ready");
    const idleRss = await settledRss(idle);
    log(`idle worker: ${idleRss.toFixed(0)} MB`);
    const probe = await FaceClient.connect({ servers: cluster.urls, subjectPrefix: "idle.v1", env: {} });
    MODEL = (await probe.healthCheck({ timeoutMs: 30_000 })).engine.modelId;
    log(`model ${MODEL}`);
    await probe.close();
    await stopWorkers([idle]);
    results.idleWorkerRssMb = idleRss;

    const ids = Array.from({ length: COMPANIES }, (_, i) => i);
    const load = {
      unsharded: await bulkLoad(nc, "facegate", ids),
      s1: await bulkLoad(nc, shardBucket("s1"), ids.filter((c) => hashShard(companyId(c), SHARDS) === "s1")),
      s2: await bulkLoad(nc, shardBucket("s2"), ids.filter((c) => hashShard(companyId(c), SHARDS) === "s2")),
    };
    results.bulkLoad = load;
    // the shard map bucket, as an operator's first `facegate shards list` would make it (so the
    // workers' start-to-ready does not include a new stream's leader election)
    (await ShardMap.open({ nc, shards: SHARDS, replicas: 3 })).close();
    log(`bulk load: ${JSON.stringify(load)}`);

    const configs = [
      { name: "1 shard x 2 workers", env: (_i: number) => ({}), buckets: (_i: number) => "facegate", sharded: false },
      {
        name: "2 shards x 2 workers",
        env: (i: number) => ({ FACEGATE_SHARDS: SHARDS.join(","), WORKER_SHARDS: SHARDS[i % 2]! }),
        buckets: (i: number) => shardBucket(SHARDS[i % 2]!),
        sharded: true,
      },
    ];
    const runs = [];
    for (const cfg of configs) {
      const n = cfg.sharded ? 4 : 2;
      log(`${cfg.name}: starting ${n} workers; load average ${la()}`);
      const ws = Array.from({ length: n }, (_, i) => spawnWorker(`${cfg.sharded ? "sh" : "un"}${i}`, cluster.urls[i % 3]!, cfg.env(i), cfg.buckets(i)));
      all.push(...ws);
      const ready = await Promise.all(ws.map((w) => w.readyMs));
      const rss: number[] = [];
      for (const w of ws) rss.push(await settledRss(w));
      const jsm = await jetstreamManager(nc);
      const replayBytes: number[] = [];
      for (const w of ws) replayBytes.push((await jsm.streams.info(`KV_${w.bucket}`)).state.bytes);
      const env = { NATS_URL: cluster.urls.join(","), ...(cfg.sharded ? { FACEGATE_SHARDS: SHARDS.join(",") } : {}) };
      const api: FaceClient | ShardedFaceClient = cfg.sharded
        ? await ShardedFaceClient.connect({ env, healthCacheMs: 0 })
        : await FaceClient.connect({ env, healthCacheMs: 0 });
      try {
        await loadRun(api, 40); // warm-up
        const recognize = await loadRun(api, REQUESTS);
        const health = await healthRun(api, 100);
        const stats = cfg.sharded ? { s1: await statsSizes(nc, "facegate.v1.s1"), s2: await statsSizes(nc, "facegate.v1.s2") } : await statsSizes(nc, "facegate.v1");
        let nodeLoss: unknown;
        if (cfg.sharded) {
          // a node killed during the load, restarted after
          let killedAt = 0;
          const victim = cluster.nodes[2]!;
          const underLoss = await loadRun(api, REQUESTS, async () => {
            killedAt = performance.now();
            await victim.kill();
          });
          await victim.restart();
          nodeLoss = { node: cluster.names[2], ...underLoss, killedAfterMs: killedAt };
        }
        const run = {
          name: cfg.name,
          workers: ws.map((w, i) => ({ id: w.id, bucket: w.bucket, readyMs: ready[i], rssMb: rss[i], galleryRssMb: rss[i]! - idleRss, replayBytes: replayBytes[i] })),
          recognize,
          health,
          statsBytes: stats,
          nodeLoss,
          loadAverage: la(),
        };
        runs.push(run);
        log(JSON.stringify(run));
      } finally {
        await api.close();
        await stopWorkers(ws);
      }
    }
    results.runs = runs;
    const [un, sh] = runs as Array<{ workers: Array<{ rssMb: number; galleryRssMb: number; readyMs: number }> }>;
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    results.ratios = {
      rss: avg(sh!.workers.map((w) => w.rssMb)) / avg(un!.workers.map((w) => w.rssMb)),
      galleryRss: avg(sh!.workers.map((w) => w.galleryRssMb)) / avg(un!.workers.map((w) => w.galleryRssMb)),
      ready: avg(sh!.workers.map((w) => w.readyMs)) / avg(un!.workers.map((w) => w.readyMs)),
    };
    results.loadAverageAtEnd = la();
    await nc.close();
  } finally {
    await stopWorkers(all);
    await cluster.cleanup();
  }
  console.log("\n| | 1 shard x 2 workers | 2 shards x 2 workers |\n|---|---|---|");
  const [a, b] = results.runs as Array<Record<string, any>>;
  const row = (label: string, f: (r: Record<string, any>) => string) => console.log(`| ${label} | ${f(a!)} | ${f(b!)} |`);
  row("RSS per worker (MB)", (r) => r.workers.map((w: any) => w.rssMb.toFixed(0)).join(", "));
  row("of it above an idle worker (MB)", (r) => r.workers.map((w: any) => w.galleryRssMb.toFixed(0)).join(", "));
  row("start to ready (s)", (r) => r.workers.map((w: any) => (w.readyMs / 1000).toFixed(1)).join(", "));
  row("replay volume (MB)", (r) => r.workers.map((w: any) => (w.replayBytes / 1e6).toFixed(0)).join(", "));
  row("recognize p50 / p99 (ms)", (r) => `${r.recognize.p50Ms.toFixed(1)} / ${r.recognize.p99Ms.toFixed(1)}`);
  row("health p99 (ms)", (r) => r.health.p99Ms.toFixed(1));
  row("node killed: errors / requests", (r) => (r.nodeLoss ? `${r.nodeLoss.errors} / ${r.nodeLoss.requests}` : "-"));
  console.log(`\nratios (sharded / unsharded): ${JSON.stringify(results.ratios)}; load average ${results.loadAverageAtStart} -> ${results.loadAverageAtEnd}`);
  if (jsonOut) {
    mkdirSync(dirname(jsonOut), { recursive: true });
    writeFileSync(jsonOut, JSON.stringify(results, null, 2));
    log(`wrote ${jsonOut}`);
  }
}

await main();
