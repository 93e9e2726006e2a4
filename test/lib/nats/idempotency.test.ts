/**
 * Idempotency keys over NATS (real nats-server, two in-process workers, the real engine): the
 * FaceClient sends a key with every write (Facegate-Idempotency-Key) and may now retry
 * enrollments; whichever worker a retry reaches answers with the first attempt's answer, and a
 * duplicate that arrives while the first still runs waits for it. Records live in their own KV
 * bucket with a TTL.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { FaceClient } from "../../../lib/nats/client.ts";
import { startFaceWorker, type RunningWorker } from "../../../server/compose/worker.ts";
import { faceApiSample } from "../../helpers/datasets.ts";
import { useNatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";
import { codeOf } from "../../helpers/errors.ts";

describeWithTools(["nats-server"], "idempotency keys over NATS", () => {
  const nats = useNatsServer();
  let engine: FaceEngine;
  let client: FaceClient;
  const workers: RunningWorker[] = [];
  const photo = faceApiSample(1);

  beforeAll(async () => {
    engine = await createEngine({ ortThreads: 1 });
    for (const id of ["i1", "i2"]) {
      workers.push(
        await startFaceWorker({ engine, env: { NATS_URL: nats.url }, service: { workerId: id }, nats: { concurrency: 1, idempotencyTtlMs: 3_600_000 }, log: () => {} }),
      );
    }
    client = await FaceClient.connect({ servers: nats.url, timeoutMs: 10_000, env: {} });
    await client.createCompany({ companyId: "acme" });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    for (const w of workers) await w.close().catch(() => undefined);
    await engine?.dispose();
  });

  test("a retried enrollment and delete reach any worker and get their first answers", async () => {
    const req = { companyId: "acme", userId: "ann", faceId: "f1", image: photo };
    const first = await client.createUser(req, { idempotencyKey: "enroll-ann" });
    const seen = new Set<string | null>([client.lastWorker]);
    for (let i = 0; i < 6; i++) {
      expect(await client.createUser(req, { idempotencyKey: "enroll-ann" })).toEqual(first);
      seen.add(client.lastWorker);
    }
    expect(seen.size).toBe(2); // both workers answered a retry
    expect(await codeOf(client.createUser(req, { idempotencyKey: "enroll-ann-2" }))).toBe("USER_EXISTS");
    expect(await codeOf(client.createUser({ ...req, userId: "bob" }, { idempotencyKey: "enroll-ann" }))).toBe("IDEMPOTENCY_KEY_REUSED");

    expect((await client.deleteUser({ companyId: "acme", userId: "ann" }, { idempotencyKey: "del-ann" })).deleted).toBe(true);
    for (let i = 0; i < 4; i++) expect((await client.deleteUser({ companyId: "acme", userId: "ann" }, { idempotencyKey: "del-ann" })).deleted).toBe(true);
    expect((await client.deleteUser({ companyId: "acme", userId: "ann" })).deleted).toBe(false);
  }, 60_000);

  test("the client's own retry after a timeout: the enrollment answers 201, not TIMEOUT or USER_EXISTS", async () => {
    // Attempts time out long before the enrollment ends; each retry finds it running and waits.
    const impatient = await FaceClient.connect({ servers: nats.url, timeoutMs: 40, retries: 60, backoffMs: 20, maxBackoffMs: 100, env: {} });
    try {
      const r = await impatient.createUser({ companyId: "acme", userId: "cy", faceId: "f1", image: photo });
      expect([r.userId, r.faceId, r.embedding.length]).toEqual(["cy", "f1", 512]);
      expect(await client.getUserFaces({ companyId: "acme", userId: "cy" })).toEqual({ faceIds: ["f1"] });
    } finally {
      await impatient.close();
    }
  }, 60_000);

  test("concurrent duplicates on two workers: one enrollment, two identical 201s", async () => {
    const other = await FaceClient.connect({ servers: nats.url, timeoutMs: 10_000, routing: "queue", env: {} });
    try {
      const req = { companyId: "acme", userId: "dee", faceId: "f1", image: photo };
      const [a, b] = await Promise.all([client.createUser(req, { idempotencyKey: "dup-dee" }), other.createUser(req, { idempotencyKey: "dup-dee" })]);
      expect(a).toEqual(b);
    } finally {
      await other.close();
    }
  }, 60_000);

  test("records live in their own bucket, with the TTL as its max age", async () => {
    const jsm = await jetstreamManager(workers[0]!.nc);
    const info = await jsm.streams.info("KV_facegate-idempotency");
    expect(info.config.max_age).toBe(3_600_000 * 1_000_000);
    expect(info.state.messages).toBeGreaterThan(0);
  });
});
