/**
 * An engine spread over worker threads. onnxruntime-node's `session.run` blocks the calling
 * thread for the whole inference (measured: event-loop stalls equal to the run time, in Bun and
 * in Node), so a server that must stay responsive runs the engine here instead: each worker owns
 * a full engine with one ORT thread, requests go to the least busy worker.
 *
 * Supervision: a worker that dies (uncaught error, exit) fails its pending calls at once with
 * INTERNAL and is replaced; a call that takes longer than `callTimeoutMs` fails with TIMEOUT and
 * its worker (stuck, or far behind) is recycled the same way. Calls never wait forever, so they
 * never hold an admission slot forever.
 */
import { FaceError, isErrorCode, type DetectedFace, type EngineInfo } from "../core/mod.ts";
import type { EngineConfig } from "./config.ts";
import type { WorkerReply, WorkerRequest } from "./worker-protocol.ts";
import { isDecodedImage } from "./image/image.ts";
import type { AnalyzedFace, AnalyzeOptions, DetectOptions, FaceEngine, ImageSource } from "./types.ts";
import { siblingModule } from "../core/internal.ts";

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer?: ReturnType<typeof setTimeout> };
type Payload = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** Loading three ONNX models can take seconds on a busy machine; not bounded by the call timeout. */
const INIT_TIMEOUT_MS = 120_000;
/** Back-off between replacements of a worker that keeps dying (ms, doubled up to the maximum). */
const RESTART_DELAY_MS = 100;
const RESTART_DELAY_MAX_MS = 10_000;

export interface PoolStats {
  size: number;
  /** Workers initialised and taking calls. */
  ready: number;
  /** Workers replaced since the pool started (died or recycled after a timeout). */
  restarts: number;
  /** Calls failed because their worker died or timed out. */
  failedCalls: number;
}

class EngineWorker {
  readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  busy = 0;
  ready = false;
  dead = false;

  constructor(private readonly onDeath: (w: EngineWorker, reason: string) => void) {
    this.worker = new Worker(siblingModule("engine-worker", import.meta.url));
    this.worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      const reply = event.data;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.settle(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else {
        const code = isErrorCode(reply.error.code) ? reply.error.code : "INTERNAL";
        p.reject(new FaceError(code, reply.error.message));
      }
    };
    this.worker.onerror = (event) => {
      event.preventDefault?.();
      this.die(`engine worker failed: ${event.message}`);
    };
    this.worker.addEventListener("close", () => this.die("engine worker exited"));
  }

  private settle(id: number): void {
    const p = this.pending.get(id);
    if (p?.timer) clearTimeout(p.timer);
    this.pending.delete(id);
  }

  /** Fails every pending call with INTERNAL and reports the death once. */
  die(reason: string, except?: number): number {
    if (this.dead) return 0;
    this.dead = true;
    this.ready = false;
    let failed = 0;
    for (const [id, p] of [...this.pending]) {
      this.settle(id);
      if (id === except) continue;
      failed++;
      p.reject(new FaceError("INTERNAL", `${reason}; the call was lost and the worker is being replaced`));
    }
    try {
      this.worker.terminate();
    } catch {
      // already gone
    }
    this.onDeath(this, reason);
    return failed;
  }

  call(payload: Payload, timeoutMs: number, transfer: Transferable[] = []): Promise<unknown> {
    if (this.dead) return Promise.reject(new FaceError("INTERNAL", "engine worker is not running"));
    const id = this.nextId++;
    this.busy++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(id);
        reject(new FaceError("TIMEOUT", `engine call (${payload.op}) took longer than ${timeoutMs} ms; its worker is being replaced`));
        this.die(`engine worker did not answer a ${payload.op} call within ${timeoutMs} ms`, id);
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
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
  private readonly workers: EngineWorker[] = [];
  private restarts = 0;
  private failedCalls = 0;
  private consecutiveFailures = 0;
  private disposed = false;
  /** Calls waiting for a worker while none is ready (all being replaced). */
  private waiting: (() => void)[] = [];
  private engineInfo!: EngineInfo;

  private constructor(
    private readonly config: EngineConfig,
    private readonly size: number,
  ) {}

  static async create(config: EngineConfig, size: number): Promise<WorkerPoolEngine> {
    const pool = new WorkerPoolEngine(config, size);
    const infos: EngineInfo[] = [];
    try {
      for (let i = 0; i < size; i++) pool.workers.push(pool.spawn());
      infos.push(...(await Promise.all(pool.workers.map((w) => pool.init(w)))));
    } catch (error) {
      pool.disposed = true;
      for (const w of pool.workers) w.worker.terminate();
      throw error;
    }
    pool.engineInfo = { ...infos[0], backend: `${infos[0].backend} x${size} workers` };
    return pool;
  }

  private spawn(): EngineWorker {
    return new EngineWorker((w, reason) => this.replace(w, reason));
  }

  private async init(w: EngineWorker): Promise<EngineInfo> {
    const info = (await w.call({ op: "init", config: { ...this.config, workers: 0 } }, INIT_TIMEOUT_MS)) as EngineInfo;
    w.ready = true;
    for (const wake of this.waiting.splice(0)) wake();
    return info;
  }

  /** A dead worker's slot gets a fresh worker (after a back-off when replacements keep failing). */
  private replace(dead: EngineWorker, reason: string): void {
    if (this.disposed) return;
    const i = this.workers.indexOf(dead);
    if (i < 0) return;
    this.restarts++;
    console.warn(`facegate engine: ${reason}; replacing the worker`);
    const delay = Math.min(RESTART_DELAY_MAX_MS, this.consecutiveFailures === 0 ? 0 : RESTART_DELAY_MS * 2 ** (this.consecutiveFailures - 1));
    setTimeout(() => {
      if (this.disposed || this.workers[i] !== dead) return;
      const fresh = this.spawn();
      this.workers[i] = fresh;
      this.init(fresh).then(
        () => {
          this.consecutiveFailures = 0;
        },
        () => {
          this.consecutiveFailures++;
          // init failed: its death handler (or this one) schedules the next try
          if (!fresh.dead) fresh.die("engine worker failed to start");
        },
      );
    }, delay);
  }

  stats(): PoolStats {
    return {
      size: this.size,
      ready: this.workers.filter((w) => w.ready).length,
      restarts: this.restarts,
      failedCalls: this.failedCalls,
    };
  }

  /** The least busy ready worker; while none is ready, waits (bounded by the call timeout). */
  private async pick(): Promise<EngineWorker> {
    if (this.disposed) throw new FaceError("UNAVAILABLE", "engine is disposed");
    const deadline = Date.now() + this.config.callTimeoutMs;
    for (;;) {
      let best: EngineWorker | undefined;
      for (const w of this.workers) if (w.ready && (!best || w.busy < best.busy)) best = w;
      if (best) return best;
      const left = deadline - Date.now();
      if (left <= 0 || this.disposed) throw new FaceError("UNAVAILABLE", "no engine worker is running (being replaced)");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private async call(payload: Payload): Promise<unknown> {
    const w = await this.pick();
    try {
      return await w.call(payload, this.config.callTimeoutMs);
    } catch (error) {
      if (FaceError.is(error) && (error.code === "INTERNAL" || error.code === "TIMEOUT") && w.dead) this.failedCalls++;
      throw error;
    }
  }

  info(): EngineInfo {
    return { ...this.engineInfo, models: [...this.engineInfo.models] };
  }

  async detect(image: ImageSource, options?: DetectOptions): Promise<DetectedFace[]> {
    return (await this.call({ op: "detect", image: portable(image), options })) as DetectedFace[];
  }

  async embed(image: ImageSource, face: DetectedFace): Promise<Float32Array> {
    return (await this.call({ op: "embed", image: portable(image), face })) as Float32Array;
  }

  async analyze(image: ImageSource, options?: AnalyzeOptions): Promise<AnalyzedFace[]> {
    return (await this.call({ op: "analyze", image: portable(image), options })) as AnalyzedFace[];
  }

  /** Ends one worker thread as a crash would (its calls fail, it is replaced): for tests and drills. */
  killWorker(index = 0): void {
    this.workers[index]?.worker.terminate();
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.allSettled(this.workers.filter((w) => !w.dead).map((w) => w.call({ op: "dispose" }, 5_000)));
    for (const w of this.workers) {
      w.dead = true;
      w.worker.terminate();
    }
  }
}
