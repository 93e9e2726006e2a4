/**
 * searchEmbedding and recognizeFaces' returnEmbeddings over NATS: a real nats-server, a FaceWorker
 * (KV store, real engine) and FaceClient give what the embedded service gives, errors included.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { FaceError } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { FaceClient } from "../../../lib/nats/client.ts";
import { startFaceWorker, type RunningWorker } from "../../../server/compose/worker.ts";
import { faceApiSample } from "../../helpers/datasets.ts";
import { startTestNatsServer, type NatsServer } from "../../helpers/nats-server.ts";
import { describeWithTools } from "../../helpers/tools.ts";

let server: NatsServer;
let engine: FaceEngine;
let client: FaceClient;
let worker: RunningWorker;

describeWithTools(["nats-server"], "searchEmbedding over NATS", () => {
  beforeAll(async () => {
    server = await startTestNatsServer();
    engine = await createEngine({ ortThreads: 1 });
    worker = await startFaceWorker({ engine, env: { NATS_URL: server.url }, service: { workerId: "sw1" }, nats: { concurrency: 2 }, log: () => {} });
    client = await FaceClient.connect({ servers: server.url, timeoutMs: 10_000 });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await worker?.close().catch(() => undefined);
    await engine?.dispose();
    await server?.cleanup();
  });

  test("enroll, recognize with embeddings, search with them: the worker's decision, threshold and best face", async () => {
    await client.createCompany({ companyId: "acme" });
    const enrolled = await client.createUser({ companyId: "acme", userId: "alice", faceId: "a1", image: faceApiSample(1) });
    const r = await client.recognizeFaces({ companyId: "acme", image: faceApiSample(1), returnEmbeddings: true }, { minRevision: enrolled.revision });
    expect(typeof r.threshold).toBe("number");
    const alice = r.faces.find((f) => f.userId === "alice")!;
    expect(alice.embedding).toHaveLength(512);
    expect(alice.threshold).toBe(r.threshold!);
    const s = await client.searchEmbedding({ companyId: "acme", embedding: alice.embedding!, topK: 2 });
    expect(client.lastWorker).toBe("sw1");
    expect(s).toMatchObject({ userId: "alice", faceId: "a1", threshold: r.threshold });
    expect(s.confidence).toBeCloseTo(alice.confidence, 5);
    expect(s.matches).toEqual([{ userId: "alice", faceId: "a1", confidence: s.confidence }]);
    // the same as the worker's own service answers
    expect(await worker.service.searchEmbedding({ companyId: "acme", embedding: alice.embedding!, topK: 2 })).toEqual(s);
  }, 60_000);

  test("operating points over NATS: set through one worker, replayed by a late one, gone with the company", async () => {
    await client.createCompany({ companyId: "op" });
    const set = await client.setOperatingPoint({ companyId: "op", threshold: 0.61 });
    expect(set).toMatchObject({ companyId: "op", source: "company_threshold", threshold: 0.61, settings: { threshold: 0.61 } });
    expect((await client.getOperatingPoint({ companyId: "op" }, { minRevision: set.revision })).threshold).toBe(0.61);
    const late = await startFaceWorker({ engine, env: { NATS_URL: server.url }, service: { workerId: "sw2" }, nats: { concurrency: 1 }, log: () => {} });
    try {
      await late.service.gallery.waitForRevision(set.revision!, 5000);
      expect(late.service.operatingPoint("op")).toMatchObject({ source: "company_threshold", threshold: 0.61 });
      const target = await client.setOperatingPoint({ companyId: "op", fpirTarget: 0.002 });
      await late.service.gallery.waitForRevision(target.revision!, 5000);
      expect(late.service.operatingPoint("op")).toMatchObject({ source: "company_fpir_target", fpirTarget: 0.002 });
      const del = await client.deleteCompany({ companyId: "op" });
      const again = await client.createCompany({ companyId: "op" });
      for (const w of [worker, late]) {
        await w.service.gallery.waitForRevision(again.revision!, 5000);
        expect(w.service.operatingPoint("op").source).toBe("fpir_target");
      }
      expect(del.deleted).toBe(true);
      const code = await client.setOperatingPoint({ companyId: "nobody", threshold: 0.5 }).then(
        () => "ok",
        (e: unknown) => (e as FaceError).code,
      );
      expect(code).toBe("COMPANY_NOT_FOUND");
    } finally {
      await late.close();
    }
  }, 60_000);

  test("names over NATS: given at enroll, changed by updateUser, replayed by a late worker from the KV bucket, answered by recognize and search", async () => {
    await client.createCompany({ companyId: "named" });
    const enrolled = await client.createUser({ companyId: "named", userId: "ada", faceId: "1", image: faceApiSample(1), name: "Ada Lovelace", metadata: { dept: "R&D" } });
    expect(enrolled.name).toBe("Ada Lovelace");
    const renamed = await client.updateUser({ companyId: "named", userId: "ada", name: "Ada King" });
    expect(renamed).toMatchObject({ userId: "ada", name: "Ada King", metadata: { dept: "R&D" }, faceIds: ["1"] });
    const r = await client.recognizeFaces({ companyId: "named", image: faceApiSample(1), returnEmbeddings: true }, { minRevision: renamed.revision });
    const ada = r.faces.find((f) => f.userId === "ada")!;
    expect(ada.name).toBe("Ada King");
    expect((await client.searchEmbedding({ companyId: "named", embedding: ada.embedding! })).name).toBe("Ada King");
    // a worker started now reads the user key, the faces, then the later profile key
    const late = await startFaceWorker({ engine, env: { NATS_URL: server.url }, service: { workerId: "sw3" }, nats: { concurrency: 1 }, log: () => {} });
    try {
      await late.service.gallery.waitForRevision(renamed.revision!, 5000);
      expect(await late.service.getUser({ companyId: "named", userId: "ada" })).toMatchObject({ name: "Ada King", faceIds: ["1"] });
    } finally {
      await late.close();
    }
    expect((await client.listUsers({ companyId: "named" })).users).toEqual([{ userId: "ada", name: "Ada King", faces: 1 }]);
  }, 60_000);

  test("errors keep their codes across NATS: unknown company, another model (dimension or id), non-finite values (refused by the client)", async () => {
    const code = async (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: unknown) => (e instanceof FaceError ? e.code : String(e)),
      );
    const v = new Array(512).fill(0.04);
    expect(await code(client.searchEmbedding({ companyId: "nobody", embedding: v }))).toBe("COMPANY_NOT_FOUND");
    expect(await code(client.searchEmbedding({ companyId: "acme", embedding: v.slice(0, 128) }))).toBe("MODEL_MISMATCH");
    // a vector of another model, declared as such, is refused by the worker too (never searched)
    expect(await code(client.searchEmbedding({ companyId: "acme", embedding: v, model: "w600k_r50@4c06341c" }))).toBe("MODEL_MISMATCH");
    expect(await code(client.searchEmbedding({ companyId: "acme", embedding: [...v.slice(1), Number.NaN] }))).toBe("INVALID_ARGUMENT");
    expect(await code(client.searchEmbedding({ companyId: "acme", embedding: v, topK: 0 }))).toBe("INVALID_ARGUMENT");
  }, 30_000);
});
