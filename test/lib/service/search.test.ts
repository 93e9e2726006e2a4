/**
 * searchEmbedding and recognizeFaces' returnEmbeddings on LocalFaceService (real ONNX engine, memory
 * store): the decision, the threshold reported, top-k with best faces, and every refusal.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cosineSimilarity, type ErrorCode, FaceError, MemoryGalleryStore, normalize } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { LocalFaceService } from "../../../lib/service/mod.ts";
import { faceApiSample } from "../../helpers/datasets.ts";
import { randomUnit, rng } from "../../helpers/vectors.ts";

let engine: FaceEngine;
let service: LocalFaceService;
let model: string;
const rand = rng(9);
const vectors = new Map<string, Float32Array>();

beforeAll(async () => {
  engine = await createEngine({ ortThreads: 1 });
  service = await LocalFaceService.create({ engine, store: new MemoryGalleryStore(), env: {}, config: { workerId: "search-test" }, log: () => {} });
  model = engine.info().modelId;
  await service.createCompany({ companyId: "acme" });
  // the gallery through the store (what enrollment writes), with known vectors: 20 users x 2 faces
  for (let u = 0; u < 20; u++) {
    await service.store.createUser("acme", `u${u}`);
    for (let f = 0; f < 2; f++) {
      const embedding = randomUnit(rand, 512);
      vectors.set(`u${u}/f${f}`, embedding);
      const w = await service.store.addFace({ companyId: "acme", userId: `u${u}`, faceId: `f${f}`, embedding, model });
      await service.gallery.waitForRevision(w.revision, 1000);
    }
  }
});
afterAll(async () => {
  await service?.close();
  await engine?.dispose();
});

async function refused(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FaceError);
  expect((e as FaceError).code).toBe(code);
}

describe("searchEmbedding", () => {
  test("a stored face's own vector finds its user and that face; top-k is best first with each user's best face", async () => {
    const q = vectors.get("u7/f1")!;
    const r = await service.searchEmbedding({ companyId: "acme", embedding: Array.from(q), topK: 5 });
    expect(r.userId).toBe("u7");
    expect(r.faceId).toBe("f1");
    expect(r.confidence).toBeGreaterThan(0.6); // the template of two random faces: about 1/√2
    expect(r.threshold).toBe(service.operatingPoint("acme").threshold);
    expect(r.matches).toHaveLength(5);
    expect(r.matches[0]).toEqual({ userId: "u7", faceId: "f1", confidence: r.confidence });
    for (let i = 1; i < r.matches.length; i++) expect(r.matches[i].confidence).toBeLessThanOrEqual(r.matches[i - 1].confidence);
    // every other match's face is that user's face nearest the query
    for (const m of r.matches.slice(1)) {
      const other = m.faceId === "f0" ? "f1" : "f0";
      expect(cosineSimilarity(q, vectors.get(`${m.userId}/${m.faceId}`)!)).toBeGreaterThanOrEqual(cosineSimilarity(q, vectors.get(`${m.userId}/${other}`)!));
    }
  });

  test("a vector near nobody: userId and faceId null, the score and the matches still reported", async () => {
    const r = await service.searchEmbedding({ companyId: "acme", embedding: Array.from(randomUnit(rand, 512)), topK: 3 });
    expect(r.userId).toBeNull();
    expect(r.faceId).toBeNull();
    expect(r.confidence).toBeLessThan(r.threshold);
    expect(r.matches).toHaveLength(3);
    expect(r.matches[0].confidence).toBe(r.confidence);
  });

  test("the query is normalised (a scaled vector gives the same answer); a per-call threshold overrides", async () => {
    const unit = Array.from(vectors.get("u3/f0")!);
    const q = unit.map((x) => x * 7.5);
    const r = await service.searchEmbedding({ companyId: "acme", embedding: q });
    expect(r.userId).toBe("u3");
    expect(r.faceId).toBe("f0");
    // users are scored by their template, the normalised mean of their two faces
    const mean = normalize(Array.from(unit, (x, j) => x + vectors.get("u3/f1")![j]));
    expect(r.confidence).toBeCloseTo(cosineSimilarity(unit, mean), 5);
    expect((await service.searchEmbedding({ companyId: "acme", embedding: unit })).confidence).toBeCloseTo(r.confidence, 6);
    const strict = await service.searchEmbedding({ companyId: "acme", embedding: q, threshold: 1 });
    expect(strict.threshold).toBe(1);
    expect(strict.userId).toBe(r.confidence >= 1 ? "u3" : null);
  });

  test("refusals: unknown company, wrong dimension or model (MODEL_MISMATCH), zero vector, non-finite numbers, bad top-k", async () => {
    const q = Array.from(vectors.get("u1/f0")!);
    await refused(service.searchEmbedding({ companyId: "nobody", embedding: q }), "COMPANY_NOT_FOUND");
    await refused(service.searchEmbedding({ companyId: "acme", embedding: q.slice(0, 511) }), "MODEL_MISMATCH");
    // a 512-d vector of another model: never searched
    await refused(service.searchEmbedding({ companyId: "acme", embedding: q, model: "w600k_r50@0123abcd" }), "MODEL_MISMATCH");
    // and one of an empty company is judged against the engine's model
    await service.createCompany({ companyId: "fresh" });
    await refused(service.searchEmbedding({ companyId: "fresh", embedding: q, model: "w600k_r50@0123abcd" }), "MODEL_MISMATCH");
    expect((await service.searchEmbedding({ companyId: "acme", embedding: q, model: service.engine.info().modelId })).matches.length).toBeGreaterThan(0);
    await refused(service.searchEmbedding({ companyId: "acme", embedding: new Array(512).fill(0) }), "INVALID_ARGUMENT");
    await refused(service.searchEmbedding({ companyId: "acme", embedding: [...q.slice(1), Number.NaN] }), "INVALID_ARGUMENT");
    await refused(service.searchEmbedding({ companyId: "acme", embedding: [...q.slice(1), Number.POSITIVE_INFINITY] }), "INVALID_ARGUMENT");
    await refused(service.searchEmbedding({ companyId: "acme", embedding: q, topK: 0 }), "INVALID_ARGUMENT");
    await refused(service.searchEmbedding({ companyId: "acme", embedding: q, topK: 1.5 }), "INVALID_ARGUMENT");
  });

  test("an existing company without faces: nobody, confidence 0, no matches", async () => {
    await service.createCompany({ companyId: "empty" });
    const r = await service.searchEmbedding({ companyId: "empty", embedding: Array.from(vectors.get("u1/f0")!) });
    expect(r).toEqual({ userId: null, confidence: 0, faceId: null, threshold: service.operatingPoint("empty").threshold, matches: [] });
  });
});

describe("recognizeFaces returnEmbeddings", () => {
  test("each face carries its normalised embedding and the threshold; searching with it gives the same decision", async () => {
    await service.createCompany({ companyId: "photo" });
    const photo = faceApiSample(1);
    const plain = await service.recognizeFaces({ companyId: "photo", image: photo });
    expect(plain.faces.length).toBeGreaterThan(1);
    expect(plain.faces[0].embedding).toBeUndefined();
    // enroll the first face's person from the same photo (largest face), then recognize with embeddings
    const enrolled = await service.createUser({ companyId: "photo", userId: "p", faceId: "f", image: photo });
    const r = await service.recognizeFaces({ companyId: "photo", image: photo, returnEmbeddings: true });
    expect(r.threshold).toBe(service.operatingPoint("photo").threshold);
    for (const face of r.faces) {
      expect(face.embedding).toHaveLength(512);
      expect(Math.hypot(...face.embedding!)).toBeCloseTo(1, 4);
      expect(face.threshold).toBe(r.threshold);
      const s = await service.searchEmbedding({ companyId: "photo", embedding: face.embedding! });
      expect(s.userId).toBe(face.userId);
      expect(s.confidence).toBeCloseTo(face.confidence, 5);
    }
    const self = r.faces.find((f) => f.userId === "p");
    expect(self).toBeDefined();
    expect(cosineSimilarity(self!.embedding!, enrolled.embedding)).toBeGreaterThan(0.99);
  });
});
