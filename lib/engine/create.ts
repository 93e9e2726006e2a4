/**
 * createEngine: the configured engine, in-process or in worker threads. Its own module (not mod.ts)
 * so that the worker thread (engine-worker.ts) can import it without importing the package face.
 */
import { resolveEngineConfig, type EngineConfigInput } from "./config.ts";
import type { FaceEngine } from "./types.ts";

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
