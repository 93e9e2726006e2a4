/**
 * Enrollment throughput with the real engine on the labelled photos (create_user / add_face through
 * LocalFaceService), and the SQLite write cost on its own.
 *
 *   bun run bench:enroll [-- --rounds 2 --json bench/results/enroll.json]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { type GalleryStore, MemoryGalleryStore } from "../lib/core/internal.ts";
import { createEngine } from "../lib/engine/mod.ts";
import { LocalFaceService, SqliteGalleryStore } from "../lib/service/mod.ts";
import { HAVE_DATASETS, listDataset, readDataset } from "../test/helpers/datasets.ts";
import { randomUnit, rng } from "../test/helpers/vectors.ts";

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const rounds = Number(opt("rounds", "2"));
const jsonOut = args.includes("--json") ? opt("json", "bench/results/enroll.json") : null;
if (!HAVE_DATASETS) {
  console.error("bench:enroll needs the shared datasets (labelled/)");
  process.exit(2);
}

const images: Array<{ who: string; file: string; bytes: Uint8Array }> = [];
for (const set of ["bbt", "face_recognition"]) {
  for (const who of listDataset("labelled", set)) {
    for (const file of listDataset("labelled", set, who)) images.push({ who: `${set}/${who}`, file, bytes: readDataset("labelled", set, who, file) });
  }
}
const dir = mkdtempSync(join(tmpdir(), "facegate-bench-enroll-"));
const engine = await createEngine();
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
const results: Record<string, unknown>[] = [];

async function enrollAll(store: GalleryStore, label: string, concurrency: number): Promise<void> {
  const service = await LocalFaceService.create({ engine, store, log: () => {} });
  await service.createCompany({ companyId: "bench" });
  let ok = 0;
  let failed = 0;
  const times: number[] = [];
  const t0 = performance.now();
  let next = 0;
  const total = images.length * rounds;
  const workers = Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      const img = images[i % images.length];
      const t = performance.now();
      try {
        // first photo of a person creates the user, the others add faces; rounds repeat with new ids
        const userId = `${img.who}#${Math.floor(i / images.length)}`;
        const req = { companyId: "bench", userId, faceId: `${img.file}-${i}`, image: img.bytes };
        if (service.gallery.hasUser("bench", userId)) await service.addFace(req);
        else {
          // two photos of one person in flight at once: the loser of create_user adds a face instead
          await service.createUser(req).catch((e: { code?: string }) => {
            if (e.code === "USER_EXISTS") return service.addFace(req);
            throw e;
          });
        }
        ok++;
      } catch {
        failed++;
      }
      times.push(performance.now() - t);
    }
  });
  await Promise.all(workers);
  const seconds = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const row = {
    what: "enroll (engine + store + gallery)",
    store: label,
    concurrency,
    images: total,
    enrolled: ok,
    failed,
    facesPerSecond: round(ok / seconds),
    medianMs: round(times[Math.floor(times.length / 2)]),
    p99Ms: round(times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]),
  };
  results.push(row);
  console.log(`| enroll | ${label} | ${concurrency} | ${ok}/${total} | ${row.facesPerSecond} | ${row.medianMs} | ${row.p99Ms} |`);
  await service.close();
}

console.log(`machine: ${cpus().length} cores; engine ${engine.info().engine}/${engine.info().backend}; ${images.length} labelled photos x ${rounds} rounds\n`);
console.log("| what | store | concurrency | enrolled | faces/s | median ms | p99 ms |");
console.log("|---|---|---|---|---|---|---|");
await enrollAll(new MemoryGalleryStore(), "memory", 1);
await enrollAll(new SqliteGalleryStore({ path: join(dir, "a", "facegate.db") }), "sqlite FULL", 1);
await enrollAll(new SqliteGalleryStore({ path: join(dir, "b", "facegate.db") }), "sqlite FULL", 2);

// the store alone: one transaction per write (addFace of a 512-d embedding), and bulkLoad
for (const synchronous of ["FULL", "NORMAL"] as const) {
  const store = new SqliteGalleryStore({ path: join(dir, `w-${synchronous}`, "facegate.db"), synchronous });
  await store.createCompany("c");
  await store.createUser("c", "u");
  const rand = rng(1);
  const n = 2000;
  const faces = Array.from({ length: n }, (_, i) => ({ companyId: "c", userId: "u", faceId: `f${i}`, embedding: randomUnit(rand, 512), model: "m" }));
  const times: number[] = [];
  const t0 = performance.now();
  for (const f of faces) {
    const t = performance.now();
    await store.addFace(f);
    times.push(performance.now() - t);
  }
  const seconds = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const bulkFaces = Array.from({ length: 10_000 }, (_, i) => ({ companyId: "c", userId: "u", faceId: `b${i}`, embedding: randomUnit(rand, 512), model: "m" }));
  const tb = performance.now();
  await store.bulkLoad({ companies: [], users: [], faces: bulkFaces });
  const bulkMs = performance.now() - tb;
  const row = {
    what: "sqlite addFace (one transaction each)",
    store: `sqlite ${synchronous}`,
    writes: n,
    writesPerSecond: round(n / seconds),
    medianMs: round(times[Math.floor(n / 2)], 3),
    p99Ms: round(times[Math.floor(n * 0.99)], 3),
    bulkLoad10kFacesMs: round(bulkMs),
  };
  results.push(row);
  console.log(`| store write | sqlite ${synchronous} | 1 | ${n} | ${row.writesPerSecond} writes/s | ${row.medianMs} | ${row.p99Ms} | (bulkLoad 10k faces: ${row.bulkLoad10kFacesMs} ms)`);
  store.close();
}

await engine.dispose();
rmSync(dir, { recursive: true, force: true });
if (jsonOut) {
  writeFileSync(
    jsonOut,
    `${JSON.stringify({ command: `bun run bench:enroll -- ${args.join(" ")}`.trim(), date: new Date().toISOString(), cores: cpus().length, results }, null, 2)}\n`,
  );
  console.log(`\nwrote ${jsonOut}`);
}
