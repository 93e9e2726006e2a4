#!/usr/bin/env bun
/**
 * ONNX Runtime session options per model, measured in the engine's real setting: one worker thread
 * per core, each with its own session, all running at once. Variants are interleaved round by round
 * so a change in the machine's load hits all of them alike.
 *
 *   bun run bench:ort-options -- [--rounds 6] [--runs 10] [--workers N] [--json bench/results/ort-options.json]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { modelPath } from "../models/manifest.ts";
import { quantile } from "./lfw-metrics.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { rounds: { type: "string" }, runs: { type: "string" }, workers: { type: "string" }, json: { type: "string" }, models: { type: "string" } },
  strict: true,
});
const args = z
  .object({
    rounds: z.coerce.number().int().positive().default(6),
    runs: z.coerce.number().int().positive().default(10),
    workers: z.coerce.number().int().positive().default(availableParallelism()),
    json: z.string().optional(),
    models: z.string().default("fr_detect,fr_landmark,fr_feature"),
  })
  .parse(values);

// `preluRewrite`: the engine's default, PRelu nodes as Mul + Max (lib/engine/prelu-rewrite.ts).
const base = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: "all" as const, preluRewrite: true };
const VARIANTS = {
  "all (default, NCHWc on)": base,
  "PRelu nodes as they are": { ...base, preluRewrite: false },
  "all, NCHWc off": { ...base, extra: { optimization: { disable_specified_optimizers: "NchwcTransformer" } } },
  extended: { ...base, graphOptimizationLevel: "extended" as const },
  basic: { ...base, graphOptimizationLevel: "basic" as const },
  "no CPU memory arena": { ...base, enableCpuMemArena: false },
  "no memory pattern": { ...base, enableMemPattern: false },
  "denormals as zero": { ...base, extra: { session: { set_denormal_as_zero: "1" } } },
  "saved optimised model": { ...base, saveOptimized: true },
  // Last: their thread pools keep spinning after a run and would slow the variant measured next.
  "parallel execution mode": { ...base, executionMode: "parallel" as const, interOpNumThreads: 2 },
  "2 intra-op threads": { ...base, intraOpNumThreads: 2 },
};

const results: Record<string, Record<string, { median: number; p90: number; loadMs: number }>> = {};
for (const model of args.models.split(",")) {
  const workers = Array.from({ length: args.workers }, () => new Worker(new URL("./ort-options-worker.ts", import.meta.url).href));
  const ask = (w: Worker, msg: unknown) =>
    new Promise<{ ms?: number[]; loadMs?: Record<string, number> }>((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.postMessage(msg);
    });
  const loads = await Promise.all(workers.map((w) => ask(w, { op: "init", model: modelPath(model), variants: VARIANTS })));
  const times = new Map<string, number[]>(Object.keys(VARIANTS).map((k) => [k, []]));
  for (let r = 0; r < args.rounds; r++) {
    for (const v of Object.keys(VARIANTS)) {
      await Bun.sleep(20); // lets a previous variant's spinning thread pool go idle
      const answers = await Promise.all(workers.map((w) => ask(w, { op: "run", variant: v, runs: args.runs })));
      for (const a of answers) times.get(v)!.push(...a.ms!);
    }
  }
  for (const w of workers) w.terminate();
  results[model] = {};
  for (const [v, t] of times) {
    t.sort((a, b) => a - b);
    results[model][v] = { median: quantile(t, 0.5), p90: quantile(t, 0.9), loadMs: loads[0].loadMs![v] };
  }
  const def = results[model]["all (default, NCHWc on)"].median;
  console.log(`\n${model}: ${args.workers} workers at once, ${args.rounds} x ${args.runs} runs each per variant`);
  console.log("| variant | median ms | p90 ms | vs default | session load ms |\n|---|---|---|---|---|");
  for (const [v, r] of Object.entries(results[model])) {
    console.log(`| ${v} | ${r.median.toFixed(2)} | ${r.p90.toFixed(2)} | ${(r.median / def).toFixed(2)}x | ${r.loadMs.toFixed(0)} |`);
  }
}
if (args.json) {
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, `${JSON.stringify({ workers: args.workers, rounds: args.rounds, runs: args.runs, load: (await Bun.file("/proc/loadavg").text()).trim(), results }, null, 2)}\n`);
}
