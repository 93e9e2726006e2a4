/**
 * An engine spread over worker threads. onnxruntime-node's `session.run` blocks the calling
 * thread for the whole inference (measured: event-loop stalls equal to the run time, in Bun and
 * in Node), so a server that must stay responsive runs the engine here instead: each worker owns
 * a full engine with one ORT thread, requests go to the least busy worker.
 */
import { FaceError, isErrorCode, type DetectedFace, type EngineInfo } from "../core/mod.ts";
import type { EngineConfig } from "./config.ts";
import type { WorkerReply, WorkerRequest } from "./engine-worker.ts";
import { isDecodedImage } from "./image.ts";
import type { AnalyzedFace, AnalyzeOptions, FaceEngine, ImageSource } from "./types.ts";
import { siblingModule } from "../core/util.ts";

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };
type Payload = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

class EngineWorker {
  readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  busy = 0;
  private failed: Error | undefined;

  constructor() {
    this.worker = new Worker(siblingModule("engine-worker", import.meta.url));
    this.worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const reply = event.data;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else {
        const code = isErrorCode(reply.error.code) ? reply.error.code : "INTERNAL";
        p.reject(new FaceError(code, reply.error.message));
      }
    };
    this.worker.onerror = (event) => {
      this.failed = new Error(`engine worker failed: ${event.message}`);
      for (const p of this.pending.values()) p.reject(new FaceError("UNAVAILABLE", this.failed.message, { cause: this.failed }));
      this.pending.clear();
    };
  }

  call(payload: Payload, transfer: Transferable[] = []): Promise<unknown> {
    if (this.failed) return Promise.reject(new FaceError("UNAVAILABLE", this.failed.message));
    const id = this.nextId++;
    this.busy++;
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...payload, id }, transfer);
    }).finally(() => {
      this.busy--;
    });
  }
}

/** Copies the image so the caller's buffer is never detached; strings and decoded images pass as they are. */
function portable(image: ImageSource): unknown {
  if (typeof image === "string" || isDecodedImage(image)) return image;
  if (image instanceof ArrayBuffer) return new Uint8Array(image.slice(0));
  return new Uint8Array(image);
}

export class WorkerPoolEngine implements FaceEngine {
  private constructor(
    private readonly workers: EngineWorker[],
    private readonly engineInfo: EngineInfo,
  ) {}

  static async create(config: EngineConfig, size: number): Promise<WorkerPoolEngine> {
    const workers = Array.from({ length: size }, () => new EngineWorker());
    try {
      const infos = (await Promise.all(workers.map((w) => w.call({ op: "init", config: { ...config, workers: 0 } })))) as EngineInfo[];
      const info = infos[0];
      return new WorkerPoolEngine(workers, { ...info, backend: `${info.backend} x${size} workers` });
    } catch (error) {
      for (const w of workers) w.worker.terminate();
      throw error;
    }
  }

  private pick(): EngineWorker {
    return this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  info(): EngineInfo {
    return { ...this.engineInfo, models: [...this.engineInfo.models] };
  }

  async detect(image: ImageSource): Promise<DetectedFace[]> {
    return (await this.pick().call({ op: "detect", image: portable(image) })) as DetectedFace[];
  }

  async embed(image: ImageSource, face: DetectedFace): Promise<Float32Array> {
    return (await this.pick().call({ op: "embed", image: portable(image), face })) as Float32Array;
  }

  async analyze(image: ImageSource, options?: AnalyzeOptions): Promise<AnalyzedFace[]> {
    return (await this.pick().call({ op: "analyze", image: portable(image), options })) as AnalyzedFace[];
  }

  async dispose(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.call({ op: "dispose" })));
    for (const w of this.workers) w.worker.terminate();
  }
}
