/**
 * Several FaceWorkers (in-process, sharing one loaded engine) behind a real nats-server, driven by
 * FaceClient: the old system's scenario, fanout, load balancing, catch-up, concurrent creates,
 * read-your-writes, and every error kind the client raises.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "@nats-io/transport-node";
import { FaceError, TimeoutError, UnavailableError, type ErrorCode } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { FaceClient } from "../../../lib/nats/client.ts";
import { startFaceWorker, type RunningWorker } from "../../../server/compose/worker.ts";
import { describeDatasets, listDataset, readDataset } from "../../helpers/datasets.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

let server: NatsServer;
let engine: FaceEngine;
let client: FaceClient;
const workers: RunningWorker[] = [];
const quiet = () => {};

const lfw = (name: string, i: number) => readDataset("lfw-dev/images", name, listDataset("lfw-dev/images", name)[i]!);

async function startWorker(id: string, nats: Record<string, unknown> = {}): Promise<RunningWorker> {
  const w = await startFaceWorker({
    engine,
    env: { NATS_URL: server.url },
    service: { workerId: id },
    nats: { concurrency: 2, ...nats },
    log: quiet,
  });
  workers.push(w);
  return w;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, cls: abstract new (...args: never[]) => FaceError = FaceError): Promise<FaceError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    expect((e as FaceError).code).toBe(code);
    return e as FaceError;
  }
  throw new Error(`expected ${code}, got a result`);
}

describeWithTools(["nats-server"], "NATS cluster (in-process workers, real engine and nats-server)", () => {
  beforeAll(async () => {
    server = await startTestNatsServer();
    engine = await createEngine();
    client = await FaceClient.connect({ servers: server.url, timeoutMs: 5000 });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    for (const w of workers.splice(0)) await w.close().catch(() => undefined);
    await engine?.dispose();
    await server?.cleanup();
  });

  test("old system's scenario: enrol through one worker, recognise through others; fanout; late worker catches up", async () => {
    const w1 = await startWorker("w1");
    await client.createCompany({ companyId: "acme" });
    const enrolled = await client.createUser({ companyId: "acme", userId: "ricardo", faceId: "f1", image: lfw("Ricardo_Lagos", 0) });
    expect(client.lastWorker).toBe("w1");
    expect(enrolled.embedding.length).toBe(512);
    expect(enrolled.revision).toBeGreaterThan(0);
    await client.createUser({ companyId: "acme", userId: "paul", faceId: "f1", image: lfw("Paul_Wolfowitz", 0) });
    const lastWrite = client.lastRevision;

    // Two workers started after the writes replay the bucket.
    const w2 = await startWorker("w2");
    const w3 = await startWorker("w3");
    for (const w of [w1, w2, w3]) {
      expect(w.service.gallery.revision).toBeGreaterThanOrEqual(lastWrite);
      expect(w.service.gallery.getUserFaces("acme", "ricardo")).toEqual(["f1"]);
    }
    // The enrolling worker leaves: recognition is served by the others.
    await w1.close();
    const seen = new Set<string>();
    for (let i = 1; i <= 4; i++) {
      const r = await client.recognizeFace({ companyId: "acme", image: lfw("Ricardo_Lagos", i) });
      expect(r.userId).toBe("ricardo");
      expect(r.confidence).toBeGreaterThan(0.4);
      seen.add(client.lastWorker!);
    }
    expect(seen.has("w1")).toBe(false);
    const other = await client.recognizeFace({ companyId: "acme", image: lfw("Paul_Wolfowitz", 1) });
    expect(other.userId).toBe("paul");

    // Fanout: a change made through any worker reaches all of them, in order.
    const w4 = await startWorker("w4");
    const add = await client.addFace({ companyId: "acme", userId: "ricardo", faceId: "f2", image: lfw("Ricardo_Lagos", 5) });
    const del = await client.deleteUser({ companyId: "acme", userId: "paul" });
    expect(del.deleted).toBe(true);
    const live = [w2, w3, w4];
    for (const w of live) {
      await w.service.gallery.waitForRevision(del.revision!, 5000);
      expect(w.service.gallery.getUserFaces("acme", "ricardo")).toEqual(["f1", "f2"]);
      expect(w.service.gallery.hasUser("acme", "paul")).toBe(false);
    }
    expect(add.revision).toBeLessThan(del.revision!);

    // Aggregated stats/health see every live worker at the same revision.
    const stats = await client.getCacheStats();
    const listed = (stats.cacheInfo.workers as Array<{ workerId: string; revision: number }>).map((w) => w.workerId);
    expect(listed).toEqual(["w2", "w3", "w4"]);
    expect(stats.cacheInfo.workersSeen).toBe(3);
    expect(stats.usersCount).toBe(1);
    expect(stats.facesCount).toBe(2);
    expect(stats.revision).toBe(del.revision!);
    const health = await client.healthCheck();
    expect(health.status).toBe("ok");
    expect(health.store.kind).toBe("nats-kv");
    expect(health.store.behind).toEqual([]);
  }, 60_000);

  test("load balancing: concurrent requests spread over the queue group", async () => {
    const before = new Map((await client.workers()).map((w) => [w.workerId, w.processed]));
    expect(before.size).toBe(3);
    const image = lfw("Ricardo_Lagos", 2);
    const results = await Promise.all(Array.from({ length: 30 }, () => client.recognizeFace({ companyId: "acme", image })));
    expect(results.every((r) => r.userId === "ricardo")).toBe(true);
    const after = await client.workers();
    const served = after.map((w) => w.processed - (before.get(w.workerId) ?? 0));
    // Stats requests are not counted in `processed`; each worker took a share of the 30.
    expect(served.reduce((a, b) => a + b, 0)).toBe(30);
    for (const n of served) expect(n).toBeGreaterThan(0);
  }, 60_000);

  test("least-loaded routing: each request goes straight to the worker with the fewest in flight", async () => {
    const c = await FaceClient.connect({ servers: server.url });
    const spy = await connect({ servers: server.url });
    let direct = 0;
    spy.subscribe("facegate.v1.w.>", { callback: () => void direct++ });
    await spy.flush();
    const image = lfw("Ricardo_Lagos", 2);
    await c.recognizeFace({ companyId: "acme", image }); // learns the workers in the background
    await Bun.sleep(400);
    direct = 0;
    const before = new Map((await c.workers()).map((w) => [w.workerId, w.processed]));
    expect(before.size).toBe(3);
    // 6 in flight over 3 workers, 30 requests: join-the-shortest-queue keeps 2 on each.
    let next = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (next++ < 30) expect((await c.recognizeFace({ companyId: "acme", image })).userId).toBe("ricardo");
      }),
    );
    const served = (await c.workers()).map((w) => w.processed - (before.get(w.workerId) ?? 0));
    await spy.flush();
    expect(direct).toBe(30);
    expect(served.reduce((a, b) => a + b, 0)).toBe(30);
    // Random routing (the queue group) gives splits like 14/9/7; here every worker takes 10 ± 2.
    for (const n of served) expect(Math.abs(n - 10)).toBeLessThanOrEqual(2);
    // The routing table is refreshed with brief stats: counters and the direct subject, no gallery statistics.
    const brief = await c.workerStats(undefined, true);
    expect(brief.map((w) => [Boolean(w.direct), w.cache, w.health])).toEqual([[true, undefined, undefined], [true, undefined, undefined], [true, undefined, undefined]]);
    await spy.close();
    await c.close();
  }, 60_000);

  test("WORKER_CONCURRENCY bounds the requests a worker runs at once; the rest queue and complete", async () => {
    const prefix = "conc.v1";
    const w = await startFaceWorker({
      engine,
      env: { NATS_URL: server.url },
      service: { workerId: "conc" },
      nats: { concurrency: 1, subjectPrefix: prefix },
      log: quiet,
    });
    workers.push(w);
    const c = await FaceClient.connect({ servers: server.url, subjectPrefix: prefix, retries: 5, backoffMs: 50 });
    let maxInFlight = 0;
    let maxBacklog = 0;
    const sampler = setInterval(() => {
      const s = w.worker.stats();
      maxInFlight = Math.max(maxInFlight, s.inFlight);
      maxBacklog = Math.max(maxBacklog, s.backlog);
    }, 2);
    const image = lfw("Paul_Wolfowitz", 3);
    const results = await Promise.all(Array.from({ length: 8 }, () => c.detectFaces({ image })));
    clearInterval(sampler);
    expect(results.every((r) => r.facesCount === 1)).toBe(true);
    expect(maxInFlight).toBe(1);
    expect(maxBacklog).toBeGreaterThan(0);
    await c.close();
    await w.close();
  }, 30_000);

  test("concurrent create of the same user through several workers: exactly one wins", async () => {
    const image = lfw("Jennifer_Lopez", 0);
    const creates = async () => new Map((await client.workerStats()).map((w) => [w.workerId, w.operations.create_user?.count ?? 0]));
    const before = await creates();
    const answeredBy = new Set<string>();
    for (let round = 0; round < 3; round++) {
      const clients = await Promise.all([0, 1, 2].map(() => FaceClient.connect({ servers: server.url })));
      const outcomes = await Promise.allSettled(
        clients.map((c) => c.createUser({ companyId: "acme", userId: `jlo${round}`, faceId: "f1", image }).then((r) => (answeredBy.add(c.lastWorker!), r))),
      );
      const ok = outcomes.filter((o) => o.status === "fulfilled");
      const lost = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
      expect(ok.length).toBe(1);
      for (const l of lost) expect((l.reason as FaceError).code).toBe("USER_EXISTS");
      await Promise.all(clients.map((c) => c.close()));
    }
    expect(await client.getUserFaces({ companyId: "acme", userId: "jlo2" })).toEqual({ faceIds: ["f1"] });
    // The 9 attempts were served by more than one worker (random routing; all on one: p ≈ 1e-4).
    const after = await creates();
    expect([...after].filter(([id, n]) => n > (before.get(id) ?? 0)).length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test("read-your-writes: a read carrying minRevision waits until the worker has applied it", async () => {
    const reader = await FaceClient.connect({ servers: server.url, readYourWrites: false });
    const current = Math.max(...(await client.workers()).map((w) => w.revision));
    // Ask for a revision nobody has yet, then make the write that produces it.
    const pending = reader.getUserFaces({ companyId: "acme", userId: "late" }, { minRevision: current + 2, timeoutMs: 5000 });
    await Bun.sleep(100);
    await client.createUser({ companyId: "acme", userId: "late", faceId: "f1", image: lfw("Jennifer_Lopez", 1) });
    expect(await pending).toEqual({ faceIds: ["f1"] });
    // A revision that never comes: the worker answers TIMEOUT within the call's budget.
    await rejectsWith(reader.getUserFaces({ companyId: "acme", userId: "late" }, { minRevision: current + 1000, timeoutMs: 300 }), "TIMEOUT", TimeoutError);
    // The writer's own client sends its last revision by itself.
    const w = await client.deleteFace({ companyId: "acme", userId: "late", faceId: "f1" });
    expect(client.lastRevision).toBe(w.revision!);
    expect(await client.getUserFaces({ companyId: "acme", userId: "late" })).toEqual({ faceIds: [] });
    await reader.close();
  }, 30_000);

  test("read-your-writes is per company: a read of one company never waits for another company's writes", async () => {
    const gateway = await FaceClient.connect({ servers: server.url });
    // Watch what the gateway sends (a plain subscription sees every request next to the queue group).
    const spy = await connect({ servers: server.url });
    const seen: Array<{ companyId?: string; minRevision?: number }> = [];
    // Every subject: least-loaded routing may send the read to a worker's own subject (facegate.v1.w.<id>.*).
    spy.subscribe("facegate.v1.>", {
      callback: (_e, m) => {
        if (!m.subject.endsWith(".get_user_faces")) return;
        const env = JSON.parse(new TextDecoder().decode(m.data)) as { args: { companyId: string }; opts?: { minRevision?: number } };
        seen.push({ companyId: env.args.companyId, minRevision: env.opts?.minRevision });
      },
    });
    await spy.flush();
    await gateway.createCompany({ companyId: "ryw-a" });
    const b = await gateway.createCompany({ companyId: "ryw-b" });
    const a = await gateway.createUser({ companyId: "ryw-a", userId: "u", faceId: "f", image: lfw("Zhu_Rongji", 0) });
    expect(a.revision!).toBeGreaterThan(b.revision!);
    expect(await gateway.getUserFaces({ companyId: "ryw-a", userId: "u" })).toEqual({ faceIds: ["f"] });
    expect(await gateway.getUserFaces({ companyId: "ryw-b", userId: "u" })).toEqual({ faceIds: [] });
    await gateway.getUserFaces({ companyId: "ryw-c", userId: "u" }).catch(() => undefined);
    await spy.flush();
    await Bun.sleep(50);
    expect(seen).toEqual([
      { companyId: "ryw-a", minRevision: a.revision! },
      { companyId: "ryw-b", minRevision: b.revision! },
      { companyId: "ryw-c", minRevision: undefined },
    ]);
    expect(gateway.lastRevision).toBe(a.revision!);
    await spy.close();
    await gateway.close();
  }, 30_000);

  test("health is answered from a cache of about a second: one fan-out to the workers, not one per call", async () => {
    const gateway = await FaceClient.connect({ servers: server.url });
    const spy = await connect({ servers: server.url });
    let fanouts = 0;
    spy.subscribe("facegate.v1.stats", { callback: () => void fanouts++ });
    await spy.flush();
    const first = await gateway.healthCheck();
    const again = await Promise.all(Array.from({ length: 50 }, () => gateway.healthCheck()));
    expect(again.every((h) => h.status === first.status)).toBe(true);
    await spy.flush();
    expect(fanouts).toBe(1);
    await Bun.sleep(1100);
    await gateway.healthCheck();
    await spy.flush();
    expect(fanouts).toBe(2);
    await spy.close();
    await gateway.close();
  }, 30_000);

  test("error kinds: worker codes, validation before sending, timeouts, unavailability, size limit", async () => {
    // FaceError codes from the worker.
    await rejectsWith(client.createUser({ companyId: "nope", userId: "u", faceId: "f", image: lfw("Ricardo_Lagos", 0) }), "COMPANY_NOT_FOUND");
    await rejectsWith(client.createUser({ companyId: "acme", userId: "ricardo", faceId: "f9", image: lfw("Ricardo_Lagos", 0) }), "USER_EXISTS");
    await rejectsWith(client.addFace({ companyId: "acme", userId: "ghost", faceId: "f", image: lfw("Ricardo_Lagos", 0) }), "USER_NOT_FOUND");
    await rejectsWith(client.addFace({ companyId: "acme", userId: "ricardo", faceId: "f1", image: lfw("Ricardo_Lagos", 0) }), "FACE_EXISTS");
    await rejectsWith(client.generateEmbedding({ image: readDataset("scenes/noface", "opencv_HappyFish.jpg") }), "NO_FACE");
    await rejectsWith(client.detectFaces({ image: new Uint8Array([1, 2, 3, 4, 5]) }), "INVALID_IMAGE");
    // base64 strings go through as they are.
    const b64 = Buffer.from(lfw("Ricardo_Lagos", 3)).toString("base64");
    expect((await client.recognizeFace({ companyId: "acme", image: b64 })).userId).toBe("ricardo");

    // Validation before sending: nothing reaches a worker (its counters do not move).
    const before = (await client.workers()).reduce((n, w) => n + w.processed + w.failed, 0);
    await rejectsWith(client.createCompany({ companyId: "" }), "INVALID_ARGUMENT");
    await rejectsWith(client.recognizeFace({ companyId: "acme", image: "" }), "INVALID_ARGUMENT");
    await rejectsWith(client.compare({ queryEmbedding: [], referenceEmbeddings: [] }), "INVALID_ARGUMENT");
    await rejectsWith(client.getUserFaces({ companyId: "acme", userId: "u" }, { minRevision: -1 }), "INVALID_ARGUMENT");
    const after = (await client.workers()).reduce((n, w) => n + w.processed + w.failed, 0);
    expect(after).toBe(before);

    // Larger than the server's max_payload: refused before sending.
    await rejectsWith(client.detectFaces({ image: new Uint8Array(11 * 1024 * 1024) }), "IMAGE_TOO_LARGE");

    // Worker processing timeout (WORKER_TIMEOUT_MS) → TimeoutError with the worker's TIMEOUT code.
    const slowPrefix = "slow.v1";
    const slow = await startFaceWorker({
      engine,
      env: { NATS_URL: server.url },
      service: { workerId: "slow" },
      nats: { workerTimeoutMs: 100, subjectPrefix: slowPrefix },
      log: quiet,
    });
    workers.push(slow);
    const slowClient = await FaceClient.connect({ servers: server.url, subjectPrefix: slowPrefix, retries: 0, timeoutMs: 10_000 });
    // Work that cannot finish: a revision nobody writes (engine work got too fast to rely on).
    const t0 = performance.now();
    const e = await rejectsWith(slowClient.getUserFaces({ companyId: "acme", userId: "ricardo" }, { minRevision: 1e9 }), "TIMEOUT", TimeoutError);
    // The worker's 100 ms budget answered, not the client's 10 s timeout.
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(e.message).toMatch(/slow|not applied within 100 ms/);
    await slowClient.close();
    await slow.close();

    // Client-side timeout: a responder that never answers (a hung worker).
    const hungPrefix = "hung.v1";
    const nc = await connect({ servers: server.url });
    let received = 0;
    nc.subscribe(`${hungPrefix}.detect_faces`, { queue: "facegate", callback: () => void received++ });
    await nc.flush();
    const hungClient = await FaceClient.connect({ servers: server.url, subjectPrefix: hungPrefix, timeoutMs: 200, retries: 2, backoffMs: 10 });
    await rejectsWith(hungClient.detectFaces({ image: lfw("Ricardo_Lagos", 0) }), "TIMEOUT", TimeoutError);
    expect(received).toBe(3); // idempotent: tried 1 + 2 retries
    // A createUser that timed out is repeated too, with the same idempotency key each time (the
    // worker answers a repeat of a write that landed with its first answer).
    const keys: Array<string | undefined> = [];
    nc.subscribe(`${hungPrefix}.create_user`, {
      queue: "facegate",
      callback: (_e, m) => {
        received++;
        keys.push(m.headers?.get("Facegate-Idempotency-Key"));
      },
    });
    await nc.flush();
    received = 0;
    await rejectsWith(hungClient.createUser({ companyId: "acme", userId: "x", faceId: "f", image: lfw("Ricardo_Lagos", 0) }), "TIMEOUT", TimeoutError);
    expect(received).toBe(3);
    expect(new Set(keys).size).toBe(1);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    await hungClient.close();
    await nc.close();

    // No responders → UnavailableError (retried with backoff for every operation, then raised).
    const nobody = await FaceClient.connect({ servers: server.url, subjectPrefix: "nobody.v1", retries: 1, backoffMs: 10 });
    await rejectsWith(nobody.createUser({ companyId: "a", userId: "b", faceId: "c", image: lfw("Ricardo_Lagos", 0) }), "UNAVAILABLE", UnavailableError);
    await rejectsWith(nobody.getCacheStats(), "UNAVAILABLE", UnavailableError);
    await rejectsWith(nobody.healthCheck({ timeoutMs: 200 }), "UNAVAILABLE", UnavailableError);
    await nobody.close();
    // Closed client, and a server that is not there.
    await rejectsWith(nobody.detectFaces({ image: "AAAA" }), "UNAVAILABLE", UnavailableError);
    await rejectsWith(FaceClient.connect({ servers: "nats://127.0.0.1:1" }), "UNAVAILABLE", UnavailableError);
  }, 60_000);

  test("no responders is retried: a worker that appears during the backoff serves the call", async () => {
    const prefix = "late.v1";
    const c = await FaceClient.connect({ servers: server.url, subjectPrefix: prefix, retries: 6, backoffMs: 200, maxBackoffMs: 800 });
    const call = c.detectFaces({ image: lfw("Paul_Wolfowitz", 2) });
    await Bun.sleep(150);
    const w = await startFaceWorker({ engine, env: { NATS_URL: server.url }, service: { workerId: "late" }, nats: { subjectPrefix: prefix }, log: quiet });
    workers.push(w);
    expect((await call).facesCount).toBe(1);
    expect(c.lastWorker).toBe("late");
    await c.close();
    await w.close();
  }, 30_000);
}, describeDatasets);
