#!/usr/bin/env bun
/**
 * LFW verification benchmark.
 *
 *   bun run bench:lfw -- --pairs FILE --images DIR [--engine onnx|human] [--json OUT] [--scores OUT]
 *                        [--pick first|center] [--profile] [--limit N]
 *
 * Embeds every image the pairs file references (one face per image: by default the face nearest the
 * image centre, as the LFW protocol labels it; --pick first takes the engine's preferred face, which
 * some background faces beat), scores pairs by cosine similarity and
 * prints 10-fold accuracy, AUC, TAR@FAR, EER, failures to detect and ms per image (decode + detect
 * + embed of one face, one image at a time). --profile adds the median per pipeline stage (decode,
 * detector resize / run / post-processing, each landmark pass, align, recognizer run) and "js", the
 * rest of the time (the JS between stages: face order, coordinates, tensors, promises).
 */
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { createEngine, decodeImage, recordStages, STAGES, type Stage } from "../lib/engine/mod.ts";
import type { DetectedFace } from "../lib/core/mod.ts";
import { auc, eer, parsePairs, quantile, tarAtFar, tenFoldAccuracy, type Scored } from "./lfw-metrics.ts";

const ArgsSchema = z.object({
  pairs: z.string({ error: "--pairs FILE is required" }).min(1),
  images: z.string({ error: "--images DIR is required" }).min(1),
  engine: z.enum(["onnx", "human"]).default("onnx"),
  json: z.string().optional(),
  scores: z.string().optional(),
  pick: z.enum(["first", "center"]).default("center"),
  profile: z.boolean().default(false),
  limit: z.coerce.number().int().positive().optional(),
});

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    pairs: { type: "string" },
    images: { type: "string" },
    engine: { type: "string" },
    json: { type: "string" },
    scores: { type: "string" },
    pick: { type: "string" },
    profile: { type: "boolean" },
    limit: { type: "string" },
  },
  strict: true,
});
const parsed = ArgsSchema.safeParse(values);
if (!parsed.success) {
  console.error(parsed.error.issues.map((i) => i.message).join("\n"));
  console.error("usage: bun run bench:lfw -- --pairs FILE --images DIR [--engine onnx|human] [--json OUT] [--scores OUT] [--pick first|center] [--profile] [--limit N]");
  process.exit(2);
}
const args = parsed.data;

const pairs = parsePairs(readFileSync(args.pairs, "utf8"));
const allFiles = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
// --limit: a timing smoke run on the first N images (accuracy then counts only pairs with both).
const files = args.limit ? allFiles.slice(0, args.limit) : allFiles;

const engine = await createEngine({ engine: args.engine });
const info = engine.info();

const tty = process.stderr.isTTY === true;
let lastTenth = -1;
function progress(done: number, total: number, started: number): void {
  // Not a terminal: one line per 10 % instead of carriage-return redraws.
  const tenth = Math.floor((done / total) * 10);
  if (!tty && tenth === lastTenth && done !== total) return;
  lastTenth = tenth;
  const width = 30;
  const filled = Math.round((done / total) * width);
  const rate = done / ((performance.now() - started) / 1000);
  const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
  const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} images  ${rate.toFixed(1)}/s  eta ${eta}s `;
  process.stderr.write(tty ? `\r${bar}${done === total ? "\n" : ""}` : `${bar}\n`);
}

function pickFace(faces: DetectedFace[], width: number, height: number): DetectedFace | undefined {
  if (args.pick === "first" || faces.length < 2) return faces[0];
  const d = (f: DetectedFace) => Math.hypot(f.bbox[0] + f.bbox[2] / 2 - width / 2, f.bbox[1] + f.bbox[3] / 2 - height / 2);
  return [...faces].sort((a, b) => d(a) - d(b))[0];
}

// Warm-up (first runs allocate and JIT), not timed.
{
  const bytes = readFileSync(join(args.images, files[0]));
  for (let i = 0; i < 3; i++) await engine.analyze(new Uint8Array(bytes), { maxFaces: 1 });
}

const embeddings = new Map<string, Float32Array | null>();
const ms: number[] = [];
// --profile: per image, the time of each stage (summed over faces and passes).
const stageMs = new Map<Stage | "js", number[]>([...STAGES, "js" as const].map((s) => [s, []]));
const current = new Map<Stage, number>();
if (args.profile) recordStages((stage, t) => current.set(stage, (current.get(stage) ?? 0) + t));
const started = performance.now();
for (let i = 0; i < files.length; i++) {
  const bytes = new Uint8Array(readFileSync(join(args.images, files[i])));
  current.clear();
  const t0 = performance.now();
  const img = await decodeImage(bytes);
  const faces = await engine.detect(img);
  const face = pickFace(faces, img.originalWidth, img.originalHeight);
  const emb = face ? await engine.embed(img, face) : null;
  const total = performance.now() - t0;
  ms.push(total);
  if (args.profile) {
    let staged = 0;
    for (const s of STAGES) {
      const v = current.get(s) ?? 0;
      staged += v;
      stageMs.get(s)!.push(v);
    }
    stageMs.get("js")!.push(total - staged);
  }
  embeddings.set(files[i], emb);
  if (i % 10 === 9 || i === files.length - 1) progress(i + 1, files.length, started);
}
recordStages(undefined);
await engine.dispose();

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const scored: Scored[] = pairs.filter((p) => embeddings.has(p.a) && embeddings.has(p.b)).map((p) => {
  const a = embeddings.get(p.a);
  const b = embeddings.get(p.b);
  return { same: p.same, fold: p.fold, score: a && b ? dot(a, b) : null };
});

const acc = tenFoldAccuracy(scored);
ms.sort((a, b) => a - b);
const result = {
  accuracy: { mean: acc.mean, std: acc.std },
  auc: auc(scored),
  tarAtFar: { "1e-2": tarAtFar(scored, 1e-2).tar, "1e-3": tarAtFar(scored, 1e-3).tar },
  eer: eer(scored),
  noFace: scored.filter((s) => s.score === null).length,
  msPerImage: { median: quantile(ms, 0.5), p95: quantile(ms, 0.95) },
  ...(args.profile ? { stageMedianMs: Object.fromEntries([...stageMs].map(([k, v]) => [k, quantile(v.sort((a, b) => a - b), 0.5)])) } : {}),
  images: files.length,
  engine: info,
};

const pct = (v: number) => `${(v * 100).toFixed(2)} %`;
const rows: [string, string][] = [
  ["engine", `${info.engine} (${info.backend}, ${info.modelId})`],
  ["pairs", `${pairs.length} (${pairs.filter((p) => p.same).length} same), ${files.length} images, pick=${args.pick}`],
  ["10-fold accuracy", `${pct(result.accuracy.mean)} ± ${pct(result.accuracy.std)}`],
  ["AUC", result.auc.toFixed(5)],
  ["TAR @ FAR 1e-2", pct(result.tarAtFar["1e-2"])],
  ["TAR @ FAR 1e-3", pct(result.tarAtFar["1e-3"])],
  ["EER", `${pct(result.eer.rate)} at cosine ${result.eer.threshold.toFixed(3)}`],
  ["pairs without a face", String(result.noFace)],
  ["ms per image", `median ${result.msPerImage.median.toFixed(1)}, p95 ${result.msPerImage.p95.toFixed(1)}`],
];
if (result.stageMedianMs) {
  const stages = Object.entries(result.stageMedianMs).map(([k, v]) => `${k} ${v.toFixed(2)}`);
  rows.push(["stage medians, ms", stages.join(", ")]);
}
const w = Math.max(...rows.map((r) => r[0].length));
console.log(`| ${"metric".padEnd(w)} | value |\n|${"-".repeat(w + 2)}|-------|`);
for (const [k, v] of rows) console.log(`| ${k.padEnd(w)} | ${v} |`);

const write = (path: string, text: string) => {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
};
if (args.json) write(args.json, `${JSON.stringify(result, null, 2)}\n`);
if (args.scores) write(args.scores, scored.map((s) => `${s.same ? 1 : 0} ${s.score === null ? "null" : s.score.toFixed(6)}`).join("\n") + "\n");
