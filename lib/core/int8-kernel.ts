/**
 * The int8 search kernel: a quantised copy of a company's rows in WebAssembly memory, scanned with
 * SIMD (4x fewer bytes than float32), then an exact float re-rank of the candidates.
 *
 * Exactness: row x is stored as s·q (q int8, s = max|x|/127) with error e = x − s·q; the query y the
 * same way (int16 lanes). For unit x and y:  |x·y − s_x s_y q_x·q_y| ≤ (1 + |e_x|)|e_y| + |e_x| = B.
 * If T is a lower bound of the k-th best user's approximate score, every row of every true top-k user
 * has approximate score ≥ T − 2B, so re-ranking exactly (the same `dotRow` as the JS kernel) only those
 * rows gives exactly the JS kernel's answer, ties included. T comes from the best approximate rows of
 * k distinct users.
 *
 * Small companies (< MIN_ROWS) use the JS loop: at that size it is as fast and needs no extra memory.
 */
import { dotRow, JsKernel, offer, type KernelRows, type SearchKernel } from "./search-kernel.ts";
import { FIXED_DIM, SHARED_MAX_PAGES, simdKernels, type SimdExports } from "./wasm-simd.ts";

const PAGE = 65536;

/**
 * Splits a scan across threads (implemented outside lib/core, where workers exist: see
 * lib/service/scan-pool.ts). The kernel's memory is then a shared WebAssembly memory.
 */
export interface ParallelScan {
  /** Makes `memory` known to the helper thread(s); false until they have it (the kernel scans alone meanwhile). */
  attach(memory: WebAssembly.Memory): boolean;
  /**
   * Starts scan_i8 over rows [from, to) in a helper thread; returns a function that blocks until it is
   * done (false: the helper failed, the caller must scan those rows itself).
   */
  start(memory: WebAssembly.Memory, from: number, to: number, dimPad: number, qOff: number, scaleOff: number, outOff: number, qScale: number): () => boolean;
}

export interface Int8KernelOptions {
  /** Rows below which the JS loop is used (default Int8Kernel.MIN_ROWS). */
  minRows?: number;
  /** Split scans of at least `parallelMinRows` rows with this helper. */
  parallel?: ParallelScan;
  parallelMinRows?: number;
}

export class Int8Kernel implements SearchKernel {
  static MIN_ROWS = 1024;
  static PARALLEL_MIN_ROWS = 32768;
  private readonly js = new JsKernel();
  private memory: WebAssembly.Memory | null = null;
  private exp: SimdExports | null = null;
  private active = false;
  private cap = 0;
  private dim = 0;
  private dimPad = 0;
  private scaleOff = 0;
  private outOff = 0;
  private qOff = 0;
  /** |e_r| per row, and their maximum (never lowered on delete: a bound only needs to be ≥). */
  private errNorm = new Float32Array(0);
  private maxErr = 0;
  /** Scratch for the top rows. */
  private heapScore = new Float64Array(0);
  private heapRow = new Int32Array(0);
  private touched = new Int32Array(0);

  private readonly minRows: number;
  private readonly parallel: ParallelScan | undefined;
  private readonly parallelMinRows: number;
  private shared = false;

  constructor(options: number | Int8KernelOptions = {}) {
    const o = typeof options === "number" ? { minRows: options } : options;
    this.minRows = o.minRows ?? Int8Kernel.MIN_ROWS;
    this.parallel = o.parallel;
    this.parallelMinRows = o.parallelMinRows ?? Int8Kernel.PARALLEL_MIN_ROWS;
  }

  get name(): string {
    return this.shared ? "wasm-simd-i8 x2 threads" : "wasm-simd-i8";
  }

  bytes(): number {
    return this.memory ? this.memory.buffer.byteLength + this.errNorm.byteLength : 0;
  }

  set(row: number, vector: Float32Array, index: KernelRows): void {
    if (!this.active && index.capacity >= this.minRows) this.build(index);
    if (this.active) this.quantize(row, vector);
  }

  move(from: number, to: number): void {
    if (!this.active) return;
    const u8 = new Uint8Array(this.memory!.buffer);
    u8.copyWithin(to * this.dimPad, from * this.dimPad, (from + 1) * this.dimPad);
    const scales = new Float32Array(this.memory!.buffer, this.scaleOff, this.cap);
    scales[to] = scales[from];
    this.errNorm[to] = this.errNorm[from];
  }

  resize(capacity: number, index: KernelRows): void {
    if (capacity < this.minRows) return;
    const wantShared = this.parallel !== undefined && capacity >= this.parallelMinRows;
    if (!this.active || index.dim !== this.dim || wantShared !== this.shared) {
      this.build(index);
      return;
    }
    // grow in place: rows stay at 0.., the scales move up to their new offset
    const oldScaleOff = this.scaleOff;
    const oldCap = this.cap;
    this.layout(capacity);
    const need = this.qOff + this.dimPad * 2;
    const have = this.memory!.buffer.byteLength;
    if (need > have) this.memory!.grow(Math.ceil((need - have) / PAGE));
    const u8 = new Uint8Array(this.memory!.buffer);
    u8.copyWithin(this.scaleOff, oldScaleOff, oldScaleOff + oldCap * 4);
    const err = new Float32Array(capacity);
    err.set(this.errNorm.subarray(0, Math.min(oldCap, capacity)));
    this.errNorm = err;
  }

  private layout(capacity: number): void {
    this.cap = capacity;
    this.scaleOff = capacity * this.dimPad;
    this.outOff = this.scaleOff + capacity * 4;
    this.qOff = this.outOff + capacity * 4;
  }

  /** (Re)creates the quantised copy of every row. Falls back to JS if SIMD is unavailable. */
  private build(index: KernelRows): void {
    const simd = simdKernels();
    if (!simd || index.capacity < this.minRows || index.dim === 0) {
      this.active = false;
      return;
    }
    this.dim = index.dim;
    this.dimPad = Math.ceil(index.dim / 16) * 16;
    this.layout(index.capacity);
    const pages = Math.ceil((this.qOff + this.dimPad * 2) / PAGE);
    this.shared = this.parallel !== undefined && index.capacity >= this.parallelMinRows && simd.instantiateShared !== null && pages <= SHARED_MAX_PAGES;
    if (this.shared) {
      // big companies: a shared memory, so a helper thread scans half the rows
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: SHARED_MAX_PAGES, shared: true });
      this.exp = simd.instantiateShared!(this.memory);
    } else {
      this.memory = new WebAssembly.Memory({ initial: pages });
      this.exp = simd.instantiate(this.memory);
    }
    this.errNorm = new Float32Array(index.capacity);
    this.maxErr = 0;
    this.active = true;
    for (let r = 0; r < index.count; r++) this.quantize(r, index.data.subarray(r * index.dim, (r + 1) * index.dim));
  }

  private quantize(row: number, v: Float32Array): void {
    const buf = this.memory!.buffer;
    const q = new Int8Array(buf, row * this.dimPad, this.dimPad);
    let max = 0;
    for (let i = 0; i < v.length; i++) max = Math.max(max, Math.abs(v[i]));
    const s = max > 0 ? max / 127 : 1;
    let err = 0;
    for (let i = 0; i < v.length; i++) {
      const qi = Math.max(-127, Math.min(127, Math.round(v[i] / s)));
      q[i] = qi;
      const d = v[i] - Math.fround(s) * qi;
      err += d * d;
    }
    for (let i = v.length; i < this.dimPad; i++) q[i] = 0;
    new Float32Array(buf, this.scaleOff, this.cap)[row] = s;
    const e = Math.sqrt(err);
    this.errNorm[row] = e;
    if (e > this.maxErr) this.maxErr = e;
  }

  bestPerUser(
    query: Float32Array,
    index: KernelRows,
    best: Float64Array,
    bestRow: Int32Array,
    k: number,
    minScore: number,
  ): ArrayLike<number> | null {
    const count = index.count;
    if (!this.active || count < this.minRows) return this.js.bestPerUser(query, index, best, bestRow);
    const buf = this.memory!.buffer;
    // quantise the query to int16 lanes (values within ±127)
    let max = 0;
    for (let i = 0; i < query.length; i++) max = Math.max(max, Math.abs(query[i]));
    const sq = max > 0 ? max / 127 : 1;
    const q16 = new Int16Array(buf, this.qOff, this.dimPad);
    let errQ = 0;
    for (let i = 0; i < query.length; i++) {
      const qi = Math.round(query[i] / sq);
      q16[i] = qi;
      const d = query[i] - Math.fround(sq) * qi;
      errQ += d * d;
    }
    q16.fill(0, query.length);
    const rows4 = Math.ceil(count / 4) * 4;
    // 512-d: the unrolled, constant-offset variant (same results, ~20 % faster)
    const exp = this.exp!;
    const scan = this.dimPad === FIXED_DIM ? exp.scan_i8_fixed : exp.scan_i8;
    const helper = this.shared && count >= this.parallelMinRows && this.parallel!.attach(this.memory!) ? this.parallel! : null;
    if (helper) {
      // the helper takes the upper half while this thread scans the lower one
      const half = Math.floor(rows4 / 8) * 4;
      const wait = helper.start(this.memory!, half, rows4, this.dimPad, this.qOff, this.scaleOff, this.outOff, sq);
      scan(0, half, this.dimPad, this.qOff, this.scaleOff, this.outOff, sq);
      if (!wait()) {
        scan(half * this.dimPad, rows4 - half, this.dimPad, this.qOff, this.scaleOff + half * 4, this.outOff + half * 4, sq);
      }
    } else {
      scan(0, rows4, this.dimPad, this.qOff, this.scaleOff, this.outOff, sq);
    }
    const approx = new Float32Array(buf, this.outOff, count);
    const eq = Math.sqrt(errQ);
    // + slack for the f32 arithmetic of the scaled score
    const bound = (1 + this.maxErr) * eq + this.maxErr + 1e-5;

    // T: the k-th distinct user among the best M rows (a lower bound of the k-th best user's score)
    const m = Math.min(count, Math.max(4 * k, 32));
    if (this.heapScore.length < m) {
      this.heapScore = new Float64Array(m);
      this.heapRow = new Int32Array(m);
    }
    const hs = this.heapScore;
    const hr = this.heapRow;
    let size = 0;
    for (let r = 0; r < count; r++) {
      const s = approx[r];
      if (size < m) {
        // sift up (min-heap)
        let i = size++;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (hs[p] <= s) break;
          hs[i] = hs[p];
          hr[i] = hr[p];
          i = p;
        }
        hs[i] = s;
        hr[i] = r;
      } else if (s > hs[0]) {
        // replace the root, sift down
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= size) break;
          const c = l + 1 < size && hs[l + 1] < hs[l] ? l + 1 : l;
          if (hs[c] >= s) break;
          hs[i] = hs[c];
          hr[i] = hr[c];
          i = c;
        }
        hs[i] = s;
        hr[i] = r;
      }
    }
    const order = Array.from({ length: size }, (_, i) => i).sort((a, b) => hs[b] - hs[a]);
    const seen = new Set<number>();
    let t = -Infinity;
    for (const i of order) {
      seen.add(index.rowUser[hr[i]]);
      if (seen.size === k) {
        t = hs[i];
        break;
      }
    }
    const lower = Math.max(t - 2 * bound, minScore - bound);

    // exact re-rank of the candidates
    if (this.touched.length < 64) this.touched = new Int32Array(64);
    let touched = this.touched;
    let nTouched = 0;
    const { data, dim, rowUser } = index;
    for (let r = 0; r < count; r++) {
      if (approx[r] < lower) continue;
      const u = rowUser[r];
      if (best[u] === -Infinity) {
        if (nTouched === touched.length) {
          const grown = new Int32Array(touched.length * 2);
          grown.set(touched);
          touched = this.touched = grown;
        }
        touched[nTouched++] = u;
      }
      offer(index, r, dotRow(data, r * dim, query, dim), best, bestRow);
    }
    return touched.subarray(0, nTouched);
  }
}

/** Int8 kernel where WebAssembly SIMD works, the JS loop otherwise. */
export function bestKernel(options: Int8KernelOptions = {}): SearchKernel {
  return simdKernels() ? new Int8Kernel(options) : new JsKernel();
}
