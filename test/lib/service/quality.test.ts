/**
 * The enrollment quality gate: pose from landmarks, sharpness, and every refusal (FACE_QUALITY naming the
 * check, the measured value and the bound) with real photos through LocalFaceService.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import sharp from "sharp";
import { FaceError, MemoryGalleryStore, type Point } from "../../../lib/core/internal.ts";
import { createEngine, type FaceEngine } from "../../../lib/engine/mod.ts";
import { LocalFaceService } from "../../../lib/service/mod.ts";
import { checkQuality, DEFAULT_QUALITY_BOUNDS, laplacianVariance, poseFromLandmarks, type QualityMeasures } from "../../../lib/service/quality.ts";
import { describeDatasets, faceApiSample, readDataset } from "../../helpers/datasets.ts";

describe("quality measures", () => {
  // a frontal face: eyes 40 px apart, nose halfway down to the mouth
  const frontal: Point[] = [
    [80, 100],
    [120, 100],
    [100, 120],
    [85, 140],
    [115, 140],
  ];
  const rotate = (pts: Point[], deg: number): Point[] => {
    const r = (deg * Math.PI) / 180;
    return pts.map(([x, y]) => [100 + (x - 100) * Math.cos(r) - (y - 120) * Math.sin(r), 120 + (x - 100) * Math.sin(r) + (y - 120) * Math.cos(r)]);
  };

  test("pose: frontal is 0/0/0; roll is the eye line's tilt; yaw from the nose's sideways offset; pitch from its height", () => {
    const p = poseFromLandmarks(frontal);
    expect(Math.abs(p.yaw)).toBeLessThan(1e-9);
    expect(Math.abs(p.pitch)).toBeLessThan(1e-9);
    expect(Math.abs(p.roll)).toBeLessThan(1e-9);
    expect(poseFromLandmarks(rotate(frontal, 30)).roll).toBeCloseTo(30, 6);
    // rotation in the image plane changes roll only
    expect(Math.abs(poseFromLandmarks(rotate(frontal, 30)).yaw)).toBeLessThan(1e-6);
    // nose offset 0.6·tan(30°)·IOD to the right: 30° of yaw
    const turned = frontal.map((q, i) => (i === 2 ? [100 + 0.6 * Math.tan(Math.PI / 6) * 40, 120] : q)) as Point[];
    expect(poseFromLandmarks(turned).yaw).toBeCloseTo(30, 6);
    const down = frontal.map((q, i) => (i === 2 ? [100, 135] : q)) as Point[];
    expect(poseFromLandmarks(down).pitch).toBeGreaterThan(20);
  });

  test("sharpness: a flat patch is 0, a checkerboard is large", () => {
    expect(laplacianVariance(new Uint8Array(64 * 64).fill(128), 64)).toBe(0);
    const board = new Uint8Array(64 * 64).map((_, i) => (((i % 64) + Math.floor(i / 64)) % 2 ? 255 : 0));
    expect(laplacianVariance(board, 64)).toBeGreaterThan(10_000);
  });

  test("checkQuality names the first failed check, the value and the bound", () => {
    const good: QualityMeasures = { faceSize: 100, sharpness: 500, yaw: 5, pitch: 5, roll: 5, detectionScore: 0.99, secondFaceRatio: 0 };
    expect(() => checkQuality(good, DEFAULT_QUALITY_BOUNDS)).not.toThrow();
    const cases: Array<[Partial<QualityMeasures>, string]> = [
      [{ faceSize: 30 }, "face_size"],
      [{ detectionScore: 0.5 }, "detection_score"],
      [{ sharpness: 3 }, "sharpness"],
      [{ yaw: -70 }, "yaw"],
      [{ pitch: 60 }, "pitch"],
      [{ roll: -80 }, "roll"],
    ];
    for (const [bad, check] of cases) {
      try {
        checkQuality({ ...good, ...bad }, DEFAULT_QUALITY_BOUNDS);
        throw new Error(`${check} passed`);
      } catch (e) {
        expect(e).toBeInstanceOf(FaceError);
        expect((e as FaceError).code).toBe("FACE_QUALITY");
        expect((e as FaceError).message).toContain(check);
        expect((e as FaceError).details).toMatchObject({ check });
      }
    }
    expect(() => checkQuality({ ...good, secondFaceRatio: 0.95 }, { ...DEFAULT_QUALITY_BOUNDS, maxSecondFaceRatio: 0.8 })).toThrow(/dominant_face/);
  });
});

describeDatasets("quality gate on real photos (LocalFaceService, ONNX engine)", () => {
  let engine: FaceEngine;
  const services: LocalFaceService[] = [];
  beforeAll(async () => {
    engine = await createEngine({ ortThreads: 1 });
  });
  afterAll(async () => {
    for (const s of services) await s.close();
    await engine?.dispose();
  });
  async function service(env: Record<string, string> = {}): Promise<LocalFaceService> {
    const s = await LocalFaceService.create({ engine, store: new MemoryGalleryStore(), env, config: { workerId: "q" }, log: () => {} });
    services.push(s);
    await s.createCompany({ companyId: "c" });
    return s;
  }
  let n = 0;
  async function refusal(s: LocalFaceService, image: Uint8Array): Promise<FaceError> {
    const e = await s.createUser({ companyId: "c", userId: `u${n++}`, faceId: "f", image }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(FaceError);
    expect((e as FaceError).code).toBe("FACE_QUALITY");
    return e as FaceError;
  }
  const lfw = (who: string, file: string) => readDataset("lfw-dev", "images", who, file);

  test("default bounds: the LFW dev photos they refuse (5 of 4,992) are refused with the check and value; the user is not created", async () => {
    const s = await service();
    const yaw = await refusal(s, lfw("Allan_Houston", "Allan_Houston_0001.jpg"));
    expect(yaw.message).toMatch(/yaw failed: yaw 5\d\.\d+°, needs ≤ 50°/);
    expect(yaw.details).toMatchObject({ check: "yaw", bound: 50 });
    expect((await refusal(s, lfw("Luis_Horna", "Luis_Horna_0002.jpg"))).message).toMatch(/pitch failed: pitch 4\d\.\d+°/);
    expect((await refusal(s, lfw("Hernan_Diaz", "Hernan_Diaz_0001.jpg"))).message).toMatch(/face_size failed: face size 4\d\.\d+px, needs ≥ 48px/);
    expect(s.gallery.index("c")?.users.size ?? 0).toBe(0);
    // an ordinary photo passes; ENROLL_QUALITY=off lets the refused one in
    await s.createUser({ companyId: "c", userId: "ok", faceId: "f", image: lfw("Hugh_Grant", "Hugh_Grant_0001.jpg") });
    const off = await service({ ENROLL_QUALITY: "off" });
    await off.createUser({ companyId: "c", userId: "houston", faceId: "f", image: lfw("Allan_Houston", "Allan_Houston_0001.jpg") });
  });

  test("a blurred photo is refused for sharpness; add_face is gated too", async () => {
    const s = await service();
    const photo = lfw("Hugh_Grant", "Hugh_Grant_0001.jpg");
    await s.createUser({ companyId: "c", userId: "hugh", faceId: "f1", image: photo });
    const blurred = new Uint8Array(await sharp(photo).blur(5).jpeg().toBuffer());
    const e = await s.addFace({ companyId: "c", userId: "hugh", faceId: "f2", image: blurred }).then(
      () => null,
      (err: unknown) => err as FaceError,
    );
    expect(e?.code).toBe("FACE_QUALITY");
    expect(e?.message).toMatch(/sharpness failed: sharpness \d+(\.\d+)?, needs ≥ 15/);
    expect(s.gallery.getUserFaces("c", "hugh")).toEqual(["f1"]);
  });

  test("configured bounds: detection score, roll, face size and one dominant face each refuse with their check", async () => {
    const photo = lfw("Hugh_Grant", "Hugh_Grant_0001.jpg");
    const [face] = await engine.analyze(photo);
    const score = await service({ ENROLL_MIN_DETECTION_SCORE: String(Math.min(1, face.score + 1e-4)) });
    if (face.score < 1) expect((await refusal(score, photo)).details).toMatchObject({ check: "detection_score" });
    const roll = await service({ ENROLL_MAX_ROLL: "0.01" });
    expect((await refusal(roll, photo)).details).toMatchObject({ check: "roll", bound: 0.01 });
    const size = await service({ ENROLL_MIN_FACE_SIZE: "500" });
    expect((await refusal(size, photo)).details).toMatchObject({ check: "face_size", bound: 500 });
    const dominant = await service({ ENROLL_MAX_SECOND_FACE_RATIO: "0.8" });
    const e = await refusal(dominant, faceApiSample(2));
    expect(e.details).toMatchObject({ check: "dominant_face", bound: 0.8 });
    expect(e.message).toContain("second face / largest face area");
  });
});
