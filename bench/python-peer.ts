#!/usr/bin/env bun
/**
 * Side-by-side table of the Python peer pipeline (../shared/peers/python-ort) and facegate's
 * bench:lfw, from the JSON (and scores) files that bench/python-peer.sh wrote for each round.
 *
 *   bun bench/python-peer.ts --pairs FILE --dir DIR --rounds N [--json OUT]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { parsePairs, tenFoldAccuracy, type Scored } from "./lfw-metrics.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { pairs: { type: "string" }, dir: { type: "string" }, rounds: { type: "string" }, json: { type: "string" } },
  strict: true,
});
const args = z
  .object({ pairs: z.string().min(1), dir: z.string().min(1), rounds: z.coerce.number().int().positive(), json: z.string().optional() })
  .parse(values);

const Run = z.object({ msPerImage: z.object({ median: z.number(), p95: z.number() }), stageMedianMs: z.record(z.string(), z.number()).optional() });
const Facegate = Run.extend({ accuracy: z.object({ mean: z.number() }) });
const pairs = parsePairs(readFileSync(args.pairs, "utf8"));

/** 10-fold accuracy of the Python scores file ("1 0.53" / "0 null" per pair, in pairs order). */
function pythonAccuracy(path: string): number | null {
  if (!existsSync(path)) return null;
  const lines = readFileSync(path, "utf8").trim().split("\n");
  if (lines.length !== pairs.length) return null;
  const scored: Scored[] = lines.map((l, i) => {
    const v = l.split(" ")[1];
    return { same: pairs[i].same, fold: pairs[i].fold, score: v === "null" ? null : Number(v) };
  });
  return tenFoldAccuracy(scored).mean;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const rows: { round: number; python: number; facegate: number; pyAcc: number | null; fgAcc: number }[] = [];
let pyStages: Record<string, number> | undefined;
let fgStages: Record<string, number> | undefined;
for (let r = 1; r <= args.rounds; r++) {
  const py = Run.parse(JSON.parse(readFileSync(join(args.dir, `python-${r}.json`), "utf8")));
  const fg = Facegate.parse(JSON.parse(readFileSync(join(args.dir, `facegate-${r}.json`), "utf8")));
  rows.push({ round: r, python: py.msPerImage.median, facegate: fg.msPerImage.median, pyAcc: pythonAccuracy(join(args.dir, `python-${r}-scores.txt`)), fgAcc: fg.accuracy.mean });
  pyStages = py.stageMedianMs;
  fgStages = fg.stageMedianMs ?? fgStages;
}

const pct = (v: number | null) => (v === null ? "-" : `${(v * 100).toFixed(2)} %`);
console.log("\n| round | python ms/photo (median) | facegate ms/photo (median) | facegate / python | python accuracy | facegate accuracy |");
console.log("|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(`| ${r.round} | ${r.python.toFixed(2)} | ${r.facegate.toFixed(2)} | ${(r.facegate / r.python).toFixed(3)} | ${pct(r.pyAcc)} | ${pct(r.fgAcc)} |`);
}
const py = median(rows.map((r) => r.python));
const fg = median(rows.map((r) => r.facegate));
console.log(`| median | ${py.toFixed(2)} | ${fg.toFixed(2)} | ${(fg / py).toFixed(3)} | | |`);
const fmt = (s?: Record<string, number>) => (s ? Object.entries(s).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ") : "-");
console.log(`\nstage medians (last round), ms\n  python:   ${fmt(pyStages)}\n  facegate: ${fmt(fgStages)}`);
console.log(`\nfacegate ${fg <= py ? "<=" : ">"} python per photo (${fg.toFixed(2)} vs ${py.toFixed(2)} ms); facegate accuracy ${pct(rows.at(-1)!.fgAcc)}`);
if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, `${JSON.stringify({ rounds: rows, medianMs: { python: py, facegate: fg }, ratio: fg / py, stages: { python: pyStages, facegate: fgStages } }, null, 2)}\n`);
}
