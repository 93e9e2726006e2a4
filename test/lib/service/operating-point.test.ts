/**
 * Operating points on LocalFaceService: thresholds derived from FACE_FPIR_TARGET, the calibration and
 * the company's size (recomputed as it grows), per-company settings (kept by the store, surviving a
 * restart), the precedence of an explicit FACE_RECOGNITION_THRESHOLD, bounds, and stats.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FaceError, MemoryGalleryStore } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import {
  DEFAULT_PAIR_THRESHOLD,
  LocalFaceService,
  SqliteGalleryStore,
  ThresholdPolicy,
  expectedFpir,
  thresholdForFpir,
  type Calibration,
} from "../../../lib/service/mod.ts";
import { randomUnit, rng } from "../../helpers/vectors.ts";

let engine: FaceEngine;
const dir = mkdtempSync(join(tmpdir(), "facegate-op-"));
const rand = rng(5);

beforeAll(async () => {
  engine = await createEngine({ ortThreads: 1 });
});
afterAll(async () => {
  await engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function service(env: Record<string, string> = {}, store = new MemoryGalleryStore() as MemoryGalleryStore | SqliteGalleryStore) {
  return LocalFaceService.create({ engine, store, env, config: { workerId: "op" }, log: () => {} });
}

/** n users with one random face each, written through the store. */
async function enroll(s: LocalFaceService, companyId: string, n: number, from = 0): Promise<void> {
  const model = engine.info().modelId;
  let rev = 0;
  for (let u = from; u < from + n; u++) {
    await s.store.createUser(companyId, `u${u}`);
    rev = (await s.store.addFace({ companyId, userId: `u${u}`, faceId: "f", embedding: randomUnit(rand, 512), model })).revision;
  }
  await s.gallery.waitForRevision(rev, 5000);
}

describe("operating points", () => {
  test("the shipped calibration is found for the default model; the threshold follows FACE_FPIR_TARGET and the company's size", async () => {
    const s = await service();
    const c = s.thresholds.calibration as Calibration;
    expect(c).not.toBeNull();
    expect(c.model).toBe(engine.info().modelId);
    await s.createCompany({ companyId: "acme" });
    // a user without faces cannot be mistaken for anyone: not counted
    await s.gallery.waitForRevision((await s.store.createUser("acme", "faceless")).revision, 5000);
    const small = s.operatingPoint("acme");
    expect(small.users).toBe(0);
    expect(small.source).toBe("fpir_target");
    expect(small.fpirTarget).toBe(s.config.fpirTarget);
    await enroll(s, "acme", 50);
    const mid = s.operatingPoint("acme");
    expect(mid.users).toBe(50);
    expect(mid.threshold).toBeCloseTo(thresholdForFpir(c, s.config.fpirTarget, 50), 9);
    expect(mid.expectedFpir!).toBeCloseTo(s.config.fpirTarget, 4);
    await enroll(s, "acme", 450, 50);
    const large = s.operatingPoint("acme");
    // more people to be mistaken for: a stricter threshold for the same target
    expect(large.threshold).toBeGreaterThan(mid.threshold);
    expect(large.expectedFpir!).toBeCloseTo(s.config.fpirTarget, 4);
    // recognitions and searches report it
    const r = await s.searchEmbedding({ companyId: "acme", embedding: Array.from(randomUnit(rand, 512)) });
    expect(r.threshold).toBe(large.threshold);
    // stats show each company's threshold and expected FPIR
    const stats = await s.getCacheStats();
    expect(stats.cacheInfo.operatingPoints).toEqual({ acme: { threshold: large.threshold, source: "fpir_target", expectedFpir: large.expectedFpir } });
    expect(stats.cacheInfo.recognitionThreshold).toBeNull();
    await s.close();
  });

  test("precedence: explicit FACE_RECOGNITION_THRESHOLD > company threshold > company FPIR target > FACE_FPIR_TARGET", async () => {
    const s = await service({ FACE_FPIR_TARGET: "0.02" });
    await s.createCompany({ companyId: "a" });
    await enroll(s, "a", 20);
    const c = s.thresholds.calibration!;
    expect(s.operatingPoint("a")).toMatchObject({ source: "fpir_target", fpirTarget: 0.02, threshold: thresholdForFpir(c, 0.02, 20) });
    const own = await s.setOperatingPoint({ companyId: "a", fpirTarget: 0.001 });
    expect(own).toMatchObject({ source: "company_fpir_target", fpirTarget: 0.001, settings: { fpirTarget: 0.001 }, users: 20 });
    expect(own.threshold).toBeCloseTo(thresholdForFpir(c, 0.001, 20), 9);
    expect(own.revision).toBeGreaterThan(0);
    const fixed = await s.setOperatingPoint({ companyId: "a", threshold: 0.55 });
    expect(fixed).toMatchObject({ source: "company_threshold", threshold: 0.55, fpirTarget: null, settings: { threshold: 0.55 } });
    expect(fixed.expectedFpir).toBeCloseTo(expectedFpir(c, 0.55, 20), 9);
    // the curve for the admin console: per threshold FAR, FRR and the FPIR at this company's size
    expect(fixed.calibration!.curve.length).toBe(c.thresholds.length);
    const at50 = fixed.calibration!.curve.find((p) => p.threshold === 0.5)!;
    expect(at50.fpir).toBeCloseTo(expectedFpir(c, 0.5, 20), 9);
    expect(at50.far).toBeGreaterThan(0);
    expect(at50.frr).toBeGreaterThan(0);
    const reset = await s.setOperatingPoint({ companyId: "a", fpirTarget: null, threshold: null });
    expect(reset).toMatchObject({ source: "fpir_target", settings: null });
    await s.close();

    const explicit = await service({ FACE_RECOGNITION_THRESHOLD: "0.45" });
    await explicit.createCompany({ companyId: "a" });
    await explicit.setOperatingPoint({ companyId: "a", threshold: 0.6 });
    expect(explicit.operatingPoint("a")).toMatchObject({ source: "explicit", threshold: 0.45 });
    expect((await explicit.getCacheStats()).cacheInfo.recognitionThreshold).toBe(0.45);
    await explicit.close();
  });

  test("refusals: unknown company, out of bounds, both at once", async () => {
    const s = await service();
    await s.createCompany({ companyId: "a" });
    const code = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof FaceError ? e.code : String(e)));
    expect(await code(s.getOperatingPoint({ companyId: "nope" }))).toBe("COMPANY_NOT_FOUND");
    expect(await code(s.setOperatingPoint({ companyId: "nope", fpirTarget: 0.01 }))).toBe("COMPANY_NOT_FOUND");
    expect(await code(s.setOperatingPoint({ companyId: "a", fpirTarget: 0.5 }))).toBe("INVALID_ARGUMENT");
    expect(await code(s.setOperatingPoint({ companyId: "a", fpirTarget: 0 }))).toBe("INVALID_ARGUMENT");
    expect(await code(s.setOperatingPoint({ companyId: "a", threshold: 0.1 }))).toBe("INVALID_ARGUMENT");
    expect(await code(s.setOperatingPoint({ companyId: "a", threshold: 0.99 }))).toBe("INVALID_ARGUMENT");
    expect(await code(s.setOperatingPoint({ companyId: "a", threshold: 0.5, fpirTarget: 0.01 }))).toBe("INVALID_ARGUMENT");
    expect(await code(s.setOperatingPoint({ companyId: "a", threshold: Number.NaN }))).toBe("INVALID_ARGUMENT");
    expect(s.operatingPoint("a").source).toBe("fpir_target");
    await s.close();
  });

  test("company settings survive a restart (SQLite) and go with the company", async () => {
    const path = join(dir, "op.db");
    const firstStore = new SqliteGalleryStore({ path });
    const first = await service({}, firstStore);
    await first.createCompany({ companyId: "a" });
    await first.createCompany({ companyId: "b" });
    await enroll(first, "a", 3);
    await first.setOperatingPoint({ companyId: "a", threshold: 0.62 });
    await first.close();
    firstStore.close(); // one process per database: the "restarted" store opens the file after this one let go
    const second = await service({}, new SqliteGalleryStore({ path }));
    expect(second.operatingPoint("a")).toMatchObject({ source: "company_threshold", threshold: 0.62, users: 3 });
    expect(second.operatingPoint("b").source).toBe("fpir_target");
    await second.deleteCompany({ companyId: "a" });
    await second.createCompany({ companyId: "a" });
    expect(second.operatingPoint("a").source).toBe("fpir_target");
    await second.close();
  });

  test("an unreadable FACE_CALIBRATION_FILE stops the start; a model without calibration uses the first release's 0.40", async () => {
    await expect(service({ FACE_CALIBRATION_FILE: join(dir, "missing.json") })).rejects.toThrow(/calibration/);
    const policy = new ThresholdPolicy({ calibration: null, fpirTarget: 0.01 });
    expect(policy.resolve("a", 1000)).toEqual({ threshold: DEFAULT_PAIR_THRESHOLD, source: "uncalibrated_default", users: 1000, templates: 0, fpirTarget: 0.01, expectedFpir: null });
  });
});
