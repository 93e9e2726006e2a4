import { describe, expect, test } from "bun:test";
import { FaceError } from "../../../lib/core/mod.ts";
import { EngineConfigSchema, loadEngineConfig, resolveEngineConfig } from "../../../lib/engine/config.ts";
import { DEFAULT_IMAGE_LIMITS } from "../../../lib/engine/image/image.ts";

function errorOf(fn: () => unknown): FaceError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FaceError) return e;
    throw e;
  }
  throw new Error("expected a FaceError");
}

describe("loadEngineConfig", () => {
  test("defaults with an empty environment", () => {
    const c = loadEngineConfig({});
    expect(c.engine).toBe("onnx");
    expect(c.detectionThreshold).toBe(0.85);
    expect(c.minFaceSize).toBe(40);
    expect(c.ortThreads).toBe(1);
    expect(c.executionProvider).toBe("auto");
    expect(c.insightfaceDetector).toBeUndefined();
    expect(c.imageLimits).toEqual(DEFAULT_IMAGE_LIMITS);
  });

  test("reads every variable", () => {
    const c = loadEngineConfig({
      FACE_ENGINE: "human",
      FACE_DETECTION_THRESHOLD: "0.6",
      MIN_FACE_SIZE: "64",
      ORT_THREADS: "2",
      FACE_EXECUTION_PROVIDER: "CPU",
      INSIGHTFACE_DETECTOR: "/m/det_10g.onnx",
      INSIGHTFACE_RECOGNIZER: "/m/w600k_r50.onnx",
      MAX_IMAGE_BYTES: "1000",
      MAX_IMAGE_PIXELS: "2000000",
      MAX_IMAGE_SIDE: "4000",
    });
    expect(c).toMatchObject({
      engine: "human",
      detectionThreshold: 0.6,
      minFaceSize: 64,
      ortThreads: 2,
      executionProvider: "cpu",
      insightfaceDetector: "/m/det_10g.onnx",
      insightfaceRecognizer: "/m/w600k_r50.onnx",
      imageLimits: { maxBytes: 1000, maxPixels: 2_000_000, maxDimension: 4000, downscaleTo: 1920 },
    });
  });

  test("empty values take the defaults", () => {
    expect(loadEngineConfig({ FACE_ENGINE: "", ORT_THREADS: " " })).toEqual(loadEngineConfig({}));
  });

  test.each([
    ["FACE_ENGINE", "tensorflow"],
    ["FACE_DETECTION_THRESHOLD", "1.5"],
    ["FACE_DETECTION_THRESHOLD", "-0.1"],
    ["FACE_DETECTION_THRESHOLD", "high"],
    ["MIN_FACE_SIZE", "-1"],
    ["ORT_THREADS", "0"],
    ["ORT_THREADS", "1.5"],
    ["FACE_EXECUTION_PROVIDER", "tpu"],
    ["MAX_IMAGE_BYTES", "10MB"],
    ["MAX_IMAGE_PIXELS", "0"],
    ["MAX_IMAGE_SIDE", "abc"],
  ])("%s=%s is refused with a message naming the variable", (name, value) => {
    const e = errorOf(() => loadEngineConfig({ [name]: value }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain(name);
    expect(e.message).toContain(value);
  });
});

describe("resolveEngineConfig", () => {
  test("explicit settings override the environment; image limits merge", () => {
    const c = resolveEngineConfig({ minFaceSize: 10, imageLimits: { maxBytes: 5 } as never }, { MIN_FACE_SIZE: "80", MAX_IMAGE_SIDE: "3000" });
    expect(c.minFaceSize).toBe(10);
    expect(c.imageLimits.maxBytes).toBe(5);
    expect(c.imageLimits.maxDimension).toBe(3000);
  });

  test("invalid explicit settings are refused", () => {
    const e = errorOf(() => resolveEngineConfig({ detectionThreshold: 2 }, {}));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("detectionThreshold");
  });

  test("the schema fills defaults", () => {
    expect(EngineConfigSchema.parse({}).engine).toBe("onnx");
  });
});

describe("FACE_EMBEDDERS", () => {
  test("one recognizer, or two for fusion; fr_feature alone by default", () => {
    expect(loadEngineConfig({}).embedders).toEqual(["fr_feature"]);
    expect(loadEngineConfig({ FACE_EMBEDDERS: "mobilefacenet" }).embedders).toEqual(["mobilefacenet"]);
    expect(loadEngineConfig({ FACE_EMBEDDERS: " fr_feature , MobileFaceNet" }).embedders).toEqual(["fr_feature", "mobilefacenet"]);
  });

  test("unknown names, repeats and more than two are refused naming the variable", () => {
    for (const value of ["arcface", "fr_feature,fr_feature", "fr_feature,mobilefacenet,fr_feature", "fr_feature,"]) {
      const e = errorOf(() => loadEngineConfig({ FACE_EMBEDDERS: value }));
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).toContain("FACE_EMBEDDERS");
    }
  });
});
