import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import sharp from "sharp";
import type { DetectedFace } from "../../../../lib/core/mod.ts";
import { FaceError } from "../../../../lib/core/mod.ts";
import { createEngine, decodeImage, type FaceEngine } from "../../../../lib/engine/mod.ts";
import { describeDatasets, faceApiSample, listDataset, readDataset } from "../../../helpers/datasets.ts";

// Real models on real photos on a shared 2-core machine: allow time.
setDefaultTimeout(60_000);

let engine: FaceEngine;
beforeAll(async () => {
  engine = await createEngine({ engine: "onnx", executionProvider: "cpu" });
});
afterAll(async () => {
  await engine?.dispose();
});

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const centre = (f: DetectedFace) => [f.bbox[0] + f.bbox[2] / 2, f.bbox[1] + f.bbox[3] / 2];

/** Each face of `a` has a face in `b` whose centre is within `tol` x its width. */
function sameBoxes(a: DetectedFace[], b: DetectedFace[], tol: number) {
  expect(b.length).toBe(a.length);
  for (const f of a) {
    const [x, y] = centre(f);
    const d = Math.min(...b.map((g) => Math.hypot(centre(g)[0] - x, centre(g)[1] - y)));
    expect(d).toBeLessThan(tol * f.bbox[2]);
  }
}

describe("ONNX engine on the face-api demo photos (no datasets needed)", () => {
  test("sourceScale: faces in the pixels of the original the image was downscaled from; MIN_FACE_SIZE too", async () => {
    const image = faceApiSample(1);
    const plain = await engine.analyze(image);
    const scaled = await engine.analyze(image, { sourceScale: 2.5 });
    expect(scaled.length).toBe(plain.length);
    for (let i = 0; i < plain.length; i++) {
      for (let k = 0; k < 4; k++) expect(scaled[i].bbox[k]).toBeCloseTo(plain[i].bbox[k] * 2.5, 1);
      expect(scaled[i].landmarks[0][0]).toBeCloseTo(plain[i].landmarks[0][0] * 2.5, 1);
      // the same pixels were embedded
      expect(dot(scaled[i].embedding, plain[i].embedding)).toBeCloseTo(1, 5);
    }
    const detected = await engine.detect(image, { sourceScale: 2.5 });
    expect(detected.map((f) => f.bbox)).toEqual(scaled.map((f) => f.bbox));
    // A minimum between the smallest face's size here and in the 2.5x original keeps it only with sourceScale.
    const smallest = Math.min(...plain.map((f) => Math.min(f.bbox[2], f.bbox[3])));
    const strict = await createEngine({ engine: "onnx", executionProvider: "cpu", minFaceSize: smallest * 1.5 });
    try {
      expect((await strict.analyze(image)).length).toBeLessThan(plain.length);
      expect((await strict.analyze(image, { sourceScale: 2.5 })).length).toBe(plain.length);
    } finally {
      await strict.dispose();
    }
    await expect(engine.analyze(image, { sourceScale: 0.5 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  test("info", () => {
    const info = engine.info();
    expect(info.engine).toBe("onnx");
    expect(info.backend).toBe("onnxruntime-node/cpu");
    expect(info.modelId).toMatch(/^fr_feature@[0-9a-f]{8}$/);
    expect(info.embeddingDim).toBe(512);
    expect(info.models).toHaveLength(3);
  });

  test("22 faces over sample1..6", async () => {
    const counts: number[] = [];
    for (const n of [1, 2, 3, 4, 5, 6] as const) counts.push((await engine.detect(faceApiSample(n))).length);
    expect(counts).toEqual([3, 3, 3, 4, 5, 4]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(22);
  });

  test("faces: boxes inside the image, 5 landmarks inside their box, ordered by preference", async () => {
    const bytes = faceApiSample(5);
    const img = await decodeImage(bytes);
    const faces = await engine.detect(bytes);
    for (const f of faces) {
      const [x, y, w, h] = f.bbox;
      expect(x).toBeGreaterThanOrEqual(0);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(x + w).toBeLessThanOrEqual(img.originalWidth + 0.01);
      expect(y + h).toBeLessThanOrEqual(img.originalHeight + 0.01);
      expect(f.score).toBeGreaterThanOrEqual(0.85);
      expect(f.landmarks).toHaveLength(5);
      for (const [px, py] of f.landmarks) {
        expect(px).toBeGreaterThan(x - 0.1 * w);
        expect(px).toBeLessThan(x + 1.1 * w);
        expect(py).toBeGreaterThan(y - 0.1 * h);
        expect(py).toBeLessThan(y + 1.1 * h);
      }
      // left eye left of right eye, eyes above the mouth
      expect(f.landmarks[0][0]).toBeLessThan(f.landmarks[1][0]);
      expect(f.landmarks[0][1]).toBeLessThan(f.landmarks[3][1]);
    }
    for (let i = 1; i < faces.length; i++) {
      const a = Math.round(faces[i - 1].score * 100);
      const b = Math.round(faces[i].score * 100);
      expect(a).toBeGreaterThanOrEqual(b);
      if (a === b) expect(faces[i - 1].bbox[2] * faces[i - 1].bbox[3]).toBeGreaterThanOrEqual(faces[i].bbox[2] * faces[i].bbox[3]);
    }
  });

  test("embeddings: 512-d, L2-normalised, deterministic; embed(face) equals analyze()", async () => {
    const bytes = faceApiSample(1);
    const a = await engine.analyze(bytes);
    const b = await engine.analyze(bytes);
    expect(a).toHaveLength(3);
    for (let i = 0; i < a.length; i++) {
      expect(a[i].embedding).toBeInstanceOf(Float32Array);
      expect(a[i].embedding.length).toBe(512);
      expect(Math.sqrt(dot(a[i].embedding, a[i].embedding))).toBeCloseTo(1, 5);
      expect(Array.from(b[i].embedding)).toEqual(Array.from(a[i].embedding));
    }
    // different people in one photo are far apart
    expect(dot(a[0].embedding, a[1].embedding)).toBeLessThan(0.4);
    const again = await engine.embed(bytes, a[0]);
    expect(dot(again, a[0].embedding)).toBeGreaterThan(0.999);
    expect(await engine.analyze(bytes, { maxFaces: 1 })).toHaveLength(1);
  });

  test("boxes are in original coordinates when the image is downscaled", async () => {
    const bytes = faceApiSample(1);
    const meta = await sharp(bytes).metadata();
    const factor = 2600 / meta.width!;
    const big = new Uint8Array(await sharp(bytes).resize(2600).jpeg({ quality: 95 }).toBuffer());
    expect((await decodeImage(big)).scale).toBeGreaterThan(1);
    const small = await engine.detect(bytes);
    const large = await engine.detect(big);
    sameBoxes(
      small.map((f) => ({ ...f, bbox: [f.bbox[0] * factor, f.bbox[1] * factor, f.bbox[2] * factor, f.bbox[3] * factor] })),
      large,
      0.1,
    );
  });

  test("EXIF orientation 6: the face is found and its box is in the upright image's coordinates", async () => {
    const upright = new Uint8Array(await sharp(faceApiSample(2)).toBuffer());
    const stored = new Uint8Array(await sharp(upright).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer());
    const um = await sharp(upright).metadata();
    const sm = await sharp(stored).metadata();
    expect([sm.width, sm.height, sm.orientation]).toEqual([um.height, um.width, 6]);
    sameBoxes(await engine.detect(upright), await engine.detect(stored), 0.1);
  });

  test("min face size drops small faces (original pixels)", async () => {
    const bytes = faceApiSample(1);
    const all = await engine.detect(bytes);
    const sizes = all.map((f) => Math.min(f.bbox[2], f.bbox[3])).sort((a, b) => a - b);
    const strict = await createEngine({ engine: "onnx", minFaceSize: (sizes[0] + sizes[1]) / 2 });
    try {
      const kept = await strict.detect(bytes);
      expect(kept).toHaveLength(all.length - 1);
      for (const f of kept) expect(Math.min(f.bbox[2], f.bbox[3])).toBeGreaterThanOrEqual(sizes[0]);
      // the same photo at a quarter of the size: every face is now under the default 40 px... or found at 0
      const tiny = new Uint8Array(await sharp(bytes).resize(Math.round((await sharp(bytes).metadata()).width! / 6)).jpeg().toBuffer());
      const tinyFaces = await engine.detect(tiny);
      for (const f of tinyFaces) expect(Math.min(f.bbox[2], f.bbox[3])).toBeGreaterThanOrEqual(40);
    } finally {
      await strict.dispose();
    }
  });

  test("a blank image has no face; embed refuses a face without 5 landmarks", async () => {
    const blank = new Uint8Array(await sharp({ create: { width: 320, height: 240, channels: 3, background: "#7f7f7f" } }).png().toBuffer());
    expect(await engine.detect(blank)).toEqual([]);
    expect(await engine.analyze(blank)).toEqual([]);
    let code = "";
    try {
      await engine.embed(faceApiSample(1), { bbox: [0, 0, 10, 10], score: 1, landmarks: [] });
    } catch (e) {
      code = FaceError.is(e) ? e.code : "other";
    }
    expect(code).toBe("INVALID_ARGUMENT");
  });

  test("decode errors surface as FaceError", async () => {
    let code = "";
    try {
      await engine.detect(new Uint8Array([1, 2, 3, 4]));
    } catch (e) {
      code = FaceError.is(e) ? e.code : "other";
    }
    expect(code).toBe("INVALID_IMAGE");
  });
});

describeDatasets("ONNX engine on the shared datasets", () => {
  // Counts observed with the defaults (threshold 0.85, min face 40 px), checked by eye.
  const GROUP: Record<string, number | [number, number]> = {
    "deepface_couple.jpg": 2,
    // two cut-off faces at the edges and a half face in front: genuinely ambiguous
    "deepface_selfie-many-people.jpg": [4, 6],
    "faceapijs_bbt1.jpg": 4,
    "faceapijs_bbt2.jpg": 3,
    "faceapijs_bbt3.jpg": 5,
    "faceapijs_bbt4.jpg": 6,
    "faceapijs_bbt5.jpg": 5,
    "facenetpytorch_multiface.jpg": 6,
    "fr_kit_with_rose.jpg": 2,
    "fr_obama_and_biden.jpg": 3,
    "fr_two_people.jpg": 2,
    "vladmandic_sample1.jpg": 3,
    "vladmandic_sample2.jpg": 3,
    "vladmandic_sample3.jpg": 3,
    "vladmandic_sample4.jpg": 4,
    "vladmandic_sample5.jpg": 5,
    "vladmandic_sample6.jpg": 4,
  };

  test("scenes/group face counts", async () => {
    const files = listDataset("scenes", "group");
    expect(files.sort()).toEqual(Object.keys(GROUP).sort());
    for (const f of files) {
      const n = (await engine.detect(readDataset("scenes", "group", f))).length;
      const want = GROUP[f];
      if (Array.isArray(want)) {
        expect(n).toBeGreaterThanOrEqual(want[0]);
        expect(n).toBeLessThanOrEqual(want[1]);
      } else {
        expect([f, n]).toEqual([f, want]);
      }
    }
  });

  test("no face on any scenes/noface image", async () => {
    for (const f of listDataset("scenes", "noface")) {
      expect([f, (await engine.detect(readDataset("scenes", "noface", f))).length]).toEqual([f, 0]);
    }
  });

  test("one face in each single-face photo (edge cases, large, aligned crops)", async () => {
    for (const dir of ["edge_cases", "large", "aligned160"]) {
      for (const f of listDataset("scenes", dir)) {
        if (f === "opencv_messi5_small_face.jpg") continue;
        const bytes = readDataset("scenes", dir, f);
        const faces = await engine.detect(bytes);
        expect([dir, f, faces.length]).toEqual([dir, f, 1]);
        const img = await decodeImage(bytes);
        const [x, y, w, h] = faces[0].bbox;
        expect(x + w).toBeLessThanOrEqual(img.originalWidth + 0.01);
        expect(y + h).toBeLessThanOrEqual(img.originalHeight + 0.01);
      }
    }
  });

  test("the small face in an action scene: dropped by MIN_FACE_SIZE=40, found with 0", async () => {
    const bytes = readDataset("scenes", "edge_cases", "opencv_messi5_small_face.jpg");
    expect(await engine.detect(bytes)).toHaveLength(0);
    const any = await createEngine({ engine: "onnx", minFaceSize: 0 });
    try {
      const faces = await any.detect(bytes);
      expect(faces).toHaveLength(1);
      expect(Math.min(faces[0].bbox[2], faces[0].bbox[3])).toBeLessThan(40);
    } finally {
      await any.dispose();
    }
  });

  async function embedAll(dir: string): Promise<{ who: string; emb: Float32Array }[]> {
    const out: { who: string; emb: Float32Array }[] = [];
    for (const who of listDataset("labelled", dir)) {
      for (const f of listDataset("labelled", dir, who)) {
        const faces = await engine.analyze(readDataset("labelled", dir, who, f), { maxFaces: 1 });
        expect([who, f, faces.length]).toEqual([who, f, 1]);
        out.push({ who, emb: faces[0].embedding });
      }
    }
    return out;
  }

  /** Every image's nearest other image shows the same person (people with one image are distractors only). */
  function expectSamePersonNearest(items: { who: string; emb: Float32Array }[]) {
    const count = (who: string) => items.filter((i) => i.who === who).length;
    let checked = 0;
    for (const a of items) {
      if (count(a.who) < 2) continue;
      let best = -2;
      let bestWho = "";
      for (const b of items) {
        if (b === a) continue;
        const s = dot(a.emb, b.emb);
        if (s > best) [best, bestWho] = [s, b.who];
      }
      expect([a.who, bestWho]).toEqual([a.who, a.who]);
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
    const same: number[] = [];
    const diff: number[] = [];
    for (const a of items) for (const b of items) if (a !== b) (a.who === b.who ? same : diff).push(dot(a.emb, b.emb));
    const mean = (v: number[]) => v.reduce((x, y) => x + y, 0) / v.length;
    expect(mean(same) - mean(diff)).toBeGreaterThan(0.4);
  }

  test("labelled/bbt (grayscale tight crops): same person nearest", async () => {
    const items = await embedAll("bbt");
    expect(items).toHaveLength(40);
    expectSamePersonNearest(items);
  });

  test("labelled/face_recognition (full scenes, JPEG and RGBA PNG): same person nearest", async () => {
    expectSamePersonNearest(await embedAll("face_recognition"));
  });
});
