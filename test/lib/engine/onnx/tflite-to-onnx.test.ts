import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { ARCFACE_TEMPLATE, createEngine, type FaceEngine } from "../../../../lib/engine/mod.ts";
import { tfliteToOnnx, TfliteFormatError } from "../../../../lib/engine/onnx/tflite-to-onnx.ts";
import { readTflite } from "../../../../lib/engine/onnx/tflite-schema.ts";
import { modelPath } from "../../../../models/manifest.ts";
import { ROOT } from "../../../helpers/datasets.ts";
import { recordSkip } from "../../../helpers/skips.ts";

setDefaultTimeout(60_000);

/** shared/reference-embeddings beside the checkout: 24 aligned LFW crops with the TFLite interpreter's outputs. */
// Else beside the datasets' folder (shared/ holds both), else beside the checkout.
const REFERENCE = resolve(
  ROOT,
  process.env.FACEGATE_REFERENCE_EMBEDDINGS ??
    (process.env.FACEGATE_DATASETS ? join(process.env.FACEGATE_DATASETS, "../reference-embeddings") : "../shared/reference-embeddings"),
);
const HAVE_REFERENCE = existsSync(join(REFERENCE, "mobilefacenet-tflite.json"));
if (!HAVE_REFERENCE && process.env.CI === "true") throw new Error(`CI=true but the reference embeddings are not at ${REFERENCE}`);
const ReferenceSchema = z.object({
  model: z.string(),
  faces: z.array(z.object({ aligned: z.string(), raw: z.array(z.number()).length(192), normalized: z.array(z.number()).length(192) })).min(1),
});

const tflite = () => new Uint8Array(readFileSync(modelPath("mobilefacenet")));

describe("TFLite → ONNX converter", () => {
  test("reads MobileFaceNet.tflite: one NHWC input, 230 ops, the PReLU pattern folded 33 times", () => {
    const m = readTflite(tflite());
    expect(m.tensors[m.inputs[0]].shape).toEqual([2, 112, 112, 3]);
    expect(m.tensors[m.outputs[0]].shape).toEqual([2, 192]);
    const converted = tfliteToOnnx(tflite());
    expect(converted.operators).toBe(230);
    expect(converted.prelus).toBe(33);
  });

  test("bytes that are not a TFLite model, or a truncated one, are a TfliteFormatError", () => {
    expect(() => tfliteToOnnx(new Uint8Array(64))).toThrow(TfliteFormatError);
    expect(() => tfliteToOnnx(new TextEncoder().encode("hello world, not a model"))).toThrow(TfliteFormatError);
    const bytes = tflite();
    expect(() => tfliteToOnnx(bytes.subarray(0, 100_000))).toThrow(TfliteFormatError);
  });
});

if (!HAVE_REFERENCE) {
  recordSkip({ suite: "MobileFaceNet against the TFLite interpreter", reason: `no reference outputs at ${REFERENCE}`, enable: "put shared/reference-embeddings beside the datasets" });
} else {
  describe("MobileFaceNet against the TFLite interpreter", () => {
    let engine: FaceEngine;
    beforeAll(async () => {
      engine = await createEngine({ engine: "onnx", executionProvider: "cpu", embedders: ["mobilefacenet"] });
    });
    afterAll(async () => {
      await engine?.dispose();
    });

    test("the engine's embedding of each aligned crop is within 1e-4 of the interpreter's (normalised output)", async () => {
      const ref = ReferenceSchema.parse(JSON.parse(readFileSync(join(REFERENCE, "mobilefacenet-tflite.json"), "utf8")));
      expect(engine.info().modelId).toBe("mobilefacenet@d8ba40c0");
      expect(engine.info().embeddingDim).toBe(192);
      let worst = 0;
      for (const face of ref.faces) {
        const image = new Uint8Array(readFileSync(join(REFERENCE, face.aligned)));
        // the crop is already aligned: the template's own points make the warp the identity
        const landmarks = ARCFACE_TEMPLATE.map(([x, y]) => [x, y] as [number, number]);
        const e = await engine.embed(image, { bbox: [0, 0, 112, 112], score: 1, landmarks });
        for (let k = 0; k < 192; k++) worst = Math.max(worst, Math.abs(e[k] - face.normalized[k]));
      }
      expect(worst).toBeLessThan(1e-4);
    });
  });
}
