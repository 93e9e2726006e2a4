#!/usr/bin/env bun
/**
 * Cosine operating points from `bench:lfw --scores` files (one `same score` line per pair):
 *
 *   bun bench/lfw-thresholds.ts FILE... [--thresholds 0.25,0.3,0.35,0.4,0.45,0.5]
 *
 * Prints, per threshold, TAR (genuine pairs accepted) and FAR (impostor pairs accepted, with counts),
 * plus the genuine/impostor score medians: the table behind FACE_RECOGNITION_THRESHOLD.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { quantile, thresholdTable, type Scored } from "./lfw-metrics.ts";

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  options: { thresholds: { type: "string" } },
  allowPositionals: true,
});
if (positionals.length === 0) {
  console.error("usage: bun bench/lfw-thresholds.ts SCORES_FILE... [--thresholds 0.3,0.35,0.4]");
  process.exit(2);
}
const thresholds = (values.thresholds ?? "0.2,0.25,0.3,0.35,0.4,0.45,0.5").split(",").map(Number);
if (thresholds.some((t) => !Number.isFinite(t))) throw new Error("--thresholds: numbers separated by commas");

const pairs: Scored[] = [];
for (const file of positionals) {
  for (const [i, line] of readFileSync(file, "utf8").split("\n").entries()) {
    if (!line.trim()) continue;
    const [same, score] = line.trim().split(/\s+/);
    if ((same !== "0" && same !== "1") || score === undefined) throw new Error(`${file}:${i + 1}: expected "0|1 score"`);
    pairs.push({ same: same === "1", score: score === "null" ? null : Number(score), fold: 0 });
  }
}
const gen = pairs.filter((p) => p.same && p.score !== null).map((p) => p.score as number).sort((a, b) => a - b);
const imp = pairs.filter((p) => !p.same && p.score !== null).map((p) => p.score as number).sort((a, b) => a - b);
console.log(`${pairs.length} pairs: genuine median ${quantile(gen, 0.5).toFixed(3)} (min ${gen[0].toFixed(3)}), impostor median ${quantile(imp, 0.5).toFixed(3)} (max ${imp[imp.length - 1].toFixed(3)})\n`);
console.log("| cosine threshold | TAR | FAR | false accepts |\n|---|---|---|---|");
for (const r of thresholdTable(pairs, thresholds)) {
  console.log(`| ${r.threshold.toFixed(2)} | ${(r.tar * 100).toFixed(2)} % | ${(r.far * 100).toFixed(2)} % | ${r.falseAccepts} / ${r.impostors} |`);
}
