#!/usr/bin/env bun
/**
 * Experiment: is the second fr_landmark pass needed for every face? For each LFW image (face nearest
 * the centre) it embeds the face from the first pass's points and from the second's, and notes how
 * far the second pass moved the crop (as a fraction of the crop's width). Then, for each cut-off,
 * "second pass only when the move is at least the cut-off" is scored by 10-fold accuracy.
 *
 *   bun bench/lfw-landmark-pass.ts --pairs FILE [--pairs FILE2] --images DIR [--json OUT] [--limit N]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { modelPath } from "../models/manifest.ts";
import {
  createSession,
  decodeImage,
  Embedder,
  fivePoints,
  landmarkCrop,
  LandmarkModel,
  refinedCrop,
  UltraFaceDetector,
} from "../lib/engine/internal.ts";
import { parsePairs, tenFoldAccuracy, type Scored } from "./lfw-metrics.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { pairs: { type: "string", multiple: true }, images: { type: "string" }, json: { type: "string" }, limit: { type: "string" } },
  strict: true,
});
if (!values.pairs?.length || !values.images) {
  console.error("usage: bun bench/lfw-landmark-pass.ts --pairs FILE [--pairs FILE2] --images DIR [--json OUT]");
  process.exit(2);
}
const open = async (name: string) => (await createSession(modelPath(name), { threads: 1, provider: "cpu" })).session;
const detector = new UltraFaceDetector(await open("fr_detect"));
const landmarks = new LandmarkModel(await open("fr_landmark"));
const embedder = new Embedder(await open("fr_feature"), { mean: 127, std: 128 });

const sets = values.pairs.map((p) => ({ name: p.split("/").pop()!, pairs: parsePairs(readFileSync(p, "utf8")) }));
// --limit N: a smoke run on the pairs whose photos are among the first N (accuracy then on those pairs only).
const allFiles = [...new Set(sets.flatMap((s) => s.pairs.flatMap((p) => [p.a, p.b])))];
const files = values.limit ? allFiles.slice(0, Number(values.limit)) : allFiles;
if (values.limit) for (const s of sets) s.pairs = s.pairs.filter((p) => files.includes(p.a) && files.includes(p.b));
type Row = { shift: number; e1: Float32Array; e2: Float32Array; ms2: number } | null;
const rows = new Map<string, Row>();
let done = 0;
for (const f of files) {
  const img = await decodeImage(new Uint8Array(readFileSync(join(values.images, f))));
  const faces = (await detector.detect(img, 0.85, 0.3)).filter((c) => Math.min(c.x2 - c.x1, c.y2 - c.y1) * img.scale >= 40);
  if (faces.length === 0) {
    rows.set(f, null);
    continue;
  }
  const d = (c: (typeof faces)[0]) => Math.hypot((c.x1 + c.x2) / 2 - img.width / 2, (c.y1 + c.y2) / 2 - img.height / 2);
  const face = faces.sort((a, b) => d(a) - d(b))[0];
  const crop = landmarkCrop(face);
  const first = await landmarks.predict(img, crop);
  const t = performance.now();
  const refined = refinedCrop(crop, first);
  const second = await landmarks.predict(img, refined);
  const ms2 = performance.now() - t;
  const shift = Math.hypot(refined.x - crop.x, refined.y - crop.y) / crop.w;
  rows.set(f, { shift, e1: await embedder.embed(img, fivePoints(first)), e2: await embedder.embed(img, fivePoints(second)), ms2 });
  if (++done % 500 === 0) console.error(`${done}/${files.length}`);
}

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const shifts = [...rows.values()].filter((r): r is NonNullable<Row> => r !== null).map((r) => r.shift).sort((a, b) => a - b);
const cutoffs = [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1, Infinity];
const result: Record<string, { cutoff: number; secondPassShare: number; accuracy: Record<string, number> }[]> = { table: [] };
console.log(`\nshift of the second crop (fraction of the crop width): median ${shifts[shifts.length >> 1].toFixed(3)}, p90 ${shifts[Math.floor(shifts.length * 0.9)].toFixed(3)}`);
console.log(`\n| second pass when shift >= | share of faces with it | ${sets.map((s) => s.name).join(" | ")} |\n|---|---|${sets.map(() => "---|").join("")}`);
for (const c of cutoffs) {
  const share = shifts.filter((s) => s >= c).length / shifts.length;
  const emb = (f: string) => {
    const r = rows.get(f);
    return r ? (r.shift >= c ? r.e2 : r.e1) : null;
  };
  const accuracy: Record<string, number> = {};
  for (const s of sets) {
    const scored: Scored[] = s.pairs.map((p) => {
      const a = emb(p.a);
      const b = emb(p.b);
      return { same: p.same, fold: p.fold, score: a && b ? dot(a, b) : null };
    });
    accuracy[s.name] = tenFoldAccuracy(scored).mean;
  }
  result.table.push({ cutoff: c, secondPassShare: share, accuracy });
  console.log(`| ${c === Infinity ? "never" : c.toFixed(2)} | ${(share * 100).toFixed(1)} % | ${sets.map((s) => `${(accuracy[s.name] * 100).toFixed(2)} %`).join(" | ")} |`);
}
const ms2 = [...rows.values()].filter((r): r is NonNullable<Row> => r !== null).map((r) => r.ms2).sort((a, b) => a - b);
console.log(`\nsecond pass (crop + fr_landmark), median ${ms2[ms2.length >> 1].toFixed(3)} ms`);
if (values.json) {
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify({ ...result, secondPassMedianMs: ms2[ms2.length >> 1] }, null, 2)}\n`);
}
