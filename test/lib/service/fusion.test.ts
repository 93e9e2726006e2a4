/**
 * Fused recognizers (FACE_EMBEDDERS=fr_feature,mobilefacenet) through LocalFaceService: the fused score and
 * each model's own, model ids, and an old gallery (enrolled with fr_feature alone) served as it is.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { partEmbedding } from "../../../lib/core/mod.ts";
import { MemoryGalleryStore } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { LocalFaceService } from "../../../lib/service/mod.ts";
import { describeDatasets, readDataset } from "../../helpers/datasets.ts";
import { codeOf } from "../../helpers/errors.ts";

setDefaultTimeout(60_000);

const photo = (person: string, n: number) => readDataset("lfw-dev/images", person, `${person}_${String(n).padStart(4, "0")}.jpg`);

describeDatasets("fused recognizers through the service", () => {
  let fused: FaceEngine;
  let single: FaceEngine;
  let mobile: FaceEngine;
  beforeAll(async () => {
    [fused, single, mobile] = await Promise.all([
      createEngine({ embedders: ["fr_feature", "mobilefacenet"], executionProvider: "cpu" }),
      createEngine({ embedders: ["fr_feature"], executionProvider: "cpu" }),
      createEngine({ embedders: ["mobilefacenet"], executionProvider: "cpu" }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([fused, single, mobile].map((e) => e?.dispose()));
  });
  const service = (engine: FaceEngine, store = new MemoryGalleryStore()) => LocalFaceService.create({ engine, store, env: {}, log: () => {} });

  test("the fused embedding holds each model's own embedding, scaled by √weight", async () => {
    const info = fused.info();
    expect(info.modelId).toBe("fr_feature@87aacdfe+mobilefacenet@d8ba40c0~w60");
    expect(info.embeddingDim).toBe(512 + 192);
    expect(info.parts?.map((p) => [p.modelId, p.offset, p.dim, p.weight])).toEqual([
      ["fr_feature@87aacdfe", 0, 512, 0.6],
      ["mobilefacenet@d8ba40c0", 512, 192, expect.closeTo(0.4, 12) as unknown as number],
    ]);
    const image = photo("Aaron_Peirsol", 1);
    const [f] = await fused.analyze(image, { maxFaces: 1 });
    const [a] = await single.analyze(image, { maxFaces: 1 });
    const [b] = await mobile.analyze(image, { maxFaces: 1 });
    const dot = (x: ArrayLike<number>, y: ArrayLike<number>) => Array.from(x).reduce((s, v, i) => s + v * y[i], 0);
    expect(dot(f.embedding, f.embedding)).toBeCloseTo(1, 5);
    expect(dot(partEmbedding(info.parts![0], f.embedding)!, a.embedding)).toBeCloseTo(1, 5);
    expect(dot(partEmbedding(info.parts![1], f.embedding)!, b.embedding)).toBeCloseTo(1, 5);
  });

  test("one fused confidence, each model's score on request; the fused score is 0.6·fr_feature + 0.4·MobileFaceNet", async () => {
    const s = await service(fused);
    try {
      await s.createCompany({ companyId: "acme" });
      const enrolled = await s.createUser({ companyId: "acme", userId: "aaron", faceId: "f1", image: photo("Aaron_Peirsol", 1) });
      expect(enrolled.model).toBe(fused.info().modelId);
      expect(enrolled.embedding.length).toBe(704);
      const r = await s.recognizeFace({ companyId: "acme", image: photo("Aaron_Peirsol", 2), modelScores: true });
      expect(r.userId).toBe("aaron");
      expect(r.modelScores?.map((m) => m.model)).toEqual(["fr_feature@87aacdfe", "mobilefacenet@d8ba40c0"]);
      const [sa, sb] = r.modelScores!.map((m) => m.score);
      expect(r.confidence).toBeCloseTo(0.6 * sa + 0.4 * sb, 4);
      // without asking, no per-model scores
      expect((await s.recognizeFace({ companyId: "acme", image: photo("Aaron_Peirsol", 2) })).modelScores).toBeUndefined();
      // the fused operating point comes from the fused calibration
      expect(s.operatingPoint("acme").source).toBe("fpir_target");
      // a vector of another model is refused, never searched
      const probe = (await s.recognizeFace({ companyId: "acme", image: photo("Aaron_Peirsol", 2), returnEmbeddings: true })).embedding!;
      expect(await codeOf(s.searchEmbedding({ companyId: "acme", embedding: probe, model: "fr_feature@87aacdfe" }))).toBe("MODEL_MISMATCH");
      expect(await codeOf(s.searchEmbedding({ companyId: "acme", embedding: probe.slice(0, 512) }))).toBe("MODEL_MISMATCH");
      const found = await s.searchEmbedding({ companyId: "acme", embedding: probe, model: fused.info().modelId, modelScores: true });
      expect(found.userId).toBe("aaron");
      expect(found.modelScores?.length).toBe(2);
    } finally {
      await s.close();
    }
  });

  test("a gallery enrolled with fr_feature alone is served as it is by the fused engine, with fr_feature's scores and calibration", async () => {
    const store = new MemoryGalleryStore();
    const old = await service(single, store);
    let before: { confidence: number; threshold: number };
    try {
      await old.createCompany({ companyId: "old" });
      await old.createUser({ companyId: "old", userId: "aaron", faceId: "f1", image: photo("Aaron_Peirsol", 1) });
      const r = await old.recognizeFace({ companyId: "old", image: photo("Aaron_Peirsol", 2) });
      before = { confidence: r.confidence, threshold: old.operatingPoint("old").threshold };
    } finally {
      await old.close();
    }
    const s = await service(fused, store);
    try {
      const r = await s.recognizeFace({ companyId: "old", image: photo("Aaron_Peirsol", 2), modelScores: true });
      expect(r.userId).toBe("aaron");
      expect(r.confidence).toBeCloseTo(before.confidence, 5);
      expect(r.modelScores).toEqual([{ model: "fr_feature@87aacdfe", score: r.confidence }]);
      expect(s.operatingPoint("old").threshold).toBe(before.threshold);
      // a face added to the old company is stored as fr_feature's, so the company stays one model
      const added = await s.addFace({ companyId: "old", userId: "aaron", faceId: "f2", image: photo("Aaron_Peirsol", 3) });
      expect(added.model).toBe("fr_feature@87aacdfe");
      expect(added.embedding.length).toBe(512);
      // the kiosk's path: the fused embedding of a frame, searched in the old company (its fr_feature slice)
      const probe = (await s.recognizeFace({ companyId: "old", image: photo("Aaron_Peirsol", 2), returnEmbeddings: true })).embedding!;
      expect(probe.length).toBe(704);
      expect((await s.searchEmbedding({ companyId: "old", embedding: probe })).userId).toBe("aaron");
      // the path to both embeddings: a company emptied and enrolled again gets fused vectors
      await s.deleteUser({ companyId: "old", userId: "aaron" });
      const again = await s.createUser({ companyId: "old", userId: "aaron", faceId: "f1", image: photo("Aaron_Peirsol", 1) });
      expect(again.model).toBe(fused.info().modelId);
      expect(s.gallery.companyModel("old")).toEqual({ model: fused.info().modelId, dim: 704 });
    } finally {
      await s.close();
    }
  });
});
