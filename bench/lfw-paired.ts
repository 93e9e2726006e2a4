#!/usr/bin/env bun
/**
 * Before/after timing of the engine, paired per photo: the engine of another checkout (`--base`, e.g.
 * the commit before a change) and this one's run in one process, alternating photo by photo (and
 * which goes first), so a change in the machine's load hits both alike. Reports the median wall time
 * and the median CPU time (process CPU, all threads: sharp's pool included) per photo, their ratios,
 * the median per-photo ratio, and both engines' stage medians when both have `recordStages`.
 * The pipeline timed is bench:lfw's: decode + detect + embed of the face nearest the centre.
 *
 *   bun bench/lfw-paired.ts --base DIR [--pairs FILE] [--images DIR] [--limit N] [--json OUT]
 *   bash bench/lfw-before-after.sh [COMMIT]      (makes DIR from a commit, then runs this)
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import * as After from "../lib/engine/mod.ts";
import { parsePairs, quantile } from "./lfw-metrics.ts";

const D = process.env.FACEGATE_DATASETS ?? resolve(import.meta.dir, "../../shared/datasets");
const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { base: { type: "string" }, pairs: { type: "string" }, images: { type: "string" }, limit: { type: "string" }, json: { type: "string" } },
  strict: true,
});
const args = z
  .object({
    base: z.string({ error: "--base DIR (a checkout of the commit to compare with) is required" }).min(1),
    pairs: z.string().default(join(D, "lfw-dev/pairsDevTest.txt")),
    images: z.string().default(join(D, "lfw-dev/images")),
    limit: z.coerce.number().int().positive().optional(),
    json: z.string().optional(),
  })
  .parse(values);

type Engine = After.FaceEngine;
type Mod = Pick<typeof After, "createEngine" | "decodeImage"> & { recordStages?: typeof After.recordStages };
const Before = (await import(resolve(args.base, "lib/engine/mod.ts"))) as Mod;
const files = [...new Set(parsePairs(readFileSync(args.pairs, "utf8")).flatMap((p) => [p.a, p.b]))].slice(0, args.limit);

type Key = "before" | "after";
const cpu: Record<Key, number[]> = { before: [], after: [] };
const wall: Record<Key, number[]> = { before: [], after: [] };
const stages: Record<Key, Map<string, number[]>> = { before: new Map(), after: new Map() };
let current = new Map<string, number>();
const record = (s: string, t: number) => current.set(s, (current.get(s) ?? 0) + t);
Before.recordStages?.(record);
After.recordStages(record);

async function one(mod: Mod, engine: Engine, bytes: Uint8Array, key: Key): Promise<void> {
  current = new Map();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const img = await mod.decodeImage(bytes);
  const faces = await engine.detect(img);
  const d = (f: (typeof faces)[number]) =>
    Math.hypot(f.bbox[0] + f.bbox[2] / 2 - img.originalWidth / 2, f.bbox[1] + f.bbox[3] / 2 - img.originalHeight / 2);
  const face = [...faces].sort((x, y) => d(x) - d(y))[0];
  if (face) await engine.embed(img, face);
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  wall[key].push(ms);
  cpu[key].push((c.user + c.system) / 1000);
  let staged = 0;
  for (const [k, v] of current) {
    staged += v;
    if (!stages[key].has(k)) stages[key].set(k, []);
    stages[key].get(k)!.push(v);
  }
  if (current.size > 0) {
    if (!stages[key].has("js")) stages[key].set("js", []);
    stages[key].get("js")!.push(ms - staged);
  }
}

const engines = {
  before: await Before.createEngine({ engine: "onnx", workers: 0 }),
  after: await After.createEngine({ engine: "onnx", workers: 0 }),
};
const mods: Record<Key, Mod> = { before: Before, after: After };
const warm = new Uint8Array(readFileSync(join(args.images, files[0])));
for (let i = 0; i < 5; i++) for (const k of ["before", "after"] as const) await one(mods[k], engines[k], warm, k);
for (const k of ["before", "after"] as const) {
  cpu[k].length = 0;
  wall[k].length = 0;
  stages[k].clear();
}
const load0 = readFileSync("/proc/loadavg", "utf8").trim();
const perPhoto: number[] = [];
for (let i = 0; i < files.length; i++) {
  const bytes = new Uint8Array(readFileSync(join(args.images, files[i])));
  const order: Key[] = i % 2 === 0 ? ["before", "after"] : ["after", "before"];
  for (const k of order) await one(mods[k], engines[k], bytes, k);
  perPhoto.push(wall.after[i] / wall.before[i]);
  if (i % 200 === 199) console.error(`${i + 1}/${files.length}`);
}
await engines.before.dispose();
await engines.after.dispose();

const med = (v: number[]) => quantile([...v].sort((a, b) => a - b), 0.5);
const stageMedians = (k: Key) => Object.fromEntries([...stages[k]].map(([s, v]) => [s, Math.round(med(v) * 1000) / 1000]));
const result = {
  base: resolve(args.base),
  photos: files.length,
  load: { before: load0, after: readFileSync("/proc/loadavg", "utf8").trim() },
  wallMs: { before: med(wall.before), after: med(wall.after), ratio: med(wall.after) / med(wall.before) },
  cpuMs: { before: med(cpu.before), after: med(cpu.after), ratio: med(cpu.after) / med(cpu.before) },
  medianPerPhotoWallRatio: med(perPhoto),
  stageMedianMs: { before: stageMedians("before"), after: stageMedians("after") },
};
const f = (v: number) => v.toFixed(2);
console.log(`| per photo, median | before (${args.base}) | after | after / before |\n|---|---|---|---|`);
console.log(`| wall ms | ${f(result.wallMs.before)} | ${f(result.wallMs.after)} | ${result.wallMs.ratio.toFixed(3)} |`);
console.log(`| CPU ms | ${f(result.cpuMs.before)} | ${f(result.cpuMs.after)} | ${result.cpuMs.ratio.toFixed(3)} |`);
console.log(`| per-photo wall ratio | | | ${result.medianPerPhotoWallRatio.toFixed(3)} |`);
for (const k of ["before", "after"] as const) {
  const s = result.stageMedianMs[k];
  if (Object.keys(s).length) console.log(`stages ${k}: ${Object.entries(s).map(([n, v]) => `${n} ${v}`).join(", ")}`);
}
console.log(`load ${result.load.before} → ${result.load.after}`);
if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
}
