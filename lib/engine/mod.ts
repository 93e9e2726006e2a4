/**
 * facegate/engine: image bytes → faces and embeddings.
 *
 *   const engine = await createEngine();            // FACE_ENGINE etc. from the environment
 *   const faces = await engine.analyze(jpegBytes);  // ordered by preference, with embeddings
 */
import { resolveEngineConfig, type EngineConfig, type EngineConfigInput } from "./config.ts";
import type { FaceEngine } from "./types.ts";


export {
  EngineConfigSchema,
  ImageLimitsSchema,
  loadEngineConfig,
  parseEngineConfig,
  resolveEngineConfig,
  type EngineConfig,
  type EngineConfigInput,
} from "./config.ts";
export { decodeImage, DEFAULT_IMAGE_LIMITS, base64ToBytes, type ImageLimits } from "./image/image.ts";
export { readImageHeader } from "./image/sniff.ts";
export type { AnalyzedFace, AnalyzeOptions, DecodedImage, DetectOptions, FaceEngine, ImageSource } from "./types.ts";
export { ARCFACE_TEMPLATE, estimateSimilarity } from "./onnx/align.ts";
export { cudaLibraryPresent } from "./onnx/ort.ts";
export { EngineProbe, type EngineProbeOptions } from "./probe.ts";
export type { PoolStats } from "./worker-pool.ts";
export { recordStages, STAGES, type Stage, type StageRecorder } from "./profile.ts";

/**
 * Creates the configured engine. Settings come from the environment (`loadEngineConfig`), then
 * from `config`, which overrides them. FACE_ENGINE=human loads the Human engine lazily so the
 * ONNX path never imports TensorFlow.js. With `workers: N` (FACE_ENGINE_WORKERS) the engine runs in
 * N worker threads and the calling thread's event loop stays free during inference.
 */
export async function createEngine(config: Partial<EngineConfigInput> = {}): Promise<FaceEngine> {
  const resolved = resolveEngineConfig(config);
  if (resolved.workers > 0) {
    const { WorkerPoolEngine } = await import("./worker-pool.ts");
    return WorkerPoolEngine.create(resolved, resolved.workers);
  }
  if (resolved.engine === "human") {
    const { createHumanEngine } = await import("./human/human.ts");
    return createHumanEngine(resolved);
  }
  const { createOnnxEngine } = await import("./onnx/onnx.ts");
  return createOnnxEngine(resolved);
}
