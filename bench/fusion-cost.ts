#!/usr/bin/env bun
/**
 * What fusion costs, measured through the service: fr_feature alone and the fused recognizers
 * (FACE_EMBEDDERS=fr_feature,mobilefacenet), two services in one process (engine on the calling thread),
 * alternating item by item (and which goes first), so the machine's load hits both alike.
 *
 *   bun bench/fusion-cost.ts [--photos 300] [--rounds 3] [--json OUT]
 *
 * - per photo: recognizeFaces of an LFW dev photo (decode, detect, landmarks, embed every face, search);
 * - per kiosk frame: what a kiosk frame costs the server (bench:kiosk's frames: Hamilton 20-39
 *   cover-cropped to 640x480, JPEG q80; recognizeFaces with returnEmbeddings, as a kiosk session asks).
 * Reports the median wall and CPU time (process CPU, all threads) per call of each configuration, their
 * ratio, and the second model's own cost per face (the difference of the medians).
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { MemoryGalleryStore } from "../lib/core/mod.ts";
import { LocalFaceService } from "../lib/service/mod.ts";
import { quantile } from "./lfw-metrics.ts";

const DATASETS = resolve(import.meta.dir, "..", process.env.FACEGATE_DATASETS ?? "../shared/datasets");
const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { photos: { type: "string", default: "300" }, rounds: { type: "string", default: "3" }, json: { type: "string" } },
  strict: true,
});
const photoCount = Number(values.photos);
const rounds = Number(values.rounds);

const CONFIGS = ["fr_feature", "fr_feature,mobilefacenet"] as const;
const services = await Promise.all(
  CONFIGS.map((c) =>
    LocalFaceService.create({ env: { ...process.env, FACE_EMBEDDERS: c, FACE_ENGINE_WORKERS: "0", STORE: "memory", DATA_SOURCE: "NONE" }, store: new MemoryGalleryStore(), log: () => {} }),
  ),
);
const portrait = new Uint8Array(readFileSync(join(DATASETS, "labelled/face_recognition/lin_manuel_miranda/lin-manuel-miranda.png")));
for (const s of services) {
  await s.createCompany({ companyId: "bench" });
  await s.createUser({ companyId: "bench", userId: "performer", faceId: "portrait", image: portrait });
}

const lfw = join(DATASETS, "lfw-dev/images");
const photos = readdirSync(lfw)
  .sort()
  .flatMap((p) => readdirSync(join(lfw, p)).filter((f) => f.endsWith(".jpg")).map((f) => join(lfw, p, f)))
  .filter((_, i) => i % 7 === 0)
  .slice(0, photoCount)
  .map((f) => new Uint8Array(readFileSync(f)));
const frames: Uint8Array[] = [];
for (let n = 20; n <= 39; n++) {
  const src = readFileSync(join(DATASETS, "video/frames_hamilton", `frame_${String(n).padStart(4, "0")}.jpg`));
  frames.push(new Uint8Array(await sharp(src).resize(640, 480, { fit: "cover" }).jpeg({ quality: 80 }).toBuffer()));
}

type Sample = { wall: number; cpu: number; faces: number };
const samples: Record<string, Record<(typeof CONFIGS)[number], Sample[]>> = {
  photo: { fr_feature: [], "fr_feature,mobilefacenet": [] },
  frame: { fr_feature: [], "fr_feature,mobilefacenet": [] },
};

async function time(kind: "photo" | "frame", i: number, image: Uint8Array): Promise<void> {
  const order = i % 2 === 0 ? [0, 1] : [1, 0];
  for (const k of order) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await services[k].recognizeFaces({ companyId: "bench", image, returnEmbeddings: kind === "frame" });
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    samples[kind][CONFIGS[k]].push({ wall, cpu: (c.user + c.system) / 1000, faces: r.faces.length });
  }
}

// warm-up
for (let i = 0; i < 3; i++) {
  await time("photo", i, photos[i]);
  await time("frame", i, frames[i]);
}
for (const kind of ["photo", "frame"] as const) for (const c of CONFIGS) samples[kind][c].length = 0;
const load0 = loadavg();
for (let r = 0; r < rounds; r++) {
  for (const [i, p] of photos.entries()) await time("photo", i, p);
  for (const [i, f] of frames.entries()) await time("frame", i, f);
}
const load1 = loadavg();
for (const s of services) await s.close();

const med = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
const r2 = (x: number) => Math.round(x * 100) / 100;
const result: Record<string, unknown> = {};
console.log(`\nfusion cost through LocalFaceService, engine on the calling thread; ${photos.length} LFW photos and ${frames.length} kiosk frames, ${rounds} rounds`);
console.log(`load average ${load0.map((l) => l.toFixed(1)).join(" ")} → ${load1.map((l) => l.toFixed(1)).join(" ")} (${cpus().length} cores)\n`);
console.log("| per call, median | fr_feature wall | fused wall | ratio | fr_feature CPU | fused CPU | ratio | second model per face (CPU) |");
console.log("|---|---|---|---|---|---|---|---|");
for (const kind of ["photo", "frame"] as const) {
  const a = samples[kind].fr_feature;
  const b = samples[kind]["fr_feature,mobilefacenet"];
  const faces = med(b.map((s) => s.faces)) || 1;
  const row = {
    calls: a.length,
    facesPerCall: faces,
    wall: [r2(med(a.map((s) => s.wall))), r2(med(b.map((s) => s.wall)))],
    cpu: [r2(med(a.map((s) => s.cpu))), r2(med(b.map((s) => s.cpu)))],
  };
  const secondPerFace = r2((row.cpu[1] - row.cpu[0]) / faces);
  result[kind] = { ...row, wallRatio: r2(row.wall[1] / row.wall[0]), cpuRatio: r2(row.cpu[1] / row.cpu[0]), secondModelPerFaceCpu: secondPerFace };
  console.log(
    `| ${kind === "photo" ? "LFW photo" : "kiosk frame 640x480"} | ${row.wall[0]} ms | ${row.wall[1]} ms | ${r2(row.wall[1] / row.wall[0])} | ${row.cpu[0]} ms | ${row.cpu[1]} ms | ${r2(row.cpu[1] / row.cpu[0])} | ${secondPerFace} ms |`,
  );
}
if (values.json) writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), loadavg: [load0, load1], cpus: cpus().length, rounds, ...result }, null, 1)}\n`);
