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

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** CPU ms per photo of a whole run (bash `time`: "user system" seconds), start-up included. */
function cpuPerPhoto(path: string, photos: number): number | null {
  if (!existsSync(path)) return null;
  const parts = readFileSync(path, "utf8").trim().split(/\s+/).slice(-2).map(Number);
  return parts.length === 2 && parts.every(Number.isFinite) ? ((parts[0] + parts[1]) * 1000) / photos : null;
}
const photos = new Set(pairs.flatMap((p) => [p.a, p.b])).size;
const rows: { round: number; python: number; facegate: number; pyCpu: number | null; fgCpu: number | null; pyAcc: number | null; fgAcc: number }[] = [];
let pyStages: Record<string, number> | undefined;
let fgStages: Record<string, number> | undefined;
for (let r = 1; r <= args.rounds; r++) {
  const py = Run.parse(JSON.parse(readFileSync(join(args.dir, `python-${r}.json`), "utf8")));
  const fg = Facegate.parse(JSON.parse(readFileSync(join(args.dir, `facegate-${r}.json`), "utf8")));
  rows.push({
    round: r,
    python: py.msPerImage.median,
    facegate: fg.msPerImage.median,
    pyCpu: cpuPerPhoto(join(args.dir, `python-${r}.cpu`), photos),
    fgCpu: cpuPerPhoto(join(args.dir, `facegate-${r}.cpu`), photos),
    pyAcc: pythonAccuracy(join(args.dir, `python-${r}-scores.txt`)), fgAcc: fg.accuracy.mean });
  pyStages = py.stageMedianMs;
  fgStages = fg.stageMedianMs ?? fgStages;
}

const pct = (v: number | null) => (v === null ? "-" : `${(v * 100).toFixed(2)} %`);
const c = (v: number | null) => (v === null ? "-" : v.toFixed(2));
console.log("\n| round | python ms/photo (median) | facegate ms/photo (median) | facegate / python | python CPU ms/photo | facegate CPU ms/photo | python accuracy | facegate accuracy |");
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  console.log(`| ${r.round} | ${r.python.toFixed(2)} | ${r.facegate.toFixed(2)} | ${(r.facegate / r.python).toFixed(3)} | ${c(r.pyCpu)} | ${c(r.fgCpu)} | ${pct(r.pyAcc)} | ${pct(r.fgAcc)} |`);
}
const py = median(rows.map((r) => r.python));
const fg = median(rows.map((r) => r.facegate));
const cpus = rows.every((r) => r.pyCpu !== null && r.fgCpu !== null);
const pyCpu = cpus ? median(rows.map((r) => r.pyCpu!)) : null;
const fgCpu = cpus ? median(rows.map((r) => r.fgCpu!)) : null;
console.log(`| median | ${py.toFixed(2)} | ${fg.toFixed(2)} | ${(fg / py).toFixed(3)} | ${c(pyCpu)} | ${c(fgCpu)} | | |`);
console.log("(CPU ms/photo: CPU time of the whole run, start-up and model loading included, over the photos)");
const fmt = (s?: Record<string, number>) => (s ? Object.entries(s).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ") : "-");
console.log(`\nstage medians (last round), ms\n  python:   ${fmt(pyStages)}\n  facegate: ${fmt(fgStages)}`);
console.log(`\nfacegate ${fg <= py ? "<=" : ">"} python per photo (${fg.toFixed(2)} vs ${py.toFixed(2)} ms); facegate accuracy ${pct(rows.at(-1)!.fgAcc)}`);
if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(
    args.json,
    `${JSON.stringify({ rounds: rows, medianMs: { python: py, facegate: fg }, ratio: fg / py, cpuMsPerPhoto: { python: pyCpu, facegate: fgCpu }, stages: { python: pyStages, facegate: fgStages } }, null, 2)}\n`,
  );
}
