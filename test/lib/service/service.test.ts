/**
 * LocalFaceService with the real ONNX engine: every row of ARCHITECTURE §1 and every error code the
 * service raises. This file needs only the face-api sample photos (a dev dependency); the dataset
 * tests are in service-datasets.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { type BBox, bboxIou as iou, type ErrorCode, FaceError, MemoryGalleryStore } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { DEFAULT_PAIR_THRESHOLD, LocalFaceService, SqliteGalleryStore } from "../../../lib/service/mod.ts";
import { faceApiSample } from "../../helpers/datasets.ts";

let engine: FaceEngine;
let service: LocalFaceService;
const dir = mkdtempSync(join(tmpdir(), "facegate-service-"));
const quiet = () => {};

/** Expects the promise to reject with a FaceError of `code`. */
async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<FaceError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(FaceError);
    expect((error as FaceError).code).toBe(code);
    return error as FaceError;
  }
  throw new Error(`expected ${code}, got a result`);
}

/** A single-face JPEG cropped (with margin) from a group photo. */
async function crop(photo: Uint8Array, [x, y, w, h]: BBox): Promise<Uint8Array> {
  const meta = await sharp(photo).metadata();
  const left = Math.max(0, Math.round(x - w * 0.6));
  const top = Math.max(0, Math.round(y - h * 0.6));
  const width = Math.min(meta.width! - left, Math.round(w * 2.2));
  const height = Math.min(meta.height! - top, Math.round(h * 2.2));
  return new Uint8Array(await sharp(photo).extract({ left, top, width, height }).jpeg().toBuffer());
}

let group1: Uint8Array;
let group2: Uint8Array;
let blank: Uint8Array;
/** Faces of sample1 (engine order) and single-face crops of them. */
let faces1: { bbox: BBox }[];
let crops1: Uint8Array[];

beforeAll(async () => {
  engine = await createEngine();
  service = await LocalFaceService.create({ engine, store: new MemoryGalleryStore(), config: { workerId: "test-worker" }, log: quiet });
  group1 = faceApiSample(1);
  group2 = faceApiSample(2);
  blank = new Uint8Array(await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 120, g: 130, b: 140 } } }).png().toBuffer());
  faces1 = (await engine.detect(group1)).map((f) => ({ bbox: f.bbox }));
  crops1 = await Promise.all(faces1.map((f) => crop(group1, f.bbox)));
});

afterAll(async () => {
  await service.close();
  await engine.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe("companies", () => {
  test("create_company is idempotent; empty id is INVALID_ARGUMENT", async () => {
    const a = await service.createCompany({ companyId: "c-idem" });
    expect(a).toMatchObject({ companyId: "c-idem", created: true });
    expect(a.revision).toBeGreaterThan(0);
    const b = await service.createCompany({ companyId: "c-idem" });
    expect(b).toMatchObject({ companyId: "c-idem", created: false });
    const e = await rejectsWith(service.createCompany({ companyId: "" }), "INVALID_ARGUMENT");
    expect(e.details).toBeDefined();
    await rejectsWith(service.createCompany({ companyId: "   " }), "INVALID_ARGUMENT");
    await rejectsWith(service.createCompany({ companyId: "x".repeat(129) }), "INVALID_ARGUMENT");
    await rejectsWith(service.createCompany({ companyId: 42 } as never), "INVALID_ARGUMENT");
  });

  test("delete_company cascades to users and faces; false if it did not exist", async () => {
    await service.createCompany({ companyId: "c-del" });
    await service.createUser({ companyId: "c-del", userId: "u", faceId: "f", image: crops1[0] });
    const d = await service.deleteCompany({ companyId: "c-del" });
    expect(d.deleted).toBe(true);
    expect((await service.getUserFaces({ companyId: "c-del", userId: "u" })).faceIds).toEqual([]);
    expect((await service.getCacheStats()).companies["c-del"]).toBeUndefined();
    expect((await service.deleteCompany({ companyId: "c-del" })).deleted).toBe(false);
    // the company can be created again, empty
    expect((await service.createCompany({ companyId: "c-del" })).created).toBe(true);
    expect((await service.recognizeFace({ companyId: "c-del", image: crops1[0] })).userId).toBeNull();
  });
});

describe("enrollment", () => {
  test("create_user returns the 512-d normalised embedding, score, bbox, model and revision", async () => {
    await service.createCompany({ companyId: "acme" });
    const r = await service.createUser({ companyId: "acme", userId: "p0", faceId: "f0", image: crops1[0] });
    expect(r.embedding.length).toBe(512);
    expect(Math.hypot(...r.embedding)).toBeCloseTo(1, 4);
    expect(r.detectionScore).toBeGreaterThan(0.7);
    expect(r.bbox[2]).toBeGreaterThan(50);
    expect(r.model).toBe(engine.info().modelId);
    expect(r.revision).toBeGreaterThan(0);
    expect((await service.getUserFaces({ companyId: "acme", userId: "p0" })).faceIds).toEqual(["f0"]);
    // image as base64 and as a data URL work too
    const b64 = Buffer.from(crops1[1]).toString("base64");
    await service.createUser({ companyId: "acme", userId: "p1", faceId: "f0", image: b64 });
    await service.addFace({ companyId: "acme", userId: "p1", faceId: "f1", image: `data:image/jpeg;base64,${b64}` });
    expect((await service.getUserFaces({ companyId: "acme", userId: "p1" })).faceIds).toEqual(["f0", "f1"]);
  });

  test("create_user errors: COMPANY_NOT_FOUND, USER_EXISTS, NO_FACE, INVALID_IMAGE, INVALID_ARGUMENT", async () => {
    await service.createCompany({ companyId: "errs" });
    await rejectsWith(service.createUser({ companyId: "no-such", userId: "u", faceId: "f", image: crops1[0] }), "COMPANY_NOT_FOUND");
    await service.createUser({ companyId: "errs", userId: "u", faceId: "f", image: crops1[0] });
    await rejectsWith(service.createUser({ companyId: "errs", userId: "u", faceId: "g", image: crops1[1] }), "USER_EXISTS");
    await rejectsWith(service.createUser({ companyId: "errs", userId: "blank", faceId: "f", image: blank }), "NO_FACE");
    await rejectsWith(service.createUser({ companyId: "errs", userId: "junk", faceId: "f", image: new Uint8Array([1, 2, 3, 4, 5]) }), "INVALID_IMAGE");
    await rejectsWith(service.createUser({ companyId: "errs", userId: "", faceId: "f", image: crops1[0] }), "INVALID_ARGUMENT");
    await rejectsWith(service.createUser({ companyId: "errs", userId: "u2", faceId: "f", image: "" }), "INVALID_ARGUMENT");
    // failed enrollments leave nothing behind
    for (const userId of ["blank", "junk"]) expect((await service.getUserFaces({ companyId: "errs", userId })).faceIds).toEqual([]);
    expect((await service.getCacheStats()).companies.errs).toEqual({ users: 1, faces: 1 });
  });

  test("several faces: the largest is enrolled by default; ENROLL_MULTIPLE_FACES=reject refuses", async () => {
    await service.createCompany({ companyId: "multi" });
    const largest = faces1.reduce((a, b) => (a.bbox[2] * a.bbox[3] >= b.bbox[2] * b.bbox[3] ? a : b));
    const r = await service.createUser({ companyId: "multi", userId: "u", faceId: "f", image: group1 });
    expect(iou(r.bbox, largest.bbox)).toBeGreaterThan(0.9);
    const strict = await LocalFaceService.create({
      engine,
      store: new MemoryGalleryStore(),
      config: { enrollMultipleFaces: "reject" },
      log: quiet,
    });
    try {
      await strict.createCompany({ companyId: "c" });
      const e = await rejectsWith(strict.createUser({ companyId: "c", userId: "u", faceId: "f", image: group1 }), "MULTIPLE_FACES");
      expect((e.details as { count: number }).count).toBe(3);
      // a single face is fine
      await strict.createUser({ companyId: "c", userId: "u", faceId: "f", image: crops1[0] });
    } finally {
      await strict.close();
    }
  });

  test("add_face errors: COMPANY_NOT_FOUND, USER_NOT_FOUND, FACE_EXISTS, NO_FACE", async () => {
    await service.createCompany({ companyId: "addf" });
    await service.createUser({ companyId: "addf", userId: "u", faceId: "f", image: crops1[0] });
    await rejectsWith(service.addFace({ companyId: "nope", userId: "u", faceId: "g", image: crops1[0] }), "COMPANY_NOT_FOUND");
    await rejectsWith(service.addFace({ companyId: "addf", userId: "ghost", faceId: "g", image: crops1[0] }), "USER_NOT_FOUND");
    await rejectsWith(service.addFace({ companyId: "addf", userId: "u", faceId: "f", image: crops1[0] }), "FACE_EXISTS");
    await rejectsWith(service.addFace({ companyId: "addf", userId: "u", faceId: "g", image: blank }), "NO_FACE");
    const ok = await service.addFace({ companyId: "addf", userId: "u", faceId: "g", image: crops1[2] });
    expect(ok.faceId).toBe("g");
  });

  test("concurrent create_user of one id: exactly one succeeds, the others get USER_EXISTS", async () => {
    await service.createCompany({ companyId: "race" });
    const results = await Promise.allSettled(
      [0, 1, 2].map((i) => service.createUser({ companyId: "race", userId: "same", faceId: `f${i}`, image: crops1[i] })),
    );
    expect(results.filter((r) => r.status === "fulfilled").length).toBe(1);
    for (const r of results) if (r.status === "rejected") expect((r.reason as FaceError).code).toBe("USER_EXISTS");
  });

  test("MODEL_MISMATCH: a company holding another model's embeddings refuses enrollment and recognition", async () => {
    const store = new MemoryGalleryStore();
    await store.createCompany("old");
    await store.createUser("old", "legacy");
    const v = new Float32Array(512);
    v[0] = 1;
    await store.addFace({ companyId: "old", userId: "legacy", faceId: "f", embedding: v, model: "insightface-buffalo_l" });
    const s = await LocalFaceService.create({ engine, store, log: quiet });
    try {
      await rejectsWith(s.createUser({ companyId: "old", userId: "new", faceId: "f", image: crops1[0] }), "MODEL_MISMATCH");
      await rejectsWith(s.addFace({ companyId: "old", userId: "legacy", faceId: "g", image: crops1[0] }), "MODEL_MISMATCH");
      await rejectsWith(s.recognizeFace({ companyId: "old", image: crops1[0] }), "MODEL_MISMATCH");
      // once the old faces are gone the company takes the engine's model
      await s.deleteFace({ companyId: "old", userId: "legacy", faceId: "f" });
      await s.addFace({ companyId: "old", userId: "legacy", faceId: "g", image: crops1[0] });
    } finally {
      await s.close();
    }
  });
});

describe("deletes and get_user_faces", () => {
  test("delete_user cascades; delete_face false if absent; deleting the last face keeps the user", async () => {
    await service.createCompany({ companyId: "dels" });
    await service.createUser({ companyId: "dels", userId: "u", faceId: "f1", image: crops1[0] });
    await service.addFace({ companyId: "dels", userId: "u", faceId: "f2", image: crops1[0] });
    expect((await service.deleteFace({ companyId: "dels", userId: "u", faceId: "nope" })).deleted).toBe(false);
    expect((await service.deleteFace({ companyId: "dels", userId: "u", faceId: "f1" })).deleted).toBe(true);
    expect((await service.deleteFace({ companyId: "dels", userId: "u", faceId: "f2" })).deleted).toBe(true);
    // the user remains (add_face works, create_user says USER_EXISTS)
    expect((await service.getUserFaces({ companyId: "dels", userId: "u" })).faceIds).toEqual([]);
    await rejectsWith(service.createUser({ companyId: "dels", userId: "u", faceId: "f", image: crops1[0] }), "USER_EXISTS");
    await service.addFace({ companyId: "dels", userId: "u", faceId: "f3", image: crops1[0] });
    expect((await service.deleteUser({ companyId: "dels", userId: "u" })).deleted).toBe(true);
    expect((await service.deleteUser({ companyId: "dels", userId: "u" })).deleted).toBe(false);
    expect((await service.getUserFaces({ companyId: "dels", userId: "u" })).faceIds).toEqual([]);
    expect((await service.recognizeFace({ companyId: "dels", image: crops1[0] })).userId).toBeNull();
    expect((await service.getUserFaces({ companyId: "nope", userId: "u" })).faceIds).toEqual([]);
    await rejectsWith(service.deleteUser({ companyId: "dels", userId: "" }), "INVALID_ARGUMENT");
  });
});

describe("recognition", () => {
  beforeAll(async () => {
    await service.createCompany({ companyId: "rec" });
    for (let i = 0; i < crops1.length; i++) {
      await service.createUser({ companyId: "rec", userId: `person${i}`, faceId: "crop", image: crops1[i] });
    }
  });

  test("recognize_face: an enrolled face in a group photo is recognised, with its bbox", async () => {
    const r = await service.recognizeFace({ companyId: "rec", image: crops1[1] });
    expect(r.userId).toBe("person1");
    expect(r.confidence).toBeGreaterThan(0.9);
    expect(r.faceId).toBe("crop");
    // several faces: the best match is returned (all three are enrolled: the most similar wins)
    const g = await service.recognizeFace({ companyId: "rec", image: group1 });
    expect(g.userId).toMatch(/^person[012]$/);
    const i = Number(g.userId!.slice(6));
    expect(iou(g.bbox!, faces1[i].bbox)).toBeGreaterThan(0.8);
  });

  test("recognize_faces: one result per face, each the right person", async () => {
    const r = await service.recognizeFaces({ companyId: "rec", image: group1 });
    expect(r.faces.length).toBe(3);
    for (const face of r.faces) {
      const i = faces1.findIndex((f) => iou(f.bbox, face.bbox!) > 0.8);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(face.userId).toBe(`person${i}`);
    }
  });

  test("recognize_faces with landmarks: 5 and 68 points inside each face's box; none without the option", async () => {
    const plain = await service.recognizeFaces({ companyId: "rec", image: group1 });
    for (const face of plain.faces) expect(face.landmarks).toBeUndefined();
    const r = await service.recognizeFaces({ companyId: "rec", image: group1, landmarks: true });
    expect(r.faces.length).toBe(3);
    for (const face of r.faces) {
      const [x, y, w, h] = face.bbox!;
      const inside = ([px, py]: [number, number]) => px > x - w * 0.2 && px < x + w * 1.2 && py > y - h * 0.2 && py < y + h * 1.2;
      expect(face.landmarks).toHaveLength(5);
      expect(face.landmarks68).toHaveLength(68);
      expect(face.landmarks!.every(inside)).toBe(true);
      expect(face.landmarks68!.every(inside)).toBe(true);
      // the 68 points' eye centres are the 5-point eyes (same model output)
      const eye = face.landmarks68!.slice(36, 42).reduce((a, p) => [a[0] + p[0] / 6, a[1] + p[1] / 6], [0, 0]);
      expect(Math.hypot(eye[0] - face.landmarks![0][0], eye[1] - face.landmarks![0][1])).toBeLessThan(w * 0.05);
    }
  });

  test("no face or unknown company → {userId: null, confidence: 0, bbox: null}", async () => {
    const threshold = service.operatingPoint("rec").threshold;
    expect(await service.recognizeFace({ companyId: "rec", image: blank })).toEqual({ userId: null, confidence: 0, bbox: null, threshold, companyFound: true });
    const none = service.operatingPoint("unknown-co").threshold;
    // the old answer for an unknown company, and the flag that tells it from "no one here"
    expect(await service.recognizeFace({ companyId: "unknown-co", image: crops1[0] })).toEqual({ userId: null, confidence: 0, bbox: null, threshold: none, companyFound: false });
    expect(await service.recognizeFaces({ companyId: "unknown-co", image: crops1[0] })).toEqual({ faces: [], threshold: none, companyFound: false });
  });

  test("below the threshold → userId null with the score and bbox; empty company → confidence 0 with bbox", async () => {
    // strangers from another photo
    const r = await service.recognizeFace({ companyId: "rec", image: group2 });
    expect(r.userId).toBeNull();
    expect(r.confidence).toBeGreaterThan(-1);
    expect(r.confidence).toBeLessThan(service.operatingPoint("rec").threshold);
    expect(r.threshold).toBe(service.operatingPoint("rec").threshold);
    expect(r.confidence).not.toBe(0);
    expect(r.bbox).not.toBeNull();
    // a per-call threshold above the genuine score
    const mirrored = new Uint8Array(await sharp(crops1[1]).flop().jpeg().toBuffer());
    const loose = await service.recognizeFace({ companyId: "rec", image: mirrored });
    expect(loose.userId).toBe("person1");
    const strict = await service.recognizeFace({ companyId: "rec", image: mirrored, threshold: loose.confidence + 0.001 });
    expect(strict.userId).toBeNull();
    expect(strict.confidence).toBeCloseTo(loose.confidence, 6);
    await service.createCompany({ companyId: "empty" });
    const e = await service.recognizeFace({ companyId: "empty", image: crops1[0] });
    expect(e).toMatchObject({ userId: null, confidence: 0 });
    expect(e.bbox).not.toBeNull();
  });

  test("IMAGE_TOO_LARGE from the engine's limits passes through every image operation", async () => {
    const small = await createEngine({ imageLimits: { maxBytes: 20_000 } });
    const s = await LocalFaceService.create({ engine: small, store: new MemoryGalleryStore(), log: quiet });
    try {
      await s.createCompany({ companyId: "c" });
      expect(group1.byteLength).toBeGreaterThan(20_000);
      await rejectsWith(s.createUser({ companyId: "c", userId: "u", faceId: "f", image: group1 }), "IMAGE_TOO_LARGE");
      await rejectsWith(s.recognizeFace({ companyId: "c", image: group1 }), "IMAGE_TOO_LARGE");
      await rejectsWith(s.detectFaces({ image: group1 }), "IMAGE_TOO_LARGE");
      await rejectsWith(s.generateEmbedding({ image: group1 }), "IMAGE_TOO_LARGE");
    } finally {
      await s.close();
      await small.dispose();
    }
  });

  test("recognition errors: INVALID_IMAGE, INVALID_ARGUMENT", async () => {
    await rejectsWith(service.recognizeFace({ companyId: "rec", image: new Uint8Array([0xff, 0xd8, 0xff, 0x00]) }), "INVALID_IMAGE");
    await rejectsWith(service.recognizeFace({ companyId: "rec", image: crops1[0], threshold: 2 }), "INVALID_ARGUMENT");
    await rejectsWith(service.recognizeFace({ companyId: "rec" } as never), "INVALID_ARGUMENT");
  });
});

describe("stateless operations", () => {
  test("detect_faces: count and boxes", async () => {
    const r = await service.detectFaces({ image: group1 });
    expect(r.facesCount).toBe(3);
    expect(r.faces.length).toBe(3);
    expect((await service.detectFaces({ image: blank })).facesCount).toBe(0);
    await rejectsWith(service.detectFaces({ image: new Uint8Array([1, 2, 3]) }), "INVALID_IMAGE");
  });

  test("generate_embedding: 512 floats, L2-normalised; NO_FACE", async () => {
    const r = await service.generateEmbedding({ image: crops1[0] });
    expect(r.embedding.length).toBe(512);
    expect(Math.hypot(...r.embedding)).toBeCloseTo(1, 4);
    expect(r.model).toBe(engine.info().modelId);
    await rejectsWith(service.generateEmbedding({ image: blank }), "NO_FACE");
  });

  test("compare: cosine and euclidean, best match first; dimension mismatch is INVALID_ARGUMENT", async () => {
    const a = (await service.generateEmbedding({ image: crops1[0] })).embedding;
    const b = (await service.generateEmbedding({ image: crops1[1] })).embedding;
    const r = await service.compare({
      queryEmbedding: a,
      referenceEmbeddings: [
        { id: "other", embedding: b },
        { id: "same", embedding: a },
      ],
    });
    expect(r.bestMatch?.id).toBe("same");
    expect(r.bestMatch?.similarity).toBeCloseTo(1, 5);
    expect(r.bestMatch?.distance).toBeCloseTo(0, 5);
    expect(r.matches.map((m) => m.id)).toEqual(["same", "other"]);
    const e = await service.compare({ queryEmbedding: a, referenceEmbeddings: [{ id: "other", embedding: b }], distanceMetric: "euclidean" });
    const cos = r.matches[1].similarity;
    expect(e.matches[0].distance).toBeCloseTo(Math.sqrt(2 - 2 * cos), 4);
    expect(e.matches[0].similarity).toBeCloseTo(cos, 6);
    expect(await service.compare({ queryEmbedding: a, referenceEmbeddings: [] })).toEqual({ bestMatch: null, matches: [] });
    await rejectsWith(service.compare({ queryEmbedding: a, referenceEmbeddings: [{ id: "x", embedding: [1, 2, 3] }] }), "INVALID_ARGUMENT");
    await rejectsWith(service.compare({ queryEmbedding: [Number.NaN], referenceEmbeddings: [] }), "INVALID_ARGUMENT");
    await rejectsWith(service.compare({ queryEmbedding: a, referenceEmbeddings: [], distanceMetric: "manhattan" as never }), "INVALID_ARGUMENT");
  });

  test("verify: the same face matches, different people do not; NO_FACE names the image", async () => {
    const same = await service.verify({ image1: crops1[0], image2: group1 });
    // group1's preferred face need not be person 0: compare with the crop of the preferred one instead
    const preferred = (await engine.detect(group1))[0];
    const idx = faces1.findIndex((f) => iou(f.bbox, preferred.bbox) > 0.9);
    const match = await service.verify({ image1: crops1[idx], image2: group1 });
    expect(match.isMatch).toBe(true);
    expect(match.metrics.cosineSimilarity).toBeGreaterThan(0.9);
    expect(match.metrics.euclideanDistance).toBeCloseTo(Math.sqrt(2 - 2 * match.metrics.cosineSimilarity), 4);
    expect(match.threshold).toBe(DEFAULT_PAIR_THRESHOLD);
    expect(match.processingMs).toBeGreaterThan(0);
    expect(typeof same.isMatch).toBe("boolean");
    const diff = await service.verify({ image1: crops1[0], image2: crops1[1] });
    expect(diff.isMatch).toBe(false);
    const e = await rejectsWith(service.verify({ image1: crops1[0], image2: blank }), "NO_FACE");
    expect(e.details).toEqual({ image: "image2" });
  });
});

describe("revisions, stats, health", () => {
  test("writes carry increasing revisions; minRevision waits, bounded (TIMEOUT)", async () => {
    const a = await service.createCompany({ companyId: "rev-a" });
    const b = await service.createCompany({ companyId: "rev-b" });
    expect(b.revision!).toBeGreaterThan(a.revision!);
    expect((await service.getUserFaces({ companyId: "rev-a", userId: "x" }, { minRevision: b.revision })).faceIds).toEqual([]);
    await rejectsWith(service.getCacheStats({ minRevision: b.revision! + 1000, timeoutMs: 50 }), "TIMEOUT");
    await rejectsWith(service.getCacheStats({ minRevision: -1 }), "INVALID_ARGUMENT");
  });

  test("get_cache_stats: counts, per company, uptime, tasks, worker id, revision", async () => {
    const before = await service.getCacheStats();
    await service.createCompany({ companyId: "stats" });
    await service.createUser({ companyId: "stats", userId: "u", faceId: "f", image: crops1[0] });
    await service.addFace({ companyId: "stats", userId: "u", faceId: "g", image: crops1[0] });
    const s = await service.getCacheStats();
    expect(s.companiesCount).toBe(before.companiesCount + 1);
    expect(s.usersCount).toBe(before.usersCount + 1);
    expect(s.facesCount).toBe(before.facesCount + 2);
    expect(s.embeddingsCount).toBe(s.facesCount);
    expect(s.companies.stats).toEqual({ users: 1, faces: 2 });
    expect(s.totalTasksProcessed).toBe(before.totalTasksProcessed + 4);
    expect(s.workerId).toBe("test-worker");
    expect(s.uptimeSeconds).toBeGreaterThan(0);
    expect(s.revision).toBeGreaterThan(before.revision);
  });

  test("health_check: engine info, store kind and revision, response time", async () => {
    const h = await service.healthCheck();
    expect(h.status).toBe("ok");
    expect(h.engine.embeddingDim).toBe(512);
    expect(h.store.kind).toBe("memory");
    expect(h.store.revision).toBe((await service.getCacheStats()).revision);
    expect(h.workerInfo.workerId).toBe("test-worker");
    expect(h.responseTimeMs).toBeGreaterThanOrEqual(0);
    // the engine probe ran the pipeline once; a second check within 10 s reuses it
    expect(h.engineCheck).toMatchObject({ ok: true });
    expect(h.engineCheck!.ms).toBeGreaterThan(0);
    expect((await service.healthCheck()).engineCheck!.checkedAt).toBe(h.engineCheck!.checkedAt);
  });

  test("an engine failing with a plain error is INTERNAL (not INVALID_IMAGE) and health is degraded", async () => {
    let calls = 0;
    const broken: FaceEngine = {
      info: () => engine.info(),
      detect: async () => {
        calls++;
        throw new TypeError("onnxruntime: something inside broke");
      },
      embed: async () => {
        throw new TypeError("onnxruntime: something inside broke");
      },
      analyze: async () => {
        throw new TypeError("onnxruntime: something inside broke");
      },
      dispose: async () => {},
    };
    const s = await LocalFaceService.create({ engine: broken, store: new MemoryGalleryStore(), log: quiet });
    try {
      await s.createCompany({ companyId: "c" });
      await rejectsWith(s.detectFaces({ image: group1 }), "INTERNAL");
      await rejectsWith(s.recognizeFace({ companyId: "c", image: group1 }), "INTERNAL");
      const h = await s.healthCheck();
      expect(h.status).toBe("degraded");
      expect(h.engineCheck).toMatchObject({ ok: false, error: "onnxruntime: something inside broke" });
      const before = calls;
      await s.healthCheck();
      expect(calls).toBe(before); // cached
    } finally {
      await s.close();
    }
  });

  test("a closed service is UNAVAILABLE", async () => {
    const s = await LocalFaceService.create({ engine, store: new MemoryGalleryStore(), log: quiet });
    await s.close();
    await rejectsWith(s.getCacheStats(), "UNAVAILABLE");
  });
});

describe("durable default store", () => {
  test("SQLite in DATA_DIR: enrolled users are recognised after a restart", async () => {
    const env = { DATA_DIR: join(dir, "data"), WORKER_ID: "w1" };
    const first = await LocalFaceService.create({ engine, env, log: quiet });
    expect(first.store).toBeInstanceOf(SqliteGalleryStore);
    await first.createCompany({ companyId: "acme" });
    const r = await first.createUser({ companyId: "acme", userId: "p2", faceId: "f", image: crops1[2] });
    await first.close();
    const second = await LocalFaceService.create({ engine, env, log: quiet });
    try {
      expect(second.gallery.revision).toBe(r.revision!);
      const rec = await second.recognizeFace({ companyId: "acme", image: crops1[2] });
      expect(rec.userId).toBe("p2");
      expect((await second.healthCheck()).store).toMatchObject({ kind: "sqlite", revision: r.revision });
    } finally {
      await second.close();
    }
  });

  test("invalid configuration is INVALID_ARGUMENT naming the variable", async () => {
    const e = await rejectsWith(LocalFaceService.create({ engine, env: { FACE_RECOGNITION_THRESHOLD: "1.5" }, log: quiet }), "INVALID_ARGUMENT");
    expect(e.message).toContain("FACE_RECOGNITION_THRESHOLD");
  });
});
