/**
 * Builds the default ONNX engine from the npm models (fr_detect, fr_landmark, fr_feature), or
 * from InsightFace-format files named in the configuration.
 */
import { modelPath, loadManifest } from "../../../models/manifest.ts";
import { FaceError } from "../../core/mod.ts";
import type { Candidate } from "../boxes.ts";
import type { EngineConfig } from "../config.ts";
import { UltraFaceDetector } from "./detector.ts";
import { readFileSync } from "node:fs";
import type { EmbeddingPart } from "../../core/mod.ts";
import type { EmbedderName } from "../config.ts";
import { Embedder, type FaceEmbedder } from "./embedder.ts";
import { FusedEmbedder, fusedModelId, fusionWeight } from "./fusion.ts";
import { tfliteToOnnx, type ConvertedModel } from "./tflite-to-onnx.ts";
import { fivePoints, LandmarkModel, landmarkCrop, refinedCrop } from "./landmarks.ts";
import { OnnxEngine, type FaceLocator, type LocatedPoints } from "./onnx-engine.ts";
import { stageEnd, stageStart } from "../profile.ts";
import { createSession, type LoadedSession, type ort, type Provider } from "./ort.ts";
import type { DecodedImage, FaceEngine } from "../types.ts";
import { loadInsightFaceDetector, loadInsightFaceRecognizer } from "./insightface.ts";

/** fr_detect boxes, then fr_landmark's 68 points reduced to 5. */
export class UltraFaceLocator implements FaceLocator {
  constructor(
    private readonly detector: UltraFaceDetector,
    private readonly landmarks: LandmarkModel,
  ) {}
  candidates(img: DecodedImage, threshold: number, nmsIou: number): Promise<Candidate[]> {
    return this.detector.detect(img, threshold, nmsIou);
  }
  async points(img: DecodedImage, face: Candidate): Promise<LocatedPoints> {
    const crop = landmarkCrop(face);
    let t = stageStart();
    const first = await this.landmarks.predict(img, crop);
    stageEnd("landmarks.1", t);
    t = stageStart();
    const dense = await this.landmarks.predict(img, refinedCrop(crop, first));
    stageEnd("landmarks.2", t);
    return { five: fivePoints(dense), dense };
  }
}

function manifestModel(name: string): { path: string; id: string } {
  let path: string;
  try {
    path = modelPath(name);
  } catch (cause) {
    throw new FaceError("UNAVAILABLE", cause instanceof Error ? cause.message : String(cause), { cause });
  }
  const entry = loadManifest().find((m) => m.name === name);
  return { path, id: `${name}@${entry?.sha256.slice(0, 8) ?? "unknown"}` };
}

/** A manifest recognizer by name: fr_feature (ONNX), or MobileFaceNet (TFLite, converted to ONNX at load). */
async function loadRecognizer(name: EmbedderName, open: (model: string | Uint8Array) => Promise<ort.InferenceSession>): Promise<{ embedder: Embedder; id: string }> {
  const model = manifestModel(name);
  if (name === "fr_feature") return { embedder: new Embedder(await open(model.path), { mean: 127, std: 128 }), id: model.id };
  let converted: ConvertedModel;
  try {
    converted = tfliteToOnnx(new Uint8Array(readFileSync(model.path)));
  } catch (cause) {
    throw new FaceError("INVALID_ARGUMENT", `${model.path} cannot be converted from TFLite: ${(cause as Error).message}`, { cause });
  }
  return { embedder: new Embedder(await open(converted.bytes), { mean: 127.5, std: 128 }), id: model.id };
}

function backendOf(sessions: LoadedSession[]): string {
  const provider: Provider = sessions.every((s) => s.provider === "cuda") ? "cuda" : "cpu";
  return `onnxruntime-node/${provider}`;
}

export async function createOnnxEngine(config: EngineConfig): Promise<FaceEngine> {
  const opts = { threads: config.ortThreads, provider: config.executionProvider };
  const sessions: LoadedSession[] = [];
  const open = async (path: string | Uint8Array, role: "detector" | "landmarks" | "recognizer") => {
    // Every model keeps ORT's NCHWc layout pass: with onnxruntime 1.30 it makes fr_feature faster
    // too (bench:ort-options), where an older runtime made it 3x slower (docs/engine.md).
    const s = await createSession(path, opts);
    sessions.push(s);
    if (s.fallbackReason && config.executionProvider === "cuda") {
      console.warn(`facegate engine: CUDA requested but not used (${s.fallbackReason}); running on CPU`);
    }
    return s.session;
  };
  try {
    let locator: FaceLocator;
    const models: string[] = [];
    if (config.insightfaceDetector) {
      const det = await loadInsightFaceDetector(config.insightfaceDetector, (p) => open(p, "detector"));
      locator = det.locator;
      models.push(det.id);
    } else {
      const det = manifestModel("fr_detect");
      const lmk = manifestModel("fr_landmark");
      locator = new UltraFaceLocator(new UltraFaceDetector(await open(det.path, "detector")),
        new LandmarkModel(await open(lmk.path, "landmarks")),
      );
      models.push(det.id, lmk.id);
    }
    const recognizers: { embedder: Embedder; id: string }[] = [];
    for (const [i, name] of config.embedders.entries()) {
      if (i === 0 && config.insightfaceRecognizer) {
        recognizers.push(await loadInsightFaceRecognizer(config.insightfaceRecognizer, (p) => open(p, "recognizer")));
      } else {
        recognizers.push(await loadRecognizer(name, (m) => open(m, "recognizer")));
      }
    }
    const ids = recognizers.map((r) => r.id);
    models.push(...ids);
    let embedder: FaceEmbedder = recognizers[0].embedder;
    let modelId = ids[0];
    let parts: EmbeddingPart[] | undefined;
    if (recognizers.length === 2) {
      const fused = new FusedEmbedder(recognizers.map((r) => r.embedder), ids, fusionWeight(config.embedders));
      embedder = fused;
      parts = fused.parts;
      modelId = fusedModelId(fused.parts);
    }
    const info = { engine: "onnx", backend: backendOf(sessions), modelId, embeddingDim: embedder.dim, models, ...(parts ? { parts } : {}) };
    const release = async () => {
      await Promise.all(sessions.splice(0).map((s) => s.session.release()));
    };
    return new OnnxEngine(locator, embedder, config, info, release);
  } catch (error) {
    await Promise.all(sessions.map((s) => s.session.release().catch(() => undefined)));
    throw error;
  }
}
