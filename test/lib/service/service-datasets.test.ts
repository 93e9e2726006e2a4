/**
 * LocalFaceService on the labelled photos of the shared datasets (labelled/bbt: 8 people x 5 tight
 * grayscale crops; labelled/face_recognition: 6 people, full scenes): the §1 operations end to end
 * with the real engine and the durable SQLite store.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { LocalFaceService } from "../../../lib/service/mod.ts";
import { describeDatasets, listDataset, readDataset } from "../../helpers/datasets.ts";

describeDatasets("LocalFaceService on labelled/ (real engine, SQLite store)", () => {
  let engine: FaceEngine;
  let service: LocalFaceService;
  const dir = mkdtempSync(join(tmpdir(), "facegate-labelled-"));
  const people = (set: string) => listDataset("labelled", set);
  const files = (set: string, who: string) => listDataset("labelled", set, who);
  const image = (set: string, who: string, file: string) => readDataset("labelled", set, who, file);

  beforeAll(async () => {
    engine = await createEngine();
    service = await LocalFaceService.create({ engine, env: { DATA_DIR: dir }, log: () => {} });
  });
  afterAll(async () => {
    await service.close();
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test("bbt: enroll 2 photos per person, recognise the other 3: ≥ 90 % right, no one taken for someone else", async () => {
    expect((await service.createCompany({ companyId: "bbt" })).created).toBe(true);
    for (const who of people("bbt")) {
      const [a, b] = files("bbt", who);
      const r = await service.createUser({ companyId: "bbt", userId: who, faceId: a, image: image("bbt", who, a) });
      expect(r.embedding.length).toBe(512);
      await service.addFace({ companyId: "bbt", userId: who, faceId: b, image: image("bbt", who, b) });
      expect((await service.getUserFaces({ companyId: "bbt", userId: who })).faceIds).toEqual([a, b]);
    }
    let right = 0;
    let total = 0;
    for (const who of people("bbt")) {
      for (const f of files("bbt", who).slice(2)) {
        const r = await service.recognizeFace({ companyId: "bbt", image: image("bbt", who, f) });
        total++;
        if (r.userId === who) right++;
        // a miss is "unknown", never another person
        else expect(r.userId).toBeNull();
      }
    }
    expect(total).toBe(24);
    expect(right / total).toBeGreaterThanOrEqual(0.9);
    const stats = await service.getCacheStats();
    expect(stats.companies.bbt).toEqual({ users: 8, faces: 16 });
  });

  test("face_recognition: one enrolled photo per person recognises every other photo of them", async () => {
    await service.createCompany({ companyId: "fr" });
    for (const who of people("face_recognition")) {
      const [first] = files("face_recognition", who);
      await service.createUser({ companyId: "fr", userId: who, faceId: "enrolled", image: image("face_recognition", who, first) });
    }
    for (const who of people("face_recognition")) {
      for (const f of files("face_recognition", who).slice(1)) {
        const r = await service.recognizeFace({ companyId: "fr", image: image("face_recognition", who, f) });
        expect({ file: `${who}/${f}`, userId: r.userId }).toEqual({ file: `${who}/${f}`, userId: who });
        expect(r.confidence).toBeGreaterThanOrEqual(r.threshold!);
        expect(r.bbox).not.toBeNull();
      }
    }
  });

  test("companies are separate: bbt people are unknown in fr and vice versa", async () => {
    const r = await service.recognizeFace({ companyId: "fr", image: image("bbt", "amy", "amy3.png") });
    expect(r.userId).toBeNull();
    const s = await service.recognizeFace({ companyId: "bbt", image: image("face_recognition", "obama", "obama1.jpg") });
    expect(s.userId).toBeNull();
    expect(s.bbox).not.toBeNull();
  });

  test("verify and generate_embedding on labelled photos; no-face scenes", async () => {
    const same = await service.verify({ image1: image("face_recognition", "obama", "obama.jpg"), image2: image("face_recognition", "obama", "obama2.jpg") });
    expect(same.isMatch).toBe(true);
    const diff = await service.verify({ image1: image("face_recognition", "obama", "obama.jpg"), image2: image("face_recognition", "biden", "biden.jpg") });
    expect(diff.isMatch).toBe(false);
    expect(diff.metrics.cosineSimilarity).toBeLessThan(same.metrics.cosineSimilarity);
    const e = await service.generateEmbedding({ image: image("bbt", "penny", "penny1.png") });
    expect(e.embedding.length).toBe(512);
    for (const f of ["opencv_fruits.jpg", "opencv_building.jpg", "faceapijs_white.png"]) {
      const r = await service.recognizeFace({ companyId: "bbt", image: readDataset("scenes", "noface", f) });
      expect(r).toEqual({ userId: null, confidence: 0, bbox: null, threshold: service.operatingPoint("bbt").threshold, companyFound: true });
    }
  });

  test("deleting faces and users changes recognition; everything survives a restart", async () => {
    // sheldon loses both faces: still a user, no longer recognised
    for (const f of files("bbt", "sheldon").slice(0, 2)) {
      expect((await service.deleteFace({ companyId: "bbt", userId: "sheldon", faceId: f })).deleted).toBe(true);
    }
    expect((await service.getUserFaces({ companyId: "bbt", userId: "sheldon" })).faceIds).toEqual([]);
    const r = await service.recognizeFace({ companyId: "bbt", image: image("bbt", "sheldon", "sheldon3.png") });
    expect(r.userId).not.toBe("sheldon");
    const d = await service.deleteUser({ companyId: "bbt", userId: "amy" });
    expect(d.deleted).toBe(true);
    expect((await service.recognizeFace({ companyId: "bbt", image: image("bbt", "amy", "amy3.png") })).userId).toBeNull();
    const before = await service.getCacheStats();
    await service.close();
    service = await LocalFaceService.create({ engine, env: { DATA_DIR: dir }, log: () => {} });
    const after = await service.getCacheStats();
    expect(after.companies).toEqual(before.companies);
    expect(after.revision).toBe(before.revision);
    expect((await service.recognizeFace({ companyId: "bbt", image: image("bbt", "penny", "penny4.png") })).userId).toBe("penny");
    expect((await service.deleteCompany({ companyId: "fr" })).deleted).toBe(true);
    expect((await service.recognizeFace({ companyId: "fr", image: image("face_recognition", "obama", "obama1.jpg") })).bbox).toBeNull();
  });
});
