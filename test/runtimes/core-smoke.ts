/**
 * Portable smoke test of the runtime-free core (`facegate`, lib/core) for Bun, Node and Deno.
 *
 * Imports nothing but ../../lib/core/internal.ts (the core with its kernels) and uses only web-standard globals, so the same file runs
 * as TypeScript under Bun and Deno and, bundled by Bun.build({ target: "node" }), under Node.
 * Prints one JSON line ({ ok, runtime, checks, failures, ... }) and fails (uncaught error → non-zero
 * exit in all three runtimes) on any mismatch. Driven by test/runtimes/runtimes.test.ts.
 */
import {
  CompareRequestSchema,
  ERROR_CODES,
  FaceError,
  Gallery,
  HTTP_STATUS,
  IdSchema,
  Int8Kernel,
  JsKernel,
  MemoryGalleryStore,
  RecognizeRequestSchema,
  UnavailableError,
  parseInitialDataText,
  simdKernels,
  type FaceRecord,
  type SearchHit,
  type StoreEvent,
} from "../../lib/core/internal.ts";

const failures: string[] = [];
const checks: Record<string, number> = {};

function check(group: string, condition: boolean, what: string): void {
  checks[group] = (checks[group] ?? 0) + (condition ? 1 : 0);
  if (!condition) failures.push(`${group}: ${what}`);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function runtime(): { name: string; version: string } {
  // Bun and Deno also define process.versions.node, so they are asked first.
  const bun = Reflect.get(globalThis, "Bun") as { version: string } | undefined;
  if (bun) return { name: "bun", version: bun.version };
  const deno = Reflect.get(globalThis, "Deno") as { version: { deno: string } } | undefined;
  if (deno) return { name: "deno", version: deno.version.deno };
  const proc = Reflect.get(globalThis, "process") as { versions?: { node?: string } } | undefined;
  return { name: proc?.versions?.node ? "node" : "unknown", version: proc?.versions?.node ?? "" };
}

// ---------------------------------------------------------------- deterministic random unit vectors

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomUnit(rand: () => number, dim: number): Float32Array {
  const v = new Float64Array(dim);
  let sum = 0;
  for (let i = 0; i < dim; i += 2) {
    // Box-Muller: isotropic, like real embeddings spread over the sphere
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const t = 2 * Math.PI * rand();
    v[i] = r * Math.cos(t);
    if (i + 1 < dim) v[i + 1] = r * Math.sin(t);
  }
  for (let i = 0; i < dim; i++) sum += v[i] * v[i];
  const inv = 1 / Math.sqrt(sum);
  return Float32Array.from(v, (x) => x * inv);
}

/** A query near `base` (cosine ≈ 1/sqrt(1+noise²)). */
function near(rand: () => number, base: Float32Array, noise: number): Float32Array {
  const n = randomUnit(rand, base.length);
  const v = Float32Array.from(base, (x, i) => x + noise * n[i]);
  let sum = 0;
  for (const x of v) sum += x * x;
  const inv = 1 / Math.sqrt(sum);
  return Float32Array.from(v, (x) => x * inv);
}

/** The reference: float64 dot products over a plain list, per-user best face, ties by user id then face id. */
function bruteForce(faces: Iterable<FaceRecord>, query: Float32Array, k: number, minScore = -Infinity): SearchHit[] {
  let qn = 0;
  for (const x of query) qn += x * x;
  const inv = 1 / Math.sqrt(qn);
  const best = new Map<string, SearchHit>();
  for (const f of faces) {
    let s = 0;
    for (let i = 0; i < query.length; i++) s += f.embedding[i] * query[i] * inv;
    const b = best.get(f.userId);
    if (!b || s > b.score || (s === b.score && f.faceId < b.faceId)) best.set(f.userId, { userId: f.userId, faceId: f.faceId, score: s });
  }
  return [...best.values()]
    .filter((h) => h.score >= minScore)
    .sort((a, b) => b.score - a.score || (a.userId < b.userId ? -1 : 1))
    .slice(0, k);
}

/** Same users and faces in the same order, scores within float32 rounding of the reference. */
function sameHits(got: SearchHit[], want: SearchHit[]): boolean {
  if (got.length !== want.length) return false;
  return got.every((h, i) => h.userId === want[i].userId && h.faceId === want[i].faceId && Math.abs(h.score - want[i].score) < 1e-5);
}

const hitsText = (hits: SearchHit[]) => JSON.stringify(hits.map((h) => [h.userId, h.faceId, Number(h.score.toFixed(6))]));

// ---------------------------------------------------------------- schemas

for (const id of ["alice", "42", "Ünïcödé ☺ user", "x".repeat(128)]) {
  check("schemas", IdSchema.safeParse(id).success, `valid id ${JSON.stringify(id)} rejected`);
}
for (const id of ["", "   ", "a\u0000b", "tab\there", "x".repeat(129), 42, null]) {
  check("schemas", !IdSchema.safeParse(id).success, `invalid id ${JSON.stringify(id)} accepted`);
}
{
  const ok = RecognizeRequestSchema.safeParse({ companyId: "acme", image: new Uint8Array([1, 2, 3]), threshold: 0.4 });
  check("schemas", ok.success, "recognize request with bytes rejected");
  const bad = RecognizeRequestSchema.safeParse({ companyId: "acme", image: "aGk=", threshold: 2 });
  check("schemas", !bad.success && bad.error.issues.some((i) => i.path.join(".") === "threshold"), "threshold 2 accepted or issue not on 'threshold'");
  const cmp = CompareRequestSchema.parse({ queryEmbedding: [1, 0], referenceEmbeddings: [{ id: "r", embedding: [0, 1] }] });
  check("schemas", cmp.distanceMetric === "cosine", "distanceMetric default is not cosine");
  check("schemas", !CompareRequestSchema.safeParse({ queryEmbedding: [Number.NaN], referenceEmbeddings: [] }).success, "NaN embedding accepted");
}

// ---------------------------------------------------------------- errors

{
  const e = new FaceError("NO_FACE", "no face", { details: { n: 0 } });
  check("errors", e instanceof Error && e instanceof FaceError, "FaceError is not an Error");
  check("errors", e.code === "NO_FACE" && e.status === 422 && e.name === "FaceError", "NO_FACE code/status/name");
  check("errors", JSON.stringify(e) === '{"error":{"code":"NO_FACE","message":"no face"}}', "toJSON wire shape");
  check("errors", FaceError.is(e, "NO_FACE") && !FaceError.is(e, "TIMEOUT") && !FaceError.is(new Error("x")), "FaceError.is");
  const cause = new TypeError("boom");
  const wrapped = FaceError.from(cause);
  check("errors", wrapped.code === "INTERNAL" && wrapped.status === 500 && wrapped.cause === cause, "FaceError.from keeps the cause as INTERNAL");
  const u = new UnavailableError();
  check("errors", u instanceof FaceError && u.code === "UNAVAILABLE" && u.status === 503 && u.name === "UnavailableError", "UnavailableError");
  check("errors", ERROR_CODES.every((c) => Number.isInteger(HTTP_STATUS[c])), "a code without an HTTP status");
}

// ---------------------------------------------------------------- WebAssembly SIMD kernel

const DIM = 512;
const simd = simdKernels();
check("wasm", simd !== null, "WebAssembly SIMD module did not compile (the gallery would fall back to JS)");
if (simd) {
  // the raw int8 scan against float dot products: 8 rows, quantised as the kernel does
  const rand = rng(7);
  const rows = 8;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const exp = simd.instantiate(memory);
  const mat = new Int8Array(memory.buffer, 0, rows * DIM);
  const scaleOff = rows * DIM;
  const outOff = scaleOff + rows * 4;
  const qOff = outOff + rows * 4;
  const scales = new Float32Array(memory.buffer, scaleOff, rows);
  const q16 = new Int16Array(memory.buffer, qOff, DIM);
  const q = randomUnit(rand, DIM);
  const qs = Math.max(...q.map(Math.abs)) / 127;
  q.forEach((x, i) => (q16[i] = Math.round(x / qs)));
  const exact: number[] = [];
  for (let r = 0; r < rows; r++) {
    const v = r === 0 ? q : randomUnit(rand, DIM);
    const s = Math.max(...v.map(Math.abs)) / 127;
    scales[r] = s;
    let d = 0;
    for (let i = 0; i < DIM; i++) {
      mat[r * DIM + i] = Math.round(v[i] / s);
      d += v[i] * q[i];
    }
    exact.push(d);
  }
  for (const fn of ["scan_i8", "scan_i8_fixed"] as const) {
    exp[fn](0, rows, DIM, qOff, scaleOff, outOff, qs);
    const out = new Float32Array(memory.buffer, outOff, rows);
    const err = Math.max(...exact.map((d, r) => Math.abs(out[r] - d)));
    check("wasm", err < 0.02 && Math.abs(out[0] - 1) < 0.02, `${fn}: max |approx − exact| = ${err}`);
  }
}

// ---------------------------------------------------------------- gallery vs brute force, fed by a MemoryGalleryStore

const FACES = 3000;
const store = new MemoryGalleryStore();
const records = new Map<string, FaceRecord>();
const rand = rng(20240611);
{
  const users: Array<{ companyId: string; userId: string }> = [];
  const faces: FaceRecord[] = [];
  for (let u = 0; faces.length < FACES; u++) {
    const userId = `user-${String(u).padStart(4, "0")}`;
    users.push({ companyId: "acme", userId });
    const n = 1 + Math.floor(rand() * 4);
    for (let j = 0; j < n && faces.length < FACES; j++) {
      faces.push({ companyId: "acme", userId, faceId: `${userId}-f${j}`, embedding: randomUnit(rand, DIM), model: "fr-test@1" });
    }
  }
  // a second small company with another model: companies are independent
  faces.push({ companyId: "tiny", userId: "solo", faceId: "only", embedding: randomUnit(rand, 128), model: "other@1" });
  users.push({ companyId: "tiny", userId: "solo" });
  await store.bulkLoad({ companies: ["acme", "tiny"], users, faces });
  for (const f of faces) if (f.companyId === "acme") records.set(`${f.userId}/${f.faceId}`, f);
}

const warnings: string[] = [];
/** Fed by the replay of what was loaded before it subscribed, then live. */
// scored by best face ("max"), the rule the per-face brute force below implements; templates have their own tests
const gallery = new Gallery({ score: "max", onWarning: (m) => warnings.push(m) });
/** Same events through the exact JS kernel: the int8 kernel must give exactly its answers. */
const exactGallery = new Gallery({ score: "max", kernel: () => new JsKernel(), onWarning: () => {} });
const events: StoreEvent[] = [];
const stopWatch = await store.watch((e) => {
  events.push(e);
  gallery.apply(e);
  exactGallery.apply(e);
});
{
  const rev = await store.revision();
  check("store", events.at(-1)?.type === "sync" && events.at(-1)?.revision === rev, "replay does not end with a sync at the store revision");
  check("store", gallery.revision === rev, `gallery at revision ${gallery.revision}, store at ${rev}`);
  const stats = gallery.stats();
  check("store", stats.perCompany.acme?.faces === FACES && stats.perCompany.tiny?.faces === 1, `replayed faces: ${JSON.stringify(stats.perCompany)}`);
}

const index = gallery.index("acme");
const kernelName = index?.kernel.name ?? "none";
check("gallery", index !== undefined && index.kernel instanceof Int8Kernel, `kernel is ${kernelName}, not the int8 kernel`);
check("gallery", FACES >= Int8Kernel.MIN_ROWS && (index?.kernel.bytes() ?? 0) > 0, "int8 kernel not active (no WebAssembly memory)");

let queries = 0;
function compareSearches(label: string): void {
  const qrand = rng(1000 + queries);
  const live = [...records.values()];
  for (let i = 0; i < 12; i++) {
    // half near an enrolled face (a clear winner), half random (close scores, the hard case for int8)
    const query = i % 2 === 0 ? near(qrand, live[Math.floor(qrand() * live.length)].embedding, 0.6) : randomUnit(qrand, DIM);
    for (const [k, minScore] of [[1, -Infinity], [5, -Infinity], [10, 0.05]] as const) {
      queries++;
      const got = gallery.search("acme", query, { k, minScore, model: "fr-test@1" });
      const exact = exactGallery.search("acme", query, { k, minScore });
      const want = bruteForce(live, query, k, minScore);
      check("search", sameHits(got, want), `${label} query ${i} k=${k}: got ${hitsText(got)} want ${hitsText(want)}`);
      check("search", got.length === exact.length && got.every((h, j) => h.userId === exact[j].userId && h.faceId === exact[j].faceId && h.score === exact[j].score), `${label} query ${i} k=${k}: int8 ≠ exact JS kernel`);
    }
  }
  // an enrolled face finds itself with score 1
  const self = live[live.length >> 1];
  const hit = gallery.search("acme", self.embedding, { k: 1 })[0];
  check("search", hit?.userId === self.userId && hit.faceId === self.faceId && Math.abs(hit.score - 1) < 1e-5, `${label}: an enrolled face did not find itself`);
}
compareSearches("replayed");

// live writes through the store: deletes (swap-with-last in the kernel), a new user, a cascade
{
  const live = [...records.values()];
  const drand = rng(99);
  for (let i = 0; i < 200; i++) {
    const f = live[Math.floor(drand() * live.length)];
    if (!records.delete(`${f.userId}/${f.faceId}`)) continue;
    await store.deleteFace("acme", f.userId, f.faceId);
  }
  const victim = live[0].userId;
  const del = await store.deleteUser("acme", victim);
  for (const [key, f] of records) if (f.userId === victim) records.delete(key);
  const added: FaceRecord = { companyId: "acme", userId: "newcomer", faceId: "n1", embedding: randomUnit(drand, DIM), model: "fr-test@1" };
  await store.createUser("acme", "newcomer");
  const write = await store.addFace(added);
  records.set("newcomer/n1", added);
  await gallery.waitForRevision(write.revision, 1000);
  check("store", del.deleted && !gallery.hasUser("acme", victim), "deleted user still in the gallery");
  check("store", gallery.hasFace("acme", "newcomer", "n1") && gallery.revision === write.revision, "live write not applied");
  check("store", gallery.stats().perCompany.acme?.faces === records.size, `gallery has ${gallery.stats().perCompany.acme?.faces} faces, expected ${records.size}`);
  const newcomer = gallery.search("acme", added.embedding, { k: 1 })[0];
  check("store", newcomer?.userId === "newcomer", "new face not found by search");
}
compareSearches("after live writes");

// a late subscriber's replay rebuilds the same gallery
{
  const late = new Gallery({ onWarning: () => {} });
  const stop = await store.watch((e) => late.apply(e));
  stop();
  const a = late.export();
  const b = gallery.export();
  check(
    "store",
    a.faces.length === b.faces.length && a.faces.every((f, i) => f.faceId === b.faces[i].faceId && f.embedding.every((x, j) => x === b.faces[i].embedding[j])),
    "a late replay differs from the live-fed gallery",
  );
}

// ---------------------------------------------------------------- MODEL_MISMATCH

{
  const q = randomUnit(rand, DIM);
  const byModel = thrown(() => gallery.search("acme", q, { model: "other@1" }));
  check("model", FaceError.is(byModel, "MODEL_MISMATCH") && byModel.status === 409, `search with another model: ${String(byModel)}`);
  const byDim = thrown(() => gallery.search("acme", q.subarray(0, 128)));
  check("model", FaceError.is(byDim, "MODEL_MISMATCH"), `search with another dimension: ${String(byDim)}`);
  const byCheck = thrown(() => gallery.checkModel("tiny", "fr-test@1", DIM));
  check("model", FaceError.is(byCheck, "MODEL_MISMATCH"), "checkModel accepted a different model");
  // a face of another model arriving through the store is skipped with a warning, never thrown
  const before = gallery.skipped;
  await store.addFace({ companyId: "acme", userId: "user-0001", faceId: "foreign", embedding: randomUnit(rand, DIM), model: "other@1" });
  check("model", gallery.skipped === before + 1 && !gallery.hasFace("acme", "user-0001", "foreign"), "foreign-model face was applied");
  check("model", warnings.some((w) => w.includes("foreign") || w.includes("other@1")), `no warning for the foreign face: ${JSON.stringify(warnings)}`);
}

stopWatch();
store.close();
{
  const closed = await store.createCompany("late").then(
    () => undefined,
    (e: unknown) => e,
  );
  check("store", FaceError.is(closed, "UNAVAILABLE"), "closed store accepted a write");
}

// ---------------------------------------------------------------- initial data

{
  const e1 = Array.from(randomUnit(rand, 8));
  // Python's json writes NaN as a bare token; an embedding without a face entry is loaded with a warning
  const text = `{
    "format": "facegate-initial-data", "version": 1, "model": "fr-test@1",
    "companies": [{"company_id": "acme"}, 7],
    "users": [{"company_id": "acme", "user_id": "u1"}, {"company_id": "nowhere", "user_id": "u2"}],
    "faces": [{"company_id": "acme", "user_id": "u1", "face_id": "f1"}],
    "embeddings": [
      {"company_id": "acme", "user_id": "u1", "face_id": "f1", "embedding": ${JSON.stringify(e1.map((x) => x * 3))}},
      {"company_id": "acme", "user_id": "u1", "face_id": "f2", "embedding": ${JSON.stringify(e1.map((x, i) => (i === 0 ? -x : x)))}},
      {"company_id": "acme", "user_id": "u1", "face_id": "f3", "embedding": [NaN, 1, 0, 0, 0, 0, 0, 0]}
    ]
  }`;
  const report = parseInitialDataText(text, { engineModel: "fr-test@1" });
  const { loaded } = report.stats;
  check("initial-data", report.errors.length === 0 && report.dim === 8 && report.model === "fr-test@1", `report: ${JSON.stringify({ errors: report.errors, dim: report.dim, model: report.model })}`);
  check("initial-data", loaded.companies === 2 && loaded.users === 1 && loaded.faces === 2, `loaded ${JSON.stringify(loaded)}`);
  check("initial-data", report.warnings.some((w) => w.includes("unknown company")), "no warning for the user of an unknown company");
  check("initial-data", report.warnings.some((w) => w.includes("without a face entry")), "no warning for the embedding without a face entry");
  check("initial-data", report.warnings.some((w) => w.includes("non-finite")), "no warning for the NaN embedding");
  const norm = Math.hypot(...report.data.faces[0].embedding);
  check("initial-data", Math.abs(norm - 1) < 1e-5, `loaded embedding not normalised (|e| = ${norm})`);
  const bad = parseInitialDataText("{ not json");
  check("initial-data", bad.errors.length === 1 && bad.data.faces.length === 0, "invalid JSON not reported as an error");
  // the report loads into a store and is searchable
  const s = new MemoryGalleryStore();
  const g = new Gallery({ score: "max", onWarning: () => {} });
  await s.watch((e) => g.apply(e));
  await s.bulkLoad(report.data);
  const hit = g.search("acme", Float32Array.from(e1), { k: 1, model: "fr-test@1" })[0];
  check("initial-data", hit?.userId === "u1" && hit.faceId === "f1" && Math.abs(hit.score - 1) < 1e-5, `initial data search: ${JSON.stringify(hit)}`);
  s.close();
}

gallery.clear();
exactGallery.clear();

const result = {
  ok: failures.length === 0,
  runtime: runtime(),
  wasmSimd: simd !== null,
  kernel: kernelName,
  faces: FACES,
  dim: DIM,
  queries,
  checks,
  failures: failures.slice(0, 20),
};
console.log(JSON.stringify(result));
if (!result.ok) throw new Error(`core smoke test failed: ${failures.length} check(s)`);
