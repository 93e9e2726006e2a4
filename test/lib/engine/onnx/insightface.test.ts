import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { modelPath } from "../../../../models/manifest.ts";
import { createEngine } from "../../../../lib/engine/mod.ts";
import { ScrfdLocator } from "../../../../lib/engine/onnx/insightface.ts";
import type { ort } from "../../../../lib/engine/onnx/ort.ts";
import type { DecodedImage } from "../../../../lib/engine/types.ts";
import { faceApiSample } from "../../../helpers/datasets.ts";
import { errorOf } from "../../../helpers/errors.ts";

setDefaultTimeout(60_000);

describe("InsightFace-format models by path", () => {
  test("fr_feature.onnx passes the ArcFace-style recognizer checks and embeds", async () => {
    const engine = await createEngine({ engine: "onnx", insightfaceRecognizer: modelPath("fr_feature") });
    try {
      const info = engine.info();
      expect(info.modelId).toMatch(/^fr_feature@87aacdfe$/);
      expect(info.embeddingDim).toBe(512);
      const faces = await engine.analyze(faceApiSample(1));
      expect(faces).toHaveLength(3);
      const e = faces[0].embedding;
      expect(e.length).toBe(512);
      expect(Math.sqrt(e.reduce((s, v) => s + v * v, 0))).toBeCloseTo(1, 5);
      // ArcFace normalisation (x-127.5)/127.5 vs fr_feature's (x-127)/128: nearly the same embedding
      const reference = await createEngine({ engine: "onnx" });
      const r = (await reference.analyze(faceApiSample(1)))[0].embedding;
      await reference.dispose();
      expect(e.reduce((s, v, i) => s + v * r[i], 0)).toBeGreaterThan(0.95);
    } finally {
      await engine.dispose();
    }
  });

  test("fr_detect.onnx named as the SCRFD detector is refused with a clear message", async () => {
    const e = await errorOf(createEngine({ engine: "onnx", insightfaceDetector: modelPath("fr_detect") }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("fr_detect.onnx is not an SCRFD-style detector");
    expect(e.message).toContain("expected 9 outputs");
  });

  test("a detector named as the recognizer is refused", async () => {
    const e = await errorOf(createEngine({ engine: "onnx", insightfaceRecognizer: modelPath("fr_detect") }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("not an ArcFace-style recognizer");
    expect(e.message).toContain("[1,3,112,112]");
  });

  test("a missing file and a non-ONNX file are refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "facegate-if-"));
    try {
      const missing = await errorOf(createEngine({ engine: "onnx", insightfaceRecognizer: join(dir, "nope.onnx") }));
      expect(missing.code).toBe("INVALID_ARGUMENT");
      expect(missing.message).toContain("not found");
      const junk = join(dir, "junk.onnx");
      writeFileSync(junk, "this is not a protobuf model\n".repeat(100));
      const bad = await errorOf(createEngine({ engine: "onnx", insightfaceDetector: junk }));
      expect(bad.code).toBe("INVALID_ARGUMENT");
      expect(bad.message).toContain("could not load ONNX model");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("environment variables select the files", async () => {
    const { loadEngineConfig } = await import("../../../../lib/engine/config.ts");
    const c = loadEngineConfig({ INSIGHTFACE_DETECTOR: "/x/det_10g.onnx", INSIGHTFACE_RECOGNIZER: "/x/w600k_r50.onnx" });
    expect([c.insightfaceDetector, c.insightfaceRecognizer]).toEqual(["/x/det_10g.onnx", "/x/w600k_r50.onnx"]);
  });
});

/**
 * No SCRFD model is obtainable here (none on npm), so its output decoding is checked against a
 * stand-in session that returns hand-made tensors in InsightFace's output layout.
 */
describe("SCRFD output decoding", () => {
  const W = 640;
  const strides = [8, 16, 32];
  const names = [...strides.map((s) => `score_${s}`), ...strides.map((s) => `bbox_${s}`), ...strides.map((s) => `kps_${s}`)];
  const lastDims = [1, 1, 1, 4, 4, 4, 10, 10, 10];

  function fakeSession(fill: (outputs: Float32Array[]) => void, inputShape = [1, 3, W, W], outs = names): ort.InferenceSession {
    const sizes = strides.map((s) => (W / s) ** 2 * 2);
    const outputs = [...sizes, ...sizes.map((n) => n * 4), ...sizes.map((n) => n * 10)].map((n) => new Float32Array(n));
    fill(outputs);
    return {
      inputNames: ["input.1"],
      outputNames: outs,
      inputMetadata: [{ name: "input.1", isTensor: true, type: "float32", shape: inputShape }],
      outputMetadata: outs.map((name, i) => ({ name, isTensor: true, type: "float32", shape: [-1, lastDims[i] ?? 1] })),
      run: async () => Object.fromEntries(outs.map((n, i) => [n, { data: outputs[i], dispose() {} }])),
    } as unknown as ort.InferenceSession;
  }

  const image = (w: number, h: number): DecodedImage => ({
    data: new Uint8Array(w * h * 3),
    width: w,
    height: h,
    channels: 3,
    originalWidth: w,
    originalHeight: h,
    scale: 1,
  });

  test("a face at stride 16 is decoded to image coordinates (letterbox scale undone)", async () => {
    // cell (x=10, y=5) of the 40x40 stride-16 map, second anchor → index (5*40+10)*2+1
    const i = (5 * 40 + 10) * 2 + 1;
    const session = fakeSession((o) => {
      o[1][i] = 0.9;
      o[4].set([2, 3, 4, 5], 4 * i); // distances in stride units
      o[7].set([0, 0, 1, 0, 0.5, 1, 0, 2, 1, 2], 10 * i);
    });
    const locator = new ScrfdLocator(session, "fake.onnx");
    // a 1280x960 image is letterboxed at scale 0.5 into 640x640
    const found = await locator.candidates(image(1280, 960), 0.5, 0.4);
    expect(found).toHaveLength(1);
    const [cx, cy] = [10 * 16, 5 * 16];
    const c = found[0];
    expect(c.score).toBeCloseTo(0.9, 6);
    expect([c.x1, c.y1, c.x2, c.y2]).toEqual([(cx - 32) * 2, (cy - 48) * 2, (cx + 64) * 2, (cy + 80) * 2]);
    expect((await locator.points(image(1280, 960), c)).five).toEqual([
      [cx * 2, cy * 2],
      [(cx + 16) * 2, cy * 2],
      [(cx + 8) * 2, (cy + 16) * 2],
      [cx * 2, (cy + 32) * 2],
      [(cx + 16) * 2, (cy + 32) * 2],
    ]);
    // below the threshold: nothing
    expect(await locator.candidates(image(1280, 960), 0.95, 0.4)).toHaveLength(0);
  });

  test("shape checks: output count, output layout, input channels", () => {
    expect(() => new ScrfdLocator(fakeSession(() => {}, [1, 3, W, W], names.slice(0, 6)), "six.onnx")).toThrow(/expected 9 outputs/);
    const swapped = [...names.slice(3, 6), ...names.slice(0, 3), ...names.slice(6)];
    const s = fakeSession(() => {}, [1, 3, W, W], swapped);
    (s as unknown as { outputMetadata: { shape: number[] }[] }).outputMetadata.forEach((m, i) => {
      m.shape = [-1, [4, 4, 4, 1, 1, 1, 10, 10, 10][i]];
    });
    expect(() => new ScrfdLocator(s, "swapped.onnx")).toThrow(/should end in 1/);
    expect(() => new ScrfdLocator(fakeSession(() => {}, [1, 1, W, W]), "gray.onnx")).toThrow(/\[1,3,H,W\]/);
  });
});
