/**
 * Hand-assembled WebAssembly SIMD kernels (no toolchain: the bytes are built here, ~300 bytes).
 *
 *   scan_i8(mat, rows, dim, q16, scales, out, qScale)
 *     rows of `dim` int8 values at `mat` (rows is a multiple of 4, dim of 16); the query as int16 at
 *     `q16`; writes out[r] = f32(Σ mat[r]·q) · scales[r] · qScale.
 *   scan_f32(mat, rows, dim, q, out)
 *     exact-ish float rows (f32x4 lanes): out[r] = Σ mat[r]·q. Benchmarked, not used by default.
 *   sum_u32(ptr, bytes) → i32: reads memory with v128 loads (memory bandwidth probe).
 *
 * Measured alternatives (docs/core.md): extmul+pairwise-add instead of extend+dot was slower in
 * JavaScriptCore; a relaxed-SIMD dot (i32x4.relaxed_dot_i8x16_i7x16_add_s, validated by Bun, not by
 * Node 20) was no faster at 100k rows (the scan is memory-bound) and costs a bit of precision.
 *
 * Runtime-free; `simdKernels()` returns null where WebAssembly SIMD is unavailable.
 */

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const str = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

// instructions
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32c = (v: number) => [0x41, ...sleb(v)];
const add = [0x6a];
const mul = [0x6c];
const geU = [0x4f];
const ltU = [0x49];
const block = [0x02, 0x40];
const loop = [0x03, 0x40];
const end = [0x0b];
const br = (d: number) => [0x0c, ...uleb(d)];
const brIf = (d: number) => [0x0d, ...uleb(d)];
const simd = (op: number) => [0xfd, ...uleb(op)];
const v128load = (offset = 0) => [...simd(0x00), 0x00, ...uleb(offset)]; // align 1: rows need not be 16-aligned
const v128zero = [...simd(0x0c), ...new Array(16).fill(0)];
const extLowS = simd(0x87);
const extHighS = simd(0x88);
const dotS = simd(0xba);
const i32x4add = simd(0xae);
const i32x4lane = (l: number) => [...simd(0x1b), l];
const f32x4add = simd(0xe4);
const f32x4mul = simd(0xe6);
const f32x4lane = (l: number) => [...simd(0x1f), l];
const f32load = [0x2a, 0x02, 0x00];
const f32store = [0x38, 0x02, 0x00];
const f32mul = [0x94];
const f32add = [0x92];
const f32fromI32 = [0xb2];
const shl = [0x74];

/** Horizontal sum of an i32x4 local → i32 on the stack. */
const hsumI32 = (l: number) => [...get(l), ...i32x4lane(0), ...get(l), ...i32x4lane(1), ...add, ...get(l), ...i32x4lane(2), ...add, ...get(l), ...i32x4lane(3), ...add];
const hsumF32 = (l: number) => [
  ...get(l), ...f32x4lane(0), ...get(l), ...f32x4lane(1), ...f32add, ...get(l), ...f32x4lane(2), ...f32add, ...get(l), ...f32x4lane(3), ...f32add,
];

/** Builds scan_i8 with an explicit i32 scratch local for the query address. */
function scanI8Body(): number[] {
  // params: 0 mat, 1 rows, 2 dim, 3 q16, 4 scales, 5 out, 6 qScale(f32)
  // i32 locals: 7 r, 8 j, 9..12 p0..p3, 13 qa ; v128 locals: 14..17 a0..a3, 18 ql, 19 qh, 20 v
  const R = 7, J = 8, P = 9, QA = 13, A = 14, QL = 18, QH = 19, V = 20;
  const b: number[] = [];
  b.push(...i32c(0), ...set(R), ...get(0), ...set(P));
  b.push(...block, ...loop);
  b.push(...get(R), ...get(1), ...geU, ...brIf(1));
  for (let i = 1; i < 4; i++) b.push(...get(P + i - 1), ...get(2), ...add, ...set(P + i));
  for (let i = 0; i < 4; i++) b.push(...v128zero, ...set(A + i));
  b.push(...i32c(0), ...set(J));
  b.push(...loop);
  b.push(...get(3), ...get(J), ...i32c(1), ...shl, ...add, ...set(QA));
  b.push(...get(QA), ...v128load(0), ...set(QL));
  b.push(...get(QA), ...v128load(16), ...set(QH));
  for (let i = 0; i < 4; i++) {
    b.push(...get(P + i), ...get(J), ...add, ...v128load(0), ...set(V));
    b.push(...get(A + i), ...get(V), ...extLowS, ...get(QL), ...dotS, ...i32x4add);
    b.push(...get(V), ...extHighS, ...get(QH), ...dotS, ...i32x4add, ...set(A + i));
  }
  b.push(...get(J), ...i32c(16), ...add, ...set(J));
  b.push(...get(J), ...get(2), ...ltU, ...brIf(0));
  b.push(...end);
  // out[r+i] = f32(hsum(a_i)) * scales[r+i] * qScale
  for (let i = 0; i < 4; i++) {
    const addr = [...get(R), ...i32c(i), ...add, ...i32c(2), ...shl];
    b.push(...get(5), ...addr, ...add);
    b.push(...hsumI32(A + i), ...f32fromI32);
    b.push(...get(4), ...addr, ...add, ...f32load, ...f32mul, ...get(6), ...f32mul);
    b.push(...f32store);
  }
  b.push(...get(P + 3), ...get(2), ...add, ...set(P));
  b.push(...get(R), ...i32c(4), ...add, ...set(R));
  b.push(...br(0), ...end, ...end, ...end);
  const locals = vec([
    [...uleb(7), I32],
    [...uleb(7), V128],
  ]);
  return [...locals, ...b];
}

/**
 * scan_i8 specialised for one padded dimension (512 for the default model): the column loop fully
 * unrolled, every load at a constant offset from one row pointer (fewer address computations and no
 * loop overhead in the compute-bound scan). Same signature and results as scan_i8.
 */
function scanI8FixedBody(D: number): number[] {
  // params: 0 mat, 1 rows, 2 dim (unused), 3 q16, 4 scales, 5 out, 6 qScale ; i32: 7 r, 8 p ; v128: 9..12 a, 13 ql, 14 qh, 15 v
  const R = 7, P = 8, A = 9, QL = 13, QH = 14, V = 15;
  const b: number[] = [];
  b.push(...i32c(0), ...set(R), ...get(0), ...set(P));
  b.push(...block, ...loop);
  b.push(...get(R), ...get(1), ...geU, ...brIf(1));
  for (let i = 0; i < 4; i++) b.push(...v128zero, ...set(A + i));
  for (let c = 0; c < D / 16; c++) {
    b.push(...get(3), ...v128load(32 * c), ...set(QL), ...get(3), ...v128load(32 * c + 16), ...set(QH));
    for (let i = 0; i < 4; i++) {
      b.push(...get(P), ...v128load(i * D + 16 * c), ...set(V));
      b.push(...get(A + i), ...get(V), ...extLowS, ...get(QL), ...dotS, ...i32x4add);
      b.push(...get(V), ...extHighS, ...get(QH), ...dotS, ...i32x4add, ...set(A + i));
    }
  }
  for (let i = 0; i < 4; i++) {
    const addr = [...get(R), ...i32c(i), ...add, ...i32c(2), ...shl];
    b.push(...get(5), ...addr, ...add);
    b.push(...hsumI32(A + i), ...f32fromI32);
    b.push(...get(4), ...addr, ...add, ...f32load, ...f32mul, ...get(6), ...f32mul);
    b.push(...f32store);
  }
  b.push(...get(P), ...i32c(4 * D), ...add, ...set(P));
  b.push(...get(R), ...i32c(4), ...add, ...set(R));
  b.push(...br(0), ...end, ...end, ...end);
  return [...vec([[...uleb(2), I32], [...uleb(7), V128]]), ...b];
}

/** Padded dimension with a specialised scan (export scan_i8_fixed). */
export const FIXED_DIM = 512;

function scanF32Body(): number[] {
  // params: 0 mat, 1 rows, 2 dim (floats), 3 q, 4 out ; i32 locals: 5 r, 6 j (bytes), 7 p, 8 dimBytes ; v128: 9 acc0, 10 acc1
  const R = 5, J = 6, P = 7, DB = 8, A0 = 9, A1 = 10;
  const b: number[] = [];
  b.push(...get(2), ...i32c(2), ...shl, ...set(DB));
  b.push(...i32c(0), ...set(R), ...get(0), ...set(P));
  b.push(...block, ...loop);
  b.push(...get(R), ...get(1), ...geU, ...brIf(1));
  b.push(...v128zero, ...set(A0), ...v128zero, ...set(A1), ...i32c(0), ...set(J));
  b.push(...loop);
  b.push(...get(A0), ...get(P), ...get(J), ...add, ...v128load(0), ...get(3), ...get(J), ...add, ...v128load(0), ...f32x4mul, ...f32x4add, ...set(A0));
  b.push(...get(A1), ...get(P), ...get(J), ...add, ...v128load(16), ...get(3), ...get(J), ...add, ...v128load(16), ...f32x4mul, ...f32x4add, ...set(A1));
  b.push(...get(J), ...i32c(32), ...add, ...set(J), ...get(J), ...get(DB), ...ltU, ...brIf(0), ...end);
  b.push(...get(4), ...get(R), ...i32c(2), ...shl, ...add);
  b.push(...get(A0), ...get(A1), ...f32x4add, ...set(A0), ...hsumF32(A0), ...f32store);
  b.push(...get(P), ...get(DB), ...add, ...set(P), ...get(R), ...i32c(1), ...add, ...set(R));
  b.push(...br(0), ...end, ...end, ...end);
  return [...vec([[...uleb(4), I32], [...uleb(2), V128]]), ...b];
}

function sumBody(): number[] {
  // params: 0 ptr, 1 bytes ; locals: 2 i (i32), 3 acc (v128)
  const b: number[] = [];
  b.push(...v128zero, ...[0x21, 3], ...i32c(0), ...set(2));
  b.push(...block, ...loop, ...get(2), ...get(1), ...geU, ...brIf(1));
  for (let k = 0; k < 4; k++) b.push(...get(3), ...get(0), ...get(2), ...add, ...v128load(k * 16), ...i32x4add, ...set(3));
  b.push(...get(2), ...i32c(64), ...add, ...set(2), ...br(0), ...end, ...end);
  b.push(...hsumI32(3), ...end);
  return [...vec([[1, I32], [1, V128]]), ...b];
}

/** `shared`: the memory import is a shared memory (for scans split across threads). */
function moduleBytes(shared = false): Uint8Array {
  const types = vec([
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32], [F32]]), ...vec([])],
    [0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), ...vec([])],
    [0x60, ...vec([[I32], [I32]]), ...vec([[I32]])],
  ]);
  const limits = shared ? [0x03, ...uleb(1), ...uleb(SHARED_MAX_PAGES)] : [0x00, ...uleb(1)];
  const imports = vec([[...str("env"), ...str("memory"), 0x02, ...limits]]);
  const funcs = vec([[0], [1], [2], [0]]);
  const exports = vec([
    [...str("scan_i8"), 0x00, 0],
    [...str("scan_f32"), 0x00, 1],
    [...str("sum_u32"), 0x00, 2],
    [...str("scan_i8_fixed"), 0x00, 3],
  ]);
  const bodies = [scanI8Body(), scanF32Body(), sumBody(), scanI8FixedBody(FIXED_DIM)].map((b) => [...uleb(b.length), ...b]);
  const code = [...uleb(bodies.length), ...bodies.flat()];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

export interface SimdExports {
  scan_i8(mat: number, rows: number, dim: number, q16: number, scales: number, out: number, qScale: number): void;
  scan_f32(mat: number, rows: number, dim: number, q: number, out: number): void;
  sum_u32(ptr: number, bytes: number): number;
  /** scan_i8 for dim = FIXED_DIM only. */
  scan_i8_fixed(mat: number, rows: number, dim: number, q16: number, scales: number, out: number, qScale: number): void;
}

/** Maximum of a shared memory (4 GiB: the wasm32 limit). */
export const SHARED_MAX_PAGES = 65536;

export interface SimdKernels {
  module: WebAssembly.Module;
  /** An instance over `memory` (non-shared). */
  instantiate(memory: WebAssembly.Memory): SimdExports;
  /** The same code over a shared memory (`{ shared: true, maximum: SHARED_MAX_PAGES }`); null if unsupported. */
  sharedModule: WebAssembly.Module | null;
  instantiateShared: ((memory: WebAssembly.Memory) => SimdExports) | null;
}

let cached: SimdKernels | null | undefined;

/** The compiled module, or null where WebAssembly SIMD is not available (then the JS kernel is used). */
export function simdKernels(): SimdKernels | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    if (typeof WebAssembly === "undefined") return null;
    const bytes = moduleBytes();
    if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) return null;
    const module = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
    let sharedModule: WebAssembly.Module | null = null;
    try {
      const sharedBytes = moduleBytes(true) as Uint8Array<ArrayBuffer>;
      if (typeof SharedArrayBuffer !== "undefined" && WebAssembly.validate(sharedBytes)) sharedModule = new WebAssembly.Module(sharedBytes);
    } catch {
      sharedModule = null;
    }
    const shared = sharedModule;
    cached = {
      module,
      instantiate: (memory) => new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdExports,
      sharedModule,
      instantiateShared: shared
        ? (memory) => new WebAssembly.Instance(shared, { env: { memory } }).exports as unknown as SimdExports
        : null,
    };
  } catch {
    cached = null;
  }
  return cached;
}

/** For tests: the raw module bytes. */
export const simdModuleBytes = moduleBytes;
