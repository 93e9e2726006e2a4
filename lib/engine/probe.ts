/**
 * Engine health: a tiny built-in image through the whole pipeline (decode, detector, alignment,
 * recognizer), cached so health checks cost one run per `ttlMs` however often they are polled.
 */
import type { DetectedFace, EngineCheck } from "../core/mod.ts";
import { ARCFACE_TEMPLATE } from "./onnx/align.ts";
import type { FaceEngine } from "./types.ts";

/** A 64x48 mid-gray JPEG (283 bytes). */
const PROBE_JPEG =
  "/9j/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAwAEADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAH/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFAEBAAAAAAAAAAAAAAAAAAAAAP/EABQRAQAAAAAAAAAAAAAAAAAAAAD/2gAMAwEAAhEDEQA/AIAAAAAAAAAAAAAAAAAAAAAAAD//2Q==";

/** A made-up face on the probe image (the template's points, scaled to 48 px) so the recognizer runs too. */
const PROBE_FACE: DetectedFace = {
  bbox: [8, 0, 48, 48],
  score: 1,
  landmarks: ARCFACE_TEMPLATE.map(([x, y]) => [8 + (x * 48) / 112, (y * 48) / 112] as [number, number]),
};

type WithStats = FaceEngine & { stats?: () => NonNullable<EngineCheck["workers"]> };

export interface EngineProbeOptions {
  /** How long a result is reused (ms). */
  ttlMs?: number;
  /** A probe slower than this counts as failed (ms). */
  timeoutMs?: number;
}

export class EngineProbe {
  private last: { at: number; result: EngineCheck } | undefined;
  private running: Promise<EngineCheck> | undefined;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly engine: FaceEngine,
    opts: EngineProbeOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 10_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /**
   * The last result, without waiting: a stale one starts a new probe in the background (health
   * pollers never wait on inference). Only the very first call waits, for the first probe;
   * concurrent callers share it.
   */
  check(): Promise<EngineCheck> {
    if (this.last && performance.now() - this.last.at < this.ttlMs) return Promise.resolve(this.last.result);
    this.running ??= this.probe().finally(() => {
      this.running = undefined;
    });
    return this.last ? Promise.resolve(this.last.result) : this.running;
  }

  /** Starts the first probe now (at service start), so the first health check finds a result. */
  warm(): void {
    void this.check();
  }

  private async probe(): Promise<EngineCheck> {
    const t0 = performance.now();
    let error: string | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const image = new Uint8Array(Buffer.from(PROBE_JPEG, "base64"));
      const run = (async () => {
        await this.engine.detect(image);
        const e = await this.engine.embed(image, PROBE_FACE);
        if (!(e instanceof Float32Array) || e.length !== this.engine.info().embeddingDim) throw new Error("recognizer returned a wrong embedding");
      })();
      await Promise.race([
        run,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`probe took longer than ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
    } finally {
      clearTimeout(timer);
    }
    const stats = (this.engine as WithStats).stats?.();
    const result: EngineCheck = {
      ok: error === undefined,
      ms: Math.round((performance.now() - t0) * 100) / 100,
      checkedAt: new Date().toISOString(),
      ...(error !== undefined ? { error } : {}),
      ...(stats ? { workers: stats } : {}),
    };
    this.last = { at: performance.now(), result };
    return result;
  }
}
