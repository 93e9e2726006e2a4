/**
 * facegate/engine: image bytes → faces and embeddings.
 *
 *   const engine = await createEngine();            // FACE_ENGINE etc. from the environment
 *   const faces = await engine.analyze(jpegBytes);  // ordered by preference, with embeddings
 */
export { createEngine } from "./create.ts";
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
