/**
 * 1:N search latency of the gallery (one company, 512-d, users with 1-3 faces), next to the physical
 * bound: bytes the kernel must read / measured memory read bandwidth.
 *
 *   bun run bench:search [-- --sizes 10000,100000,1000000 --queries 50 --json bench/results/search.json]
 *
 * Kernels: the default (int8 WebAssembly SIMD scan + exact float re-rank, full Gallery.search incl. top-k),
 * and for comparison the plain JS float loop and a float32 WASM SIMD scan (scan only).
 */
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { Gallery, Int8Kernel, JsKernel, normalize, type ParallelScan, simdKernels } from "../lib/core/internal.ts";
import { sharedScanPool } from "../lib/service/mod.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const sizes = opt("sizes", "10000,100000,1000000").split(",").map(Number);
const queriesPerSize = Number(opt("queries", "50"));
const jsonOut = args.includes("--json") ? opt("json", "bench/results/search.json") : null;
const DIM = 512;

/** xorshift32: fast deterministic noise (the distribution does not matter for timing). */
function noise(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) / 4294967296) * 2 - 1;
  };
}

function stats(ms: number[]): { medianMs: number; p99Ms: number; minMs: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { medianMs: at(0.5), p99Ms: at(0.99), minMs: s[0] };
}

const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;

/** Read bandwidth of one core with v128 loads over 512 MiB (best of 5). */
function measureBandwidth(): number {
  const simd = simdKernels();
  if (!simd) return Number.NaN;
  const bytes = 512 * 1024 * 1024;
  const mem = new WebAssembly.Memory({ initial: bytes / 65536 + 1 });
  new Uint32Array(mem.buffer).fill(1);
  const x = simd.instantiate(mem);
  // warm up (tier-up of the wasm function) on a cache-sized block, then best of 5 over 512 MiB
  for (let i = 0; i < 2000; i++) x.sum_u32(0, 64 * 1024);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    x.sum_u32(0, bytes);
    best = Math.min(best, performance.now() - t);
  }
  return bytes / (best / 1000) / 1e9;
}

/** The 2-thread split can be switched off per search, so both modes are timed on the same rows. */
const pool = sharedScanPool();
let parallelOn = false;
const toggled: ParallelScan = {
  attach: (memory) => pool.attach(memory) && parallelOn,
  start: (...a) => pool.start(...a),
};

function build(faces: number): { gallery: Gallery; queries: Float32Array[] } {
  // score "max": the kernel scans every face row, as the table reports; with templates (the default)
  // it scans one row per user, so a company of N users costs what N rows cost here
  const gallery = new Gallery({ kernel: () => new Int8Kernel({ parallel: toggled }), score: "max" });
  const rnd = noise(faces);
  let revision = 0;
  gallery.apply({ revision: ++revision, type: "company.put", companyId: "bench" });
  const keep: Float32Array[] = [];
  let user = 0;
  for (let f = 0; f < faces; ) {
    const n = 1 + (user % 3);
    gallery.apply({ revision: ++revision, type: "user.put", companyId: "bench", userId: `u${user}` });
    for (let j = 0; j < n && f < faces; j++, f++) {
      const v = new Float32Array(DIM);
      for (let i = 0; i < DIM; i++) v[i] = rnd();
      const e = normalize(v);
      if (keep.length < queriesPerSize && f % 97 === 0) keep.push(e);
      gallery.apply({ revision: ++revision, type: "face.put", face: { companyId: "bench", userId: `u${user}`, faceId: `f${j}`, embedding: e, model: "bench" } });
    }
    user++;
  }
  // half genuine-like queries (an enrolled face plus noise), half random
  const queries: Float32Array[] = [];
  for (let i = 0; i < queriesPerSize; i++) {
    const q = new Float32Array(DIM);
    const base = i % 2 === 0 ? keep[i % keep.length] : null;
    for (let d = 0; d < DIM; d++) q[d] = (base ? base[d] : 0) + rnd() * (base ? 0.03 : 1);
    queries.push(normalize(q));
  }
  return { gallery, queries };
}

const cores = cpus().length;
console.log(`machine: ${cores} cores, ${cpus()[0]?.model ?? "?"}; bun ${Bun.version}`);
const bandwidth = measureBandwidth();
console.log(`memory read bandwidth (1 core, v128 loads): ${bandwidth.toFixed(1)} GB/s\n`);

type Row = Record<string, number | string>;
const results: Row[] = [];
const header =
  "| faces | dims | int8 SIMD 1 thread: median / p99 ms | 2 threads: median / p99 ms | bytes scanned | bound ms (bytes / 1-core bandwidth) | JS f32 loop median ms | WASM f32 scan median ms | load avg |";
console.log(header);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const faces of sizes) {
  const t0 = performance.now();
  const { gallery, queries } = build(faces);
  const buildS = (performance.now() - t0) / 1000;
  const index = gallery.index("bench")!;
  // warm-up (JIT tiers), then time Gallery.search (k = 5) end to end
  for (let i = 0; i < 10; i++) gallery.search("bench", queries[i % queries.length], { k: 5 });
  const times: number[] = [];
  for (const q of queries) {
    const t = performance.now();
    gallery.search("bench", q, { k: 5 });
    times.push(performance.now() - t);
  }
  const main = stats(times);
  // the same with the helper thread (companies ≥ Int8Kernel.PARALLEL_MIN_ROWS rows)
  let two = { medianMs: Number.NaN, p99Ms: Number.NaN, minMs: Number.NaN };
  if (faces >= Int8Kernel.PARALLEL_MIN_ROWS) {
    parallelOn = true;
    gallery.search("bench", queries[0], { k: 5 });
    await Bun.sleep(300);
    for (let i = 0; i < 20; i++) gallery.search("bench", queries[i % queries.length], { k: 5 });
    const t2: number[] = [];
    for (const q of queries) {
      const t = performance.now();
      gallery.search("bench", q, { k: 5 });
      t2.push(performance.now() - t);
    }
    two = stats(t2);
    parallelOn = false;
  }
  const bytes = faces * Math.ceil(DIM / 16) * 16;
  // plain JS float loop over the same rows (fewer queries at 1M: ~1 s each)
  const js = new JsKernel();
  const slots = index.slotIds.length;
  const best = new Float64Array(slots).fill(-Infinity);
  const bestRow = new Int32Array(slots);
  const jsTimes: number[] = [];
  for (const q of queries.slice(0, faces >= 1_000_000 ? 3 : faces >= 100_000 ? 10 : 30)) {
    const t = performance.now();
    js.bestPerUser(q, index, best, bestRow);
    jsTimes.push(performance.now() - t);
    best.fill(-Infinity);
  }
  // float32 WASM SIMD scan (scan only: the exact-float alternative to int8), where memory allows
  let wasmF32 = Number.NaN;
  const simd = simdKernels();
  if (simd && faces <= 200_000) {
    const fbytes = faces * DIM * 4;
    const mem = new WebAssembly.Memory({ initial: Math.ceil((fbytes + faces * 4 + DIM * 4) / 65536) + 1 });
    new Float32Array(mem.buffer, 0, faces * DIM).set(index.data.subarray(0, faces * DIM));
    const x = simd.instantiate(mem);
    const ft: number[] = [];
    for (const q of queries) {
      new Float32Array(mem.buffer, fbytes + faces * 4, DIM).set(q);
      const t = performance.now();
      x.scan_f32(0, faces, DIM, fbytes + faces * 4, fbytes);
      ft.push(performance.now() - t);
    }
    wasmF32 = stats(ft).medianMs;
  }
  const boundMs = (bytes / (bandwidth * 1e9)) * 1000;
  const row: Row = {
    faces,
    dims: DIM,
    kernel: "wasm-simd-i8 (1 thread)",
    medianMs: round(main.medianMs),
    p99Ms: round(main.p99Ms),
    minMs: round(main.minMs),
    twoThreadsMedianMs: round(two.medianMs),
    twoThreadsP99Ms: round(two.p99Ms),
    twoThreadsMinMs: round(two.minMs),
    loadAverage: round(loadavg()[0], 2),
    queries: queries.length,
    k: 5,
    bytesScanned: bytes,
    boundMs: round(boundMs),
    jsF32MedianMs: round(stats(jsTimes).medianMs),
    wasmF32ScanMedianMs: round(wasmF32),
    buildSeconds: round(buildS, 1),
  };
  results.push(row);
  const fmt = (v: number | string) => (typeof v === "number" && Number.isNaN(v) ? "-" : String(v));
  console.log(
    `| ${faces} | ${DIM} | ${row.medianMs} / ${row.p99Ms} | ${fmt(row.twoThreadsMedianMs)} / ${fmt(row.twoThreadsP99Ms)} | ${(bytes / 1e6).toFixed(1)} MB | ${row.boundMs} | ${row.jsF32MedianMs} | ${fmt(row.wasmF32ScanMedianMs)} | ${row.loadAverage} |`,
  );
  gallery.clear();
  Bun.gc(true);
}

if (jsonOut) {
  writeFileSync(
    jsonOut,
    `${JSON.stringify(
      {
        command: `bun run bench:search -- ${args.join(" ")}`.trim(),
        date: new Date().toISOString(),
        machine: { cores, cpu: cpus()[0]?.model ?? "?", bun: Bun.version, readBandwidthGBs: round(bandwidth, 2) },
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${jsonOut}`);
}
pool.terminate();
