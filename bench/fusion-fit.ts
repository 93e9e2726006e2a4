#!/usr/bin/env bun
/**
 * Fits the score-level fusion weights of two recognizers on the calibration data (LFW dev, the images
 * `facegate calibrate` uses; the face nearest the centre of each photo).
 *
 *   bun bench/fusion-fit.ts [--images DIR] [--beta 1] [--json OUT]
 *
 * Each model's score is normalised by its impostor distribution (z-score: (s − μ)/σ over every pair of
 * photos of different people); the fused score is z₁ + β·z₂. Its ranking equals the cosine of the fused
 * vector `[√w·a, √(1−w)·b]` with w = (1/σ₁) / (1/σ₁ + β/σ₂) (lib/engine/onnx/fusion.ts), the weight this
 * prints for FUSION_WEIGHTS. β = 1 is the plain z-score sum (no tuning on the benchmark's data).
 * Also prints the impostor correlation of the two models and, for each β, the pairwise TAR at FAR 1e-3.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createEngine, decodeImage } from "../lib/engine/mod.ts";
import { partEmbedding } from "../lib/engine/internal.ts";
import { progressBar } from "../server/cli/enroll.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    images: { type: "string", default: join(process.env.FACEGATE_DATASETS ?? join(import.meta.dir, "../../shared/datasets"), "lfw-dev/images") },
    beta: { type: "string", default: "0.5,0.75,1" },
    json: { type: "string" },
  },
  strict: true,
});
const betas = values.beta!.split(",").map(Number);

const engine = await createEngine({ embedders: ["fr_feature", "mobilefacenet"], workers: 0 });
const info = engine.info();
const parts = info.parts!;
const people: { person: number; a: Float32Array; b: Float32Array }[] = [];
const dirs = readdirSync(values.images!).sort();
const files = dirs.flatMap((d, p) => readdirSync(join(values.images!, d)).filter((f) => f.endsWith(".jpg")).sort().map((f) => ({ p, file: join(values.images!, d, f) })));
const progress = progressBar("embed");
let done = 0;
for (const { p, file } of files) {
  const img = await decodeImage(new Uint8Array(readFileSync(file)));
  const faces = await engine.detect(img);
  const off = (f: { bbox: number[] }) => Math.hypot(f.bbox[0] + f.bbox[2] / 2 - img.originalWidth / 2, f.bbox[1] + f.bbox[3] / 2 - img.originalHeight / 2);
  const face = faces.length > 0 ? faces.reduce((x, y) => (off(y) < off(x) ? y : x)) : undefined;
  if (face) {
    const e = await engine.embed(img, face);
    people.push({ person: p, a: partEmbedding(parts[0], e)!, b: partEmbedding(parts[1], e)! });
  }
  progress({ done: ++done, total: files.length, user: dirs[p], file: "" });
}
await engine.dispose();

const dot = (x: Float32Array, y: Float32Array) => {
  let s = 0;
  for (let k = 0; k < x.length; k++) s += x[k] * y[k];
  return s;
};
const impA: number[] = [];
const impB: number[] = [];
const genA: number[] = [];
const genB: number[] = [];
const total = (people.length * (people.length - 1)) / 2;
const stride = Math.max(1, Math.ceil(total / 3_000_000));
let k = 0;
for (let i = 0; i < people.length; i++) {
  for (let j = i + 1; j < people.length; j++) {
    const same = people[i].person === people[j].person;
    if (!same && k++ % stride !== 0) continue;
    const sa = dot(people[i].a, people[j].a);
    const sb = dot(people[i].b, people[j].b);
    if (same) {
      genA.push(sa);
      genB.push(sb);
    } else {
      impA.push(sa);
      impB.push(sb);
    }
  }
}
const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
const sd = (x: number[], m = mean(x)) => Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / (x.length - 1));
const [muA, muB] = [mean(impA), mean(impB)];
const [sdA, sdB] = [sd(impA, muA), sd(impB, muB)];
let cov = 0;
for (let i = 0; i < impA.length; i++) cov += (impA[i] - muA) * (impB[i] - muB);
const corr = cov / (impA.length - 1) / (sdA * sdB);

/** TAR at FAR 1e-3 of a fused score w·a + (1−w)·b over these pairs. */
const tarAt = (w: number, far = 1e-3) => {
  const imp = impA.map((a, i) => w * a + (1 - w) * impB[i]).sort((x, y) => y - x);
  const t = imp[Math.floor(far * imp.length)];
  return genA.filter((a, i) => w * a + (1 - w) * genB[i] > t).length / genA.length;
};
const fits = betas.map((beta) => {
  const w = 1 / sdA / (1 / sdA + beta / sdB);
  return { beta, weight: Number(w.toFixed(4)), tarAtFar1e3: tarAt(w) };
});
const result = {
  date: new Date().toISOString(),
  loadavg: loadavg(),
  images: files.length,
  embedded: people.length,
  genuinePairs: genA.length,
  impostorPairs: impA.length,
  impostorStride: stride,
  models: parts.map((p) => p.modelId),
  impostor: { mean: [muA, muB], sd: [sdA, sdB], correlation: corr },
  tarAtFar1e3: { [parts[0].modelId]: tarAt(1), [parts[1].modelId]: tarAt(0) },
  fits,
};
console.log(JSON.stringify(result, null, 1));
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 1)}\n`);
