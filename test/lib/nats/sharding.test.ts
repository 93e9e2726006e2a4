/**
 * Two shards on a real nats-server (FACEGATE_SHARDS=s1,s2): workers serving one shard each, the
 * gateway's ShardedFaceClient routing by company, a shard without workers (503 naming it, at once),
 * a worker restarted that replays its own shard only and catches up, and a company moved between
 * shards while enrollments, deletes and recognitions race the move: nothing acknowledged is lost,
 * nothing deleted comes back, every recognition is answered.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { FaceError } from "../../../lib/core/mod.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { KvGalleryStore } from "../../../lib/nats/kv-store.ts";
import { ShardMap } from "../../../lib/nats/shard-map.ts";
import { moveCompany } from "../../../lib/nats/shard-move.ts";
import { ShardedFaceClient } from "../../../lib/nats/sharded-client.ts";
import { hashShard, shardBucket } from "../../../lib/nats/shards.ts";
import { startShardWorkers, type RunningShardWorkers } from "../../../server/compose/worker.ts";
import { faceApiSample } from "../../helpers/datasets.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";
import { randomUnit, rng } from "../../helpers/vectors.ts";

const SHARDS = ["s1", "s2"];
const ENV = (url: string, workerShards: string, id: string) => ({ NATS_URL: url, FACEGATE_SHARDS: SHARDS.join(","), WORKER_SHARDS: workerShards, WORKER_ID: id });

let server: NatsServer;
let engine: FaceEngine;
let client: ShardedFaceClient;
let nc: NatsConnection;
let map: ShardMap;
const running: RunningShardWorkers[] = [];
const warnings: string[] = [];
const log = (level: "info" | "warn" | "error", m: string) => {
  if (level !== "info") warnings.push(m);
};

/** A company id that hashes to `shard`. */
const companyOn = (shard: string, tag: string) => {
  for (let i = 0; ; i++) if (hashShard(`${tag}-${i}`, SHARDS) === shard) return `${tag}-${i}`;
};

async function startWorker(shards: string, id: string): Promise<RunningShardWorkers> {
  const w = await startShardWorkers({ engine, env: ENV(server.url, shards, id), nats: { concurrency: 2 }, log });
  running.push(w);
  return w;
}

async function stopWorker(w: RunningShardWorkers): Promise<void> {
  running.splice(running.indexOf(w), 1);
  await w.close();
}

const gallery = (w: RunningShardWorkers) => w.workers[0]!.service.gallery;
const companiesOf = (w: RunningShardWorkers) => Object.keys(gallery(w).stats().perCompany).sort();

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: unknown) => (e as FaceError).code,
  );

describeWithTools(["nats-server"], "two shards on NATS", () => {
  let a: RunningShardWorkers;
  let b: RunningShardWorkers;
  let model: string;

  beforeAll(async () => {
    server = await startTestNatsServer();
    engine = await createEngine({ workers: 1 });
    model = engine.info().modelId;
    a = await startWorker("s1", "a1");
    b = await startWorker("s2", "b1");
    client = await ShardedFaceClient.connect({ servers: server.url, env: { FACEGATE_SHARDS: SHARDS.join(",") }, timeoutMs: 10_000 });
    nc = await connect({ servers: server.url });
    map = await ShardMap.open({ nc, shards: SHARDS });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    map?.close();
    await nc?.close();
    for (const w of running.splice(0).reverse()) await w.close().catch(() => undefined);
    await engine?.dispose();
    await server?.cleanup();
  }, 60_000);

  test("each company goes to its shard's workers and bucket, and only there", async () => {
    const one = companyOn("s1", "route");
    const two = companyOn("s2", "route");
    for (const c of [one, two]) await client.createCompany({ companyId: c });
    const e1 = await client.createUser({ companyId: one, userId: "u1", faceId: "f1", image: faceApiSample(1) });
    expect(client.shard("s1").lastWorker).toBe("a1");
    const e2 = await client.createUser({ companyId: two, userId: "u2", faceId: "f2", image: faceApiSample(2) });
    expect(client.shard("s2").lastWorker).toBe("b1");
    // read-your-writes through the router
    expect((await client.getUserFaces({ companyId: one, userId: "u1" })).faceIds).toEqual(["f1"]);
    const hit = await client.searchEmbedding({ companyId: two, embedding: e2.embedding });
    expect(hit.userId).toBe("u2");
    await gallery(a).waitForRevision(e1.revision!, 5000);
    await gallery(b).waitForRevision(e2.revision!, 5000);
    expect(companiesOf(a)).toEqual([one]);
    expect(companiesOf(b)).toEqual([two]);
    // a bucket per shard
    expect(a.workers[0]!.store.bucket).toBe(shardBucket("s1"));
    expect(b.workers[0]!.store.bucket).toBe(shardBucket("s2"));
    // a worker refuses a company that is not its shard's, naming the right one
    const wrong = await client.shard("s1").getOperatingPoint({ companyId: two }).catch((e: FaceError) => e);
    expect(wrong).toBeInstanceOf(FaceError);
    expect((wrong as FaceError).message).toContain("is on shard s2, not s1");
    const listed = await client.listCompanies();
    expect(listed.companies.map((c) => c.companyId).sort()).toEqual([one, two].sort());
    const health = await client.healthCheck();
    expect(health.status).toBe("ok");
    expect(Object.keys(health.store.shards as object)).toEqual(SHARDS);
  }, 60_000);

  test("a restarted worker replays its own shard only and catches up with what it missed", async () => {
    const two = companyOn("s2", "catchup");
    await client.createCompany({ companyId: two });
    const b2 = await startWorker("s2", "b2");
    await stopWorker(b2);
    // written while b2 is down (b1 serves s2)
    const added = await client.createUser({ companyId: two, userId: "late", faceId: "l1", image: faceApiSample(3) });
    const again = await startWorker("s2", "b2");
    await gallery(again).waitForRevision(added.revision!, 10_000);
    expect(companiesOf(again)).toEqual(companiesOf(b).filter((c) => c !== undefined));
    expect(companiesOf(again)).toContain(two);
    expect(companiesOf(again).every((c) => hashShard(c, SHARDS) === "s2" || map.placement(c).shard === "s2")).toBe(true);
    expect(gallery(again).stats().perCompany[two]?.users).toBe(1);
    await stopWorker(again);
  }, 60_000);

  test("a shard without workers answers 503 naming the shard, at once; the other shard goes on", async () => {
    const one = companyOn("s1", "alone");
    const two = companyOn("s2", "alone");
    await client.createCompany({ companyId: one });
    await client.createCompany({ companyId: two });
    await stopWorker(b);
    try {
      const started = performance.now();
      const err = await client.getOperatingPoint({ companyId: two }).then(
        () => null,
        (e: unknown) => e as FaceError,
      );
      expect(err?.code).toBe("UNAVAILABLE");
      expect(err?.message).toContain("shard s2 has no worker");
      expect(err?.details).toEqual({ shard: "s2" });
      // the no-responders retries only, not a request timeout (10 s)
      expect(performance.now() - started).toBeLessThan(5000);
      expect(await codeOf(client.getOperatingPoint({ companyId: one }))).toBe("ok");
      // health (cached for a second) turns degraded, naming the shard
      let health = await client.healthCheck({ timeoutMs: 2000 });
      for (let i = 0; i < 30 && health.status === "ok"; i++) {
        await Bun.sleep(100);
        health = await client.healthCheck({ timeoutMs: 2000 });
      }
      expect(health.status).toBe("degraded");
      expect(health.store.shardsWithoutWorkers).toEqual(["s2"]);
    } finally {
      b = await startWorker("s2", "b1");
    }
    expect(await codeOf(client.getOperatingPoint({ companyId: two }))).toBe("ok");
  }, 60_000);

  test("a move under load: enrollments, deletes and recognitions race it; nothing lost or resurrected", async () => {
    const company = companyOn("s1", "mover");
    const rand = rng(21);
    const seeded = Array.from({ length: 40 }, (_, i) => ({ companyId: company, userId: `p${i}`, faceId: `p${i}-f`, model, embedding: randomUnit(rand, 512) }));
    // initial data straight into the source shard's bucket (the workers replay it)
    const s1 = await KvGalleryStore.open({ nc, bucket: shardBucket("s1") });
    const loaded = await s1.bulkLoad({ companies: [company], users: seeded.map(({ companyId, userId }) => ({ companyId, userId })), faces: seeded });
    s1.close();
    await gallery(a).waitForRevision(loaded.revision, 10_000);

    const expected = new Set(seeded.map((s) => s.userId));
    const stop = { now: false };
    const refusedWrites: string[] = [];
    /** A write retried as a client told "read-only, retry in 1 s" would. */
    const write = async (what: string, fn: () => Promise<unknown>) => {
      for (;;) {
        try {
          return await fn();
        } catch (e) {
          if ((e as FaceError).code !== "UNAVAILABLE") throw e;
          refusedWrites.push(`${what}: ${(e as FaceError).message}`);
          await Bun.sleep(200);
        }
      }
    };
    const deletes = (async () => {
      for (let i = 0; i < 20; i++) {
        const r = (await write(`delete p${i}`, () => client.deleteUser({ companyId: company, userId: `p${i}` }))) as { deleted: boolean };
        expect(r.deleted).toBe(true);
        expect.hasAssertions();
        expected.delete(`p${i}`);
      }
    })();
    const enrolls = (async () => {
      for (let i = 0; i < 8; i++) {
        await write(`enroll n${i}`, () => client.createUser({ companyId: company, userId: `n${i}`, faceId: `n${i}-f`, image: faceApiSample(((i % 6) + 1) as 1) }));
        expected.add(`n${i}`);
      }
    })();
    let recognitions = 0;
    const failures: string[] = [];
    const probe = seeded[39]!;
    const reads = (async () => {
      while (!stop.now) {
        try {
          const r = await client.searchEmbedding({ companyId: company, embedding: Array.from(probe.embedding) });
          if (r.userId !== probe.userId) failures.push(`recognised ${r.userId}`);
          recognitions++;
        } catch (e) {
          failures.push(`${(e as FaceError).code}: ${(e as FaceError).message}`);
          await Bun.sleep(50);
        }
      }
    })();
    // the move starts while the writes run
    await Bun.sleep(150);
    const report = await moveCompany({ nc, map, companyId: company, to: "s2" });
    await Promise.all([deletes, enrolls]);
    stop.now = true;
    await reads;

    expect(report).toMatchObject({ moved: true, from: "s1", to: "s2", fencedWorkers: ["a1"] });
    expect(failures).toEqual([]);
    expect(recognitions).toBeGreaterThan(0);
    // the writes did race the move: some were refused as read-only (then retried), none was lost
    console.log(`move: read-only ${Math.round(report.readOnlyMs)} ms, ${refusedWrites.length} writes refused and retried, ${recognitions} recognitions`);
    expect(refusedWrites.length).toBeGreaterThan(0);
    expect(refusedWrites.every((m) => m.includes("is moving from shard s1 to s2"))).toBe(true);
    expect(map.placement(company)).toEqual({ shard: "s2", since: report.since });
    // through the gateway (reads wait for the move's revision on s2: read-your-writes)
    const users = await client.listUsers({ companyId: company, limit: 1000 });
    expect(users.users.map((u) => u.userId).sort()).toEqual([...expected].sort());
    expect(client.shard("s2").lastWorker).toBe("b1");
    // the source holds nothing of it any more; the target's worker has it all
    const left = await KvGalleryStore.open({ nc, bucket: shardBucket("s1") });
    expect(await (async () => {
      const kv = (left as unknown as { kv: { keys(f: string): Promise<AsyncIterable<string>> } }).kv;
      const out: string[] = [];
      for await (const k of await kv.keys(`u.${Buffer.from(company).toString("base64url")}.>`)) out.push(k);
      return out;
    })()).toEqual([]);
    left.close();
    await Bun.sleep(100);
    expect(gallery(a).stats().perCompany[company]).toBeUndefined();
    expect(gallery(b).stats().perCompany[company]?.users).toBe(expected.size);
    // deleted users stay deleted on the new shard
    for (let i = 0; i < 20; i++) expect((await client.getUserFaces({ companyId: company, userId: `p${i}` })).faceIds).toEqual([]);
    // writes work again, on s2
    const more = await client.createUser({ companyId: company, userId: "after", faceId: "after-f", image: faceApiSample(4) });
    expect(client.shard("s2").lastWorker).toBe("b1");
    expect(more.userId).toBe("after");
    // a stale request at the old shard's worker is refused, naming the new shard
    const stale = await client.shard("s1").listUsers({ companyId: company }).catch((e: FaceError) => e);
    expect((stale as FaceError).message).toContain("is on shard s2, not s1");
    // a second move back works the same way
    const back = await moveCompany({ nc, map, companyId: company, to: "s1" });
    expect(back).toMatchObject({ moved: true, from: "s2", to: "s1", users: expected.size + 1 });
    expect((await client.listUsers({ companyId: company, limit: 1000 })).total).toBe(expected.size + 1);
  }, 120_000);
});
