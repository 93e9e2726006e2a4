/**
 * ScanPool: the second core for big galleries. One helper thread (a Worker) scans half the rows of
 * a shared WebAssembly memory while the calling thread scans the other half; the caller blocks on
 * Atomics.wait (a search is synchronous anyway), so there is no message per search (~40 µs round trip).
 * Used by companies with ≥ Int8Kernel.PARALLEL_MIN_ROWS faces; SEARCH_THREADS=1 turns it off.
 */
import { type ParallelScan, siblingModule } from "../core/internal.ts";

interface Attached {
  id: number;
  ready: boolean;
}

const STATE = 0;

export class ScanPool implements ParallelScan {
  private worker: Worker | null = null;
  private readonly ctl = new Int32Array(new SharedArrayBuffer(64));
  private readonly f32 = new Float32Array(this.ctl.buffer);
  private readonly byMemory = new WeakMap<WebAssembly.Memory, Attached>();
  private readonly byId = new Map<number, Attached>();
  private nextId = 1;
  private broken = false;
  private readonly finalizer = new FinalizationRegistry<number>((id) => {
    this.byId.delete(id);
    this.worker?.postMessage({ type: "detach", id });
  });

  /** How long a search waits for the helper before scanning its half itself (it is then not used again). */
  constructor(private readonly timeoutMs = 5000) {}

  private spawn(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(siblingModule("scan-worker", import.meta.url));
    worker.onmessage = (event: MessageEvent<{ type: string; id: number; ok: boolean }>) => {
      const a = this.byId.get(event.data.id);
      if (a && event.data.type === "attached") a.ready = event.data.ok;
    };
    worker.onerror = () => {
      this.broken = true;
    };
    worker.postMessage({ type: "init", ctl: this.ctl });
    // the pool must not keep a process alive
    (worker as Worker & { unref?: () => void }).unref?.();
    this.worker = worker;
    return worker;
  }

  attach(memory: WebAssembly.Memory): boolean {
    if (this.broken) return false;
    let a = this.byMemory.get(memory);
    if (!a) {
      a = { id: this.nextId++, ready: false };
      this.byMemory.set(memory, a);
      this.byId.set(a.id, a);
      this.finalizer.register(memory, a.id);
      this.spawn().postMessage({ type: "attach", id: a.id, memory });
    }
    return a.ready;
  }

  start(memory: WebAssembly.Memory, from: number, to: number, dimPad: number, qOff: number, scaleOff: number, outOff: number, qScale: number): () => boolean {
    const a = this.byMemory.get(memory);
    if (!a?.ready || this.broken) return () => false;
    const c = this.ctl;
    c[1] = a.id;
    c[2] = from;
    c[3] = to;
    c[4] = dimPad;
    c[5] = qOff;
    c[6] = scaleOff;
    c[7] = outOff;
    this.f32[8] = qScale;
    Atomics.store(c, STATE, 1);
    Atomics.notify(c, STATE);
    return () => {
      while (Atomics.load(c, STATE) === 1) {
        if (Atomics.wait(c, STATE, 1, this.timeoutMs) === "timed-out" && Atomics.load(c, STATE) === 1) {
          this.broken = true;
          console.error(`[scan-pool] helper thread did not answer within ${this.timeoutMs} ms; searching on one thread from now on`);
          return false;
        }
      }
      const ok = Atomics.load(c, STATE) === 2;
      Atomics.store(c, STATE, 0);
      Atomics.notify(c, STATE);
      return ok;
    };
  }

  terminate(): void {
    this.worker?.terminate();
    this.worker = null;
    this.broken = true;
  }
}

let shared: ScanPool | null = null;
/** The process-wide pool (one helper thread: these machines have 2 cores). */
export function sharedScanPool(): ScanPool {
  shared ??= new ScanPool();
  return shared;
}
